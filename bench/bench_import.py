"""Benchmark "Foundation": 100,000 contacts read in as recipients.

What it measures
----------------
A. The real path (ours). A fresh database with serial_correspondence installed
   (no demo data) gets 100,000 contacts. A real Odoo server runs with
   ``--workers`` and queue_job's job runner (``--load=base,web,queue_job``).
   A serial e-mail is created over XML-RPC with a contact filter that matches
   exactly those contacts; the import then runs as a chain of queue_job jobs,
   one batch each (``serial_correspondence.import_batch_size``, default 5000).
   Measured: wall time from the ``create`` call until the state is ``ready``,
   and the peak RSS of the server's processes (psutil, sampled every 0.2 s;
   the figure in the table and the goal are the peak of the worker processes
   that ran the jobs, queue_job's ``worker_pid``). Checked: 100,000
   recipients, no duplicates, no failed job.
   Also counted: the SQL queries of one batch job (``Job.perform()`` plus the
   flush the runner does), run in-process for batch sizes 1000 and 5000
   (batches 3 and 4 of a chain, after two that warm the caches up); the
   counts must be equal (constant number of queries per batch).
B. The reference: the naive ORM way, in-process in this benchmark's own
   process: search the contacts, then one
   ``serial.correspondence.recipient.create([...100,000 vals...])`` and a
   flush. Measured: wall time and peak RSS of this process (psutil, sampled
   every 0.2 s). Rolled back afterwards.

Goals (issue "Foundation", 2-core machine): A in <= 60 s, worker peak RSS
< 1 GB, the same number of queries per batch for any batch size.

The exit code is 1 when a correctness check fails (recipient count,
duplicates, failed jobs, state not reached); missed speed or memory goals are
printed, not turned into a failure.

How to run
----------
    bench/run-bench-import.sh [--contacts 100000] [--keep] [--no-reference]

The wrapper finds Odoo 18.0, starts PostgreSQL and calls this script with
``--addons-path``. The database (``sc_bench_import`` by default, ``--db``) is
dropped first and dropped again at the end unless ``--keep`` is given. Server
logs go to ``var/<db>-*.log`` in the repository (see ``common.py``).
"""

from __future__ import annotations

import os
import sys
import time

from common import (
    ADMIN_UID,
    EMAIL_DOMAIN,
    MB,
    Checks,
    Result,
    Sampler,
    db_cursor,
    error_note,
    fmt,
    insert_contacts,
    install_database,
    load_registry,
    log,
    parse,
    parser,
    print_notes,
    print_verdict,
    release_database,
    set_param,
    set_up_odoo,
    start_server,
)

BATCH_PARAM = "serial_correspondence.import_batch_size"
PARTNER_DOMAIN = [("email", "ilike", f"@{EMAIL_DOMAIN}")]

GOAL_SECONDS = 60.0
GOAL_PEAK_MB = 1024.0


# ----------------------------------------------------------------------
# A: the real server with queue_job's runner
# ----------------------------------------------------------------------


