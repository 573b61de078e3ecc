#!/usr/bin/env bash
# Benchmark "Serial e-mail": personalised e-mails into a real SMTP sink
# (postfix's smtp-sink), at 2,000 and 20,000 e-mails: ours (serial_correspondence
# through queue_job) over 1 and over N connections next to a plain single-
# connection smtplib loop and Odoo 18's mass_mailing.
# Usage: bench/run-bench-send.sh [--sizes 2000,20000]
#            [--methods ours_1,ours_n,plain,mass_mailing] [--connections 4]
#            [--ours-workers N] [--skip mass_mailing@20000] [--keep] ...
# (all options: bench/run-bench-send.sh --help)
source "$(dirname "$0")/lib.sh"
run_bench bench_send.py "$@"
