#!/usr/bin/env bash
# Benchmark "Serial e-mail": 2,000 personalised e-mails into a real SMTP sink,
# ours (serial_correspondence through queue_job) next to Odoo 18's mass_mailing
# and a plain smtplib loop.
# Usage: bench/run-bench-send.sh [--contacts N] [--keep] [--only ours,mass_mailing,plain]
#        [--mass-mailing-mode queue|force_send] [--profile DIR] ...
# (all options: bench/run-bench-send.sh --help)
source "$(dirname "$0")/../scripts/lib.sh"

find_odoo
start_postgresql
install_python_packages

"$PY" -c 'import psutil' 2>/dev/null || "$PY" -m pip install -q psutil
if [[ " $* " == *" --profile"* ]] && ! command -v py-spy >/dev/null 2>&1; then
    "$PY" -m pip install -q py-spy
fi
mkdir -p "$REPO_ROOT/var"
exec "$PY" "$REPO_ROOT/bench/bench_send.py" \
    --odoo-dir "$ODOO_DIR" --addons-path "$(addons_path)" "$@"
