"""Benchmark "Check recipients": 100,000 recipients checked before sending.

What it measures
----------------
A. The real path (ours). A fresh database with serial_correspondence installed
   (no demo data) gets 100,000 contacts (SQL, not measured) with a realistic
   mix: most consented to advertising by e-mail, some did not, some have no or
   an invalid address, some are blacklisted. A real Odoo server runs with
   ``--workers`` and queue_job's runner; an advertising serial e-mail with a
   personalised subject and template is created over XML-RPC and its
   recipients are read by the import jobs (not measured). Then
   ``action_check_recipients()`` is called over XML-RPC, as the form's button
   calls it. Measured: wall time of that call, the peak RSS of the server's
   processes (psutil, every 0.2 s; the figure is the largest process, the
   worker that served the call). Checked: every recipient has a result, the
   counts by result match what the contacts' data says, nothing was sent or
   queued.
B. Queries per batch: the same check in this process on the same
   correspondence, with batch sizes 1,000 and 2,000: its SQL queries divided
   by the number of batches (constant per batch, whatever the size).
C. The reference: the same check done naively, in this process: a loop over
   the recipients that calls processing's functions for one recipient at a
   time (``_email_outcome_before_sending``, ``_render_messages``) and writes
   each result with the ORM (``_internal_write``), on the first 10,000
   recipients, extrapolated to all of them. Rolled back.

Goal (issue #11, 2-core machine): A in <= 30 s for 100,000 recipients.

The exit code is 1 when a correctness check fails; a missed speed goal is
printed, not turned into a failure.

How to run
----------
    bench/run-bench-check.sh [--contacts 100000] [--reference 10000] [--keep]

The wrapper finds Odoo 18.0, starts PostgreSQL and calls this script with
``--addons-path``. The database (``sc_bench_check`` by default, ``--db``) is
dropped first and again at the end unless ``--keep`` is given. Server logs go
to ``var/<db>-*.log`` in the repository (see ``common.py``).
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
    set_up_odoo,
    start_server,
    wait_state,
)

GOAL_SECONDS = 30.0
CHECK_BATCH_PARAM = "serial_correspondence.check_batch_size"
SUBJECT = "Neuigkeiten für {{ object.name }}"
BODY = (
    "<p>Hallo <t t-out='object.name'/>,</p>"
    "<p t-if='object.city'>wir grüßen Sie nach <t t-out='object.city'/>.</p>"
    "<p>Unser Verein lädt Sie herzlich zu seinem Sommerfest ein.</p>"
    "<p>Mit freundlichen Grüßen</p>"
)


def shape_contacts(cr) -> dict[str, int]:
    """Give the contacts a mix of communication states (SQL, not measured);
    return how many of each result the check must find."""
    # most consented to advertising by e-mail (every 20th did not)
    cr.execute(
        "UPDATE res_partner SET email_advertising_consent = 'granted'"
        " WHERE email ILIKE %s AND id %% 20 <> 0",
        (f"%@{EMAIL_DOMAIN}",),
    )
    # every 50th has no address (error), every 97th an invalid one (error)
    cr.execute(
        "UPDATE res_partner SET email = NULL, email_normalized = NULL"
        " WHERE email ILIKE %s AND id %% 50 = 1",
        (f"%@{EMAIL_DOMAIN}",),
    )
    cr.execute(
        "UPDATE res_partner SET email = 'contact' || id || '@bench',"
        " email_normalized = NULL WHERE email ILIKE %s AND id %% 97 = 2",
        (f"%@{EMAIL_DOMAIN}",),
    )
    # every 101st is blacklisted (excluded)
    cr.execute(
        """
        INSERT INTO mail_blacklist
            (email, active, create_uid, write_uid, create_date, write_date)
        SELECT email_normalized, true, 1, 1,
               now() AT TIME ZONE 'UTC', now() AT TIME ZONE 'UTC'
          FROM res_partner
         WHERE email ILIKE %s AND email_normalized IS NOT NULL
           AND id %% 101 = 3
        """,
        (f"%@{EMAIL_DOMAIN}",),
    )
    # keep them in the correspondence's filter: the e-mail-less ones too
    cr.execute(
        "UPDATE res_partner SET city = 'Benchcheck' WHERE name LIKE %s",
        ("Bench Contact %",),
    )
    cr.execute(
        """
        SELECT count(*) FILTER (WHERE email IS NULL OR email LIKE %(invalid)s),
               count(*) FILTER (WHERE email IS NOT NULL
                                  AND email NOT LIKE %(invalid)s
                                  AND (id %% 101 = 3 OR id %% 20 = 0)),
               count(*)
          FROM res_partner WHERE city = 'Benchcheck'
        """,
        {"invalid": "%@bench"},
    )
    errors, excluded, total = cr.fetchone()
    cr.execute("ANALYZE res_partner")
    return {"error": errors, "excluded": excluded, "ok": total - errors - excluded}


def run_server_check(args, database, checks: Checks, expected: dict[str, int]):
    result = Result("A  check in batches (ours)")
    # the check is one request: give it the time of a long one
    server = start_server(
        args, database, options={"limit_time_real": 600, "limit_time_cpu": 600}
    )
    try:
        call = server.rpc
        [model_id] = call("ir.model", "search", [("model", "=", "res.partner")])
        template_id = call(
            "mail.template",
            "create",
            {"name": "Bench check", "model_id": model_id, "body_html": BODY},
        )
        log("A: creating the advertising serial e-mail, reading its recipients")
        correspondence_id = call(
            "serial.correspondence",
            "create",
            {
                "kind": "email",
                "purpose": "advertising",
                "subject": SUBJECT,
                "template_id": template_id,
                "email_from": "Verein <verein@example.com>",
                "partner_domain": repr([("city", "=", "Benchcheck")]),
            },
        )
        cr = db_cursor(args)
        state = None
        try:
            state = wait_state(
                cr, correspondence_id, ("ready",), args.timeout, interval=0.2
            )
        except RuntimeError as error:
            log(f"A: {error}")
        checks.expect(state == "ready", f"recipients read (state {state!r})")
        cr.execute("SELECT count(*) FROM queue_job")
        [jobs_before] = cr.fetchone()

        sampler = Sampler(server.process.pid)
        sampler.start()
        log("A: action_check_recipients() over XML-RPC")
        start = time.perf_counter()
        call("serial.correspondence", "action_check_recipients", [correspondence_id])
        elapsed = time.perf_counter() - start
        sampler.stop()
        log(f"A: checked after {elapsed:.2f} s")

        cr.execute(
            """
            SELECT count(*), count(*) FILTER (WHERE check_state = 'ok'),
                   count(*) FILTER (WHERE check_state = 'excluded'),
                   count(*) FILTER (WHERE check_state = 'error'),
                   count(*) FILTER (WHERE state <> 'pending')
              FROM serial_correspondence_recipient WHERE correspondence_id = %s
            """,
            (correspondence_id,),
        )
        total, ok, excluded, error, processed = cr.fetchone()
        cr.execute("SELECT count(*) FROM queue_job")
        [jobs_after] = cr.fetchone()
        cr.execute(
            "SELECT count(*) FROM mail_message WHERE message_type = 'email_outgoing'"
        )
        [outgoing] = cr.fetchone()
        # by reason, the addresses in the reasons left out
        cr.execute(
            """
            SELECT check_state,
                   regexp_replace(check_reason->>'en_US', %s, '<address>', 'g'),
                   count(*)
              FROM serial_correspondence_recipient WHERE correspondence_id = %s
             GROUP BY 1, 2 ORDER BY 3 DESC
            """,
            ("[^ ]*@[^ ]*", correspondence_id),
        )
        groups = cr.fetchall()
        cr.connection.close()
        checks.expect(total == args.contacts, f"{total} recipients")
        got = {"ok": ok, "excluded": excluded, "error": error}
        checks.expect(got == expected, f"results {got} (want {expected})")
        checks.expect(processed == 0, f"recipient states untouched ({processed})")
        checks.expect(
            jobs_after == jobs_before, f"no job queued ({jobs_after - jobs_before})"
        )
        checks.expect(outgoing == 0, f"nothing sent ({outgoing} e-mails)")
        result.seconds = elapsed
        result.count = total
        result.peak_mb = sampler.peak_single / MB
        result.notes.append(
            f"peak RSS: largest process {sampler.peak_single / MB:.0f} MB, "
            f"whole server (sum) {sampler.peak_total / MB:.0f} MB"
        )
        result.notes.append(
            "groups: "
            + "; ".join(
                f"{state} {count:,}: {(reason or '-')[:50]}"
                for state, reason, count in groups
            )
        )
        result.notes += error_note(server)
    finally:
        server.stop()
    return result, correspondence_id


def count_queries(registry, correspondence_id, sizes) -> dict[int, tuple]:
    """Queries per batch of the check, in this process, per batch size."""
    from odoo import api

    counts = {}
    for size in sizes:
        with registry.cursor() as cr:
            env = api.Environment(cr, ADMIN_UID, {})
            try:
                env["ir.config_parameter"].sudo().set_param(
                    CHECK_BATCH_PARAM, str(size)
                )
                record = env["serial.correspondence"].browse(correspondence_id)
                record.recipient_count  # noqa: B018 (warm up)
                env.invalidate_all()
                before = cr.sql_log_count
                start = time.perf_counter()
                record._check_recipients()
                elapsed = time.perf_counter() - start
                batches = -(-record.recipient_count // size)
                counts[size] = (cr.sql_log_count - before, batches, elapsed)
            finally:
                cr.rollback()
    return counts


def run_naive_reference(registry, args, correspondence_id, checks) -> Result:
    """Processing's functions called for one recipient at a time, each
    result written with the ORM; extrapolated from ``args.reference``."""
    from odoo import api

    result = Result("C  one by one, ORM (reference)")
    with registry.cursor() as cr:
        env = api.Environment(cr, ADMIN_UID, {})
        try:
            record = env["serial.correspondence"].browse(correspondence_id)
            recipients = env["serial.correspondence.recipient"].search(
                [("correspondence_id", "=", correspondence_id)],
                order="id",
                limit=args.reference,
            )
            env.invalidate_all()
            sampler = Sampler(os.getpid(), tree=False)
            sampler.sample()
            baseline = sampler.peak_single
            sampler.start()
            log(f"C: naive check of {len(recipients):,} recipients in this process")
            start = time.perf_counter()
            for recipient in recipients:
                outcome = recipient._email_outcome_before_sending(record.purpose)
                state, reason = outcome.get(recipient, ("ok", False))
                if state == "ok":
                    _rendered, failures = record._render_messages(recipient.partner_id)
                    if failures:
                        state = "error"
                        reason = record._render_failure_reason(
                            failures[recipient.partner_id.id]
                        )
                recipient._internal_write(
                    {"check_state": state, "check_reason": reason}
                )
            env.flush_all()
            elapsed = time.perf_counter() - start
            sampler.stop()
            log(f"C: done after {elapsed:.2f} s")
            cr.execute(
                "SELECT count(*) FROM serial_correspondence_recipient"
                " WHERE id = ANY(%s) AND check_state IS NOT NULL",
                (recipients.ids,),
            )
            [done] = cr.fetchone()
            checks.expect(done == len(recipients), f"reference: {done} checked")
            scale = args.contacts / max(len(recipients), 1)
            result.seconds = elapsed * scale
            result.count = args.contacts
            result.peak_mb = sampler.peak_single / MB
            result.notes.append(
                f"measured {elapsed:.2f} s for {len(recipients):,} recipients, "
                f"x {scale:.0f} extrapolated; RSS before {baseline / MB:.0f} MB "
                "(registry loaded)"
            )
        finally:
            cr.rollback()
    return result


def print_report(args, results, counts) -> None:
    print()
    print(
        f"== {args.contacts:,} recipients of an advertising serial e-mail checked "
        f"(--workers={args.workers}, {os.cpu_count()} CPUs)"
    )
    print(
        f"{'method':<34} {'recipients':>10} {'seconds':>9} {'recipients/s':>13} "
        f"{'peak MB':>9}"
    )
    for result in results:
        print(
            f"{result.method:<34} {result.count:>10,} "
            f"{fmt(result.seconds, '9.2f')} {fmt(result.per_second, '13,.0f')} "
            f"{fmt(result.peak_mb, '9.0f')}"
        )
    print_notes(results)
    for size, (queries, batches, elapsed) in counts.items():
        print(
            f"  B: batch size {size}: {queries} queries for {batches} batches = "
            f"{queries / batches:.1f} per batch (in-process, {elapsed:.1f} s)"
        )
    ours = results[0]
    verdicts = [
        (
            ours.seconds is not None and ours.seconds <= GOAL_SECONDS,
            f"time {fmt(ours.seconds, '.1f')} s <= {GOAL_SECONDS:.0f} s",
        )
    ]
    if len(results) > 1 and results[1].seconds and ours.seconds:
        verdicts.append((True, f"{results[1].seconds / ours.seconds:.1f}x reference"))
    print_verdict(verdicts)


def main(argv=None) -> int:
    options = parser(__doc__, "sc_bench_check", 8369, contacts=100_000)
    options.add_argument(
        "--reference", type=int, default=10_000, help="recipients for reference C"
    )
    options.add_argument("--no-reference", action="store_true", help="skip C")
    args = parse(options, argv)
    set_up_odoo(args)
    checks = Checks()
    results, counts = [], {}
    database = registry = None
    try:
        database = install_database(args)
        log(f"inserting {args.contacts:,} contacts (SQL, not measured)")
        cr = db_cursor(args)
        insert_contacts(cr, args.contacts)
        expected = shape_contacts(cr)
        cr.connection.close()
        log(f"expected results: {expected}")
        result, correspondence_id = run_server_check(args, database, checks, expected)
        results.append(result)
        log("loading the registry in this process")
        registry = load_registry(args)
        counts = count_queries(registry, correspondence_id, (1000, 2000))
        if not args.no_reference:
            results.append(
                run_naive_reference(registry, args, correspondence_id, checks)
            )
    finally:
        release_database(args, database, registry)
    print_report(args, results, counts)
    return checks.exit_code()


if __name__ == "__main__":
    sys.exit(main())
