#!/usr/bin/env bash
# Shared by the run-bench-*.sh wrappers: finds Odoo 18.0, starts PostgreSQL,
# installs what is missing, then runs bench/<script> with --addons-path and
# the wrapper's arguments.
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib.sh"

run_bench() {  # script [arguments...]
    local script="$1"
    shift
    find_odoo
    start_postgresql
    install_python_packages
    "$PY" -c 'import psutil' 2>/dev/null || "$PY" -m pip install -q psutil
    mkdir -p "$REPO_ROOT/var"
    exec "$PY" "$REPO_ROOT/bench/$script" --addons-path "$(addons_path)" "$@"
}
