#!/usr/bin/env bash
# Benchmark "Serial letters": 1,000 and 10,000 letters printed to one PDF by a
# real Odoo server with queue_job, next to Odoo's one-call report rendering
# and wkhtmltopdf alone.
# Usage: bench/run-bench-letters.sh [--sizes 1000,10000] [--only A,B,C,D] [--keep] ...
# (all options: bench/run-bench-letters.sh --help)
source "$(dirname "$0")/lib.sh"
install_system_packages
run_bench bench_letters.py "$@"
