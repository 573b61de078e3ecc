#!/usr/bin/env bash
# Benchmark "Foundation": 100,000 contacts read in as recipients, through a real
# Odoo server with queue_job's runner, next to a naive one-create() reference.
# Usage: bench/run-bench-import.sh [--contacts N] [--keep] [--no-reference] ...
# (all options: bench/run-bench-import.sh --help)
source "$(dirname "$0")/lib.sh"
run_bench bench_import.py "$@"