def run_server_import(args, database, checks: Checks) -> Result:
    result = Result("A  queue_job batches (ours)")
    server = start_server(args, database)
    try:
        cr = db_cursor(args)
        sampler = Sampler(server.process.pid)
        sampler.start()
        log(f"A: creating the serial e-mail over XML-RPC, filter {PARTNER_DOMAIN!r}")
        start = time.perf_counter()
        correspondence_id = server.rpc(
            "serial.correspondence",
            "create",
            {"kind": "email", "partner_domain": repr(PARTNER_DOMAIN)},
        )
        created = time.perf_counter() - start
        state, failed = None, []
        deadline = start + args.timeout
        last_report = start
        while time.perf_counter() < deadline:
            cr.execute(
                "SELECT state, import_done FROM serial_correspondence WHERE id = %s",
                (correspondence_id,),
            )
            state, done = cr.fetchone()
            if state == "ready":
                break
            cr.execute(
                "SELECT uuid, exc_info FROM queue_job"
                " WHERE method_name = '_import_recipients_batch' AND state = 'failed'"
            )
            failed = cr.fetchall()
            if failed:
                break
            if time.perf_counter() - last_report >= 10:
                last_report = time.perf_counter()
                log(f"A: {done} read after {last_report - start:.0f} s")
            time.sleep(0.1)
        elapsed = time.perf_counter() - start
        sampler.stop()
        log(f"A: state {state!r} after {elapsed:.2f} s (create call: {created:.2f} s)")

        checks.expect(
            not failed,
            f"no failed import job{f' ({failed[0][1][-500:]})' if failed else ''}",
        )
        checks.expect(
            state == "ready",
            f"state is 'ready' within {args.timeout:.0f} s (got {state!r})",
        )
        [record] = server.rpc(
            "serial.correspondence",
            "read",
            [correspondence_id],
            fields=["recipient_count", "import_total", "import_done"],
        )
        cr.execute(
            """
            SELECT count(*), count(DISTINCT r.partner_id),
                   count(*) FILTER (WHERE p.email NOT ILIKE %s),
                   count(*) FILTER (WHERE r.state <> 'pending')
              FROM serial_correspondence_recipient r
              JOIN res_partner p ON p.id = r.partner_id
             WHERE r.correspondence_id = %s
            """,
            (f"%@{EMAIL_DOMAIN}", correspondence_id),
        )
        total, distinct, foreign, not_pending = cr.fetchone()
        checks.expect(
            record["recipient_count"] == args.contacts,
            f"recipient_count over XML-RPC = {record['recipient_count']} "
            f"(want {args.contacts})",
        )
        checks.expect(
            total == args.contacts, f"{total} recipient rows (want {args.contacts})"
        )
        checks.expect(
            distinct == total, f"no duplicates ({distinct} distinct contacts)"
        )
        checks.expect(foreign == 0, f"only matching contacts ({foreign} others)")
        checks.expect(
            not_pending == 0, f"all recipients pending ({not_pending} others)"
        )
        checks.expect(
            record["import_total"] == record["import_done"] == args.contacts,
            f"import_total {record['import_total']}, "
            f"import_done {record['import_done']}",
        )
        cr.execute(
            """
            SELECT count(*), count(*) FILTER (WHERE state = 'done'),
                   coalesce(sum(exec_time), 0), coalesce(max(exec_time), 0),
                   array_agg(DISTINCT worker_pid)
              FROM queue_job WHERE method_name = '_import_recipients_batch'
            """
        )
        jobs, jobs_done, exec_sum, exec_max, worker_pids = cr.fetchone()
        cr.connection.close()

        result.seconds = elapsed
        result.count = total
        job_pids = [pid for pid in worker_pids or [] if pid in sampler.peak_by_pid]
        job_peak = max((sampler.peak_by_pid[pid] for pid in job_pids), default=0)
        # the goal is about the worker that runs the jobs; should no job have
        # run in a process of this server, take its largest process instead
        result.peak_mb = sampler.peak_of(job_pids) / MB
        result.notes.append(
            f"{jobs} batch jobs ({jobs_done} done), time inside the jobs "
            f"{exec_sum:.1f} s (longest {exec_max:.2f} s), create call {created:.2f} s"
        )
        result.notes.append(
            f"peak RSS: workers that ran the jobs {job_peak / MB:.0f} MB, "
            f"largest process {sampler.peak_single / MB:.0f} MB, "
            f"whole server (sum) {sampler.peak_total / MB:.0f} MB"
        )
        result.notes.append(
            f"per process peak RSS: {sampler.per_process(job_pids, 'ran import jobs')}"
        )
        result.notes += error_note(server)
    finally:
        server.stop()
    return result


# ----------------------------------------------------------------------
# in-process parts: queries per batch, and the naive reference
# ----------------------------------------------------------------------


def count_queries_per_batch(
    registry, sizes: list[int], checks: Checks
) -> dict[int, list[int]]:
    """Queries of batch jobs 3 and 4 (1 and 2 warm the caches up), per size."""
    from odoo import api

    from odoo.addons.queue_job.job import Job

    counts: dict[int, list[int]] = {}
    with registry.cursor() as cr:
        env = api.Environment(cr, ADMIN_UID, {})
        try:
            for size in sizes:
                env["ir.config_parameter"].sudo().set_param(BATCH_PARAM, str(size))
                correspondence = env["serial.correspondence"].create(
                    {"kind": "email", "partner_domain": repr(PARTNER_DOMAIN)}
                )
                env.flush_all()
                counts[size] = []
                for batch in range(1, 5):
                    job = Job.load(env, correspondence.job_uuid)
                    before = cr.sql_log_count
                    job.perform()
                    env.flush_all()  # as queue_job's runner does after perform()
                    if batch > 2:
                        counts[size].append(cr.sql_log_count - before)
                cr.execute(
                    "SELECT count(*) FROM serial_correspondence_recipient"
                    " WHERE correspondence_id = %s",
                    (correspondence.id,),
                )
                [read] = cr.fetchone()
                checks.expect(
                    read == 4 * size,
                    f"in-process: 4 batches of {size} read {read} recipients",
                )
        finally:
            cr.rollback()
    return counts


