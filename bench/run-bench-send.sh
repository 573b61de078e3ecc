#!/usr/bin/env bash
# Benchmark "Serial e-mail": 2,000 personalised e-mails into a real SMTP sink,
# ours (serial_correspondence through queue_job) next to Odoo 18's mass_mailing
# and a plain smtplib loop.
# Usage: bench/run-bench-send.sh [--contacts N] [--keep] [--only ours,mass_mailing,plain] ...
# (all options: bench/run-bench-send.sh --help)
source "$(dirname "$0")/lib.sh"
run_bench bench_send.py "$@"
