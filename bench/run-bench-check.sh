#!/usr/bin/env bash
# Benchmark "Check recipients": 100,000 recipients of a serial e-mail checked
# (who will be excluded, and why) through a real Odoo server, next to a naive
# one-recipient-at-a-time reference.
# Usage: bench/run-bench-check.sh [--contacts N] [--reference N] [--keep] ...
# (all options: bench/run-bench-check.sh --help)
source "$(dirname "$0")/../scripts/lib.sh"

find_odoo
start_postgresql
install_python_packages

"$PY" -c 'import psutil' 2>/dev/null || "$PY" -m pip install -q psutil
mkdir -p "$REPO_ROOT/var"
exec "$PY" "$REPO_ROOT/bench/bench_check.py" \
    --odoo-dir "$ODOO_DIR" --addons-path "$(addons_path)" "$@"