def run_naive_reference(registry, args, checks: Checks) -> Result:
    from odoo import api

    from odoo.addons.serial_correspondence.tools.processing import processing

    result = Result("B  one ORM create() (reference)")
    with registry.cursor() as cr:
        env = api.Environment(cr, ADMIN_UID, {})
        try:
            correspondence = env["serial.correspondence"].create(
                {"kind": "email", "partner_domain": repr(PARTNER_DOMAIN)}
            )
            env.flush_all()
            env.invalidate_all()
            sampler = Sampler(os.getpid(), tree=False)
            sampler.sample()
            baseline = sampler.peak_single
            sampler.start()
            log("B: search + one create() of all recipients in this process")
            start = time.perf_counter()
            partner_ids = env["res.partner"].search(PARTNER_DOMAIN, order="id").ids
            with processing():
                env["serial.correspondence.recipient"].create(
                    [
                        {"correspondence_id": correspondence.id, "partner_id": p_id}
                        for p_id in partner_ids
                    ]
                )
            env.flush_all()
            elapsed = time.perf_counter() - start
            sampler.stop()
            log(f"B: done after {elapsed:.2f} s")
            cr.execute(
                "SELECT count(*), count(DISTINCT partner_id)"
                "  FROM serial_correspondence_recipient"
                " WHERE correspondence_id = %s",
                (correspondence.id,),
            )
            total, distinct = cr.fetchone()
            checks.expect(
                total == distinct == args.contacts, f"reference: {total} recipients"
            )
            result.seconds = elapsed
            result.count = total
            result.peak_mb = sampler.peak_single / MB
            result.notes.append(
                f"RSS of this process before {baseline / MB:.0f} MB (registry loaded), "
                f"growth {(sampler.peak_single - baseline) / MB:.0f} MB"
            )
        finally:
            cr.rollback()
    return result


# ----------------------------------------------------------------------
# report
# ----------------------------------------------------------------------


def print_report(args, results: list[Result], counts: dict[int, list[int]]) -> None:
    print()
    print(
        f"== {args.contacts:,} contacts read in as recipients "
        f"(batch size {args.batch_size}, --workers={args.workers}, "
        f"{os.cpu_count()} CPUs)"
    )
    print(f"{'method':<34} {'seconds':>9} {'recipients/s':>13} {'peak MB':>9}")
    for result in results:
        print(
            f"{result.method:<34} {fmt(result.seconds, '9.2f')} "
            f"{fmt(result.per_second, '13,.0f')} {fmt(result.peak_mb, '9.0f')}"
        )
    print_notes(results)
    if counts:
        print(
            "queries per batch job (perform + flush, batches 3 and 4): "
            + ", ".join(f"size {size}: {values}" for size, values in counts.items())
        )
    ours = results[0]
    all_counts = sorted({value for values in counts.values() for value in values})
    print_verdict(
        [
            (
                ours.seconds is not None and ours.seconds <= GOAL_SECONDS,
                f"time {fmt(ours.seconds, '.1f')} s <= {GOAL_SECONDS:.0f} s",
            ),
            (
                ours.peak_mb is not None and ours.peak_mb < GOAL_PEAK_MB,
                f"worker peak {fmt(ours.peak_mb, '.0f')} MB < {GOAL_PEAK_MB:.0f} MB",
            ),
            (
                len(all_counts) == 1,
                "constant queries per batch "
                + (f"({all_counts[0]})" if len(all_counts) == 1 else f"({all_counts})"),
            ),
        ]
    )


# ----------------------------------------------------------------------
# main
# ----------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    options = parser(__doc__, "sc_bench_import", 8269, contacts=100_000)
    options.add_argument("--batch-size", type=int, default=5000, help="of the import")
    options.add_argument("--no-reference", action="store_true", help="skip B")
    args = parse(options, argv)
    set_up_odoo(args)
    checks = Checks()
    results: list[Result] = []
    counts: dict[int, list[int]] = {}
    database = registry = None
    try:
        database = install_database(args)
        log(f"inserting {args.contacts:,} contacts (SQL, not measured)")
        cr = db_cursor(args)
        insert_contacts(cr, args.contacts)
        set_param(cr, BATCH_PARAM, args.batch_size)
        cr.connection.close()

        results.append(run_server_import(args, database, checks))

        log("loading the registry in this process")
        registry = load_registry(args)
        sizes = [size for size in (1000, 5000) if 4 * size < args.contacts]
        log(f"counting queries per batch job for batch sizes {sizes}")
        counts = count_queries_per_batch(registry, sizes, checks)
        if not args.no_reference:
            results.append(run_naive_reference(registry, args, checks))
    finally:
        release_database(args, database, registry)

    print_report(args, results, counts)
    return checks.exit_code()


if __name__ == "__main__":
    sys.exit(main())
