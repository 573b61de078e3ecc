#!/usr/bin/env bash
# Benchmark "Load": 3 serial e-mails and 2 serial letters of 10,000 recipients
# each, started together on two Odoo servers sharing one database, with the
# sending limits binding.
# Usage: bench/run-bench-load.sh [--scale 1] [--limit N] [--window-minutes M] [--per-domain K] [--keep] ...
# (all options: bench/run-bench-load.sh --help)
source "$(dirname "$0")/lib.sh"
run_bench bench_load.py "$@"
