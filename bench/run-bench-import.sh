#!/usr/bin/env bash
# Benchmark "Foundation": 100,000 contacts read in as recipients, through a real
# Odoo server with queue_job's runner, next to a naive one-create() reference.
# Usage: bench/run-bench-import.sh [--contacts N] [--keep] [--no-reference] ...
# (all options: bench/run-bench-import.sh --help)
source "$(dirname "$0")/../scripts/lib.sh"

find_odoo
start_postgresql
install_python_packages

"$PY" -c 'import psutil' 2>/dev/null || "$PY" -m pip install -q psutil
mkdir -p "$REPO_ROOT/var"
exec "$PY" "$REPO_ROOT/bench/bench_import.py" \
    --odoo-dir "$ODOO_DIR" --addons-path "$(addons_path)" "$@"
