#!/usr/bin/env bash
# Benchmark "Check recipients": 100,000 recipients of a serial e-mail checked
# (who will be excluded, and why) through a real Odoo server, next to a naive
# one-recipient-at-a-time reference.
# Usage: bench/run-bench-check.sh [--contacts N] [--reference N] [--keep] ...
# (all options: bench/run-bench-check.sh --help)
source "$(dirname "$0")/lib.sh"
run_bench bench_check.py "$@"
