#!/usr/bin/env bash
# Benchmark "Serial letters": 1,000 and 10,000 letters printed to one PDF by a
# real Odoo server with queue_job, next to Odoo's one-call report rendering
# and wkhtmltopdf alone, and (P) 10,000 letters with 1 and with 2 workers side
# by side (letter parts in parallel), against wkhtmltopdf on simple pages.
# Usage: bench/run-bench-letters.sh [--sizes 1000,10000] [--only A,B,C,D,P]
#        [--compare-workers 1,2] [--keep] ...
# Parallel parts only: bench/run-bench-letters.sh --sizes 10000 --only P
# (all options: bench/run-bench-letters.sh --help)
source "$(dirname "$0")/lib.sh"
install_system_packages
run_bench bench_letters.py "$@"
