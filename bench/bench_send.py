"""Benchmark "Serial e-mail": 2,000 personalised e-mails into a real SMTP sink.

What it measures
----------------
One database (``sc_bench_send`` by default, dropped first) with
serial_correspondence and Odoo's own ``mass_mailing`` installed (no demo
data), 2,000 contacts with unique e-mail addresses (SQL, not measured), one
``ir.mail_server`` pointing at an SMTP sink on loopback (the addon's
``testing/smtp_sink.py``, the one of the tests and the demo, run as a separate
process, one ``.eml`` file per delivery, no TLS), and one
``mail.template`` on contacts with a personalised body of about 2 KB of HTML
("Hallo <t t-out="object.name"/>", ...). Three ways send the same 2,000
personalised e-mails (subject "Hallo <name>") to the same sink, one after the
other; the sink is emptied before each. The clock stops when the sink holds
2,000 deliveries.

Ours. A real Odoo server (``--workers=2 --load=base,web,queue_job``,
   ``ODOO_QUEUE_JOB_CHANNELS=root:2``, ``--max-cron-threads=0``). A serial
   e-mail (kind email, purpose information, subject "Hallo {{ object.name }}",
   the template, a sender) is created over XML-RPC with a contact filter on
   the 2,000 contacts; once its state is ``ready``, ``action_send`` is called
   over XML-RPC and the time runs until the sink holds 2,000 messages (the
   time until the state is ``done_auto`` is printed too). Checked: 2,000
   deliveries, 2,000 distinct recipients, each subject and body carrying the
   recipient's name, 2,000 recipients ``sent``, no failed job.
mass_mailing. Odoo 18's own way, on a fresh server started the same way. In
   Odoo 18 the "Send" button (``action_launch``) only puts the mailing in the
   queue and triggers the cron "Mail Marketing: Process queue"; that cron runs
   ``mailing._action_send_mail()``, which renders all recipients through the
   mass-mail composer and, above ``mail.mail.force.send.limit`` (100)
   recipients, only *queues* the ``mail.mail`` records (committing every 50);
   they are then sent by the cron "Mail: Email Queue Manager",
   ``mail.mail.process_email_queue(batch_size=1000)`` (one SMTP session per
   1,000 mails; the cron runs again while mails remain). This benchmark runs
   exactly those two crons' code, back to back, over RPC as the admin:
   ``mailing.action_send_mail()`` (XML-RPC) and then
   ``mail.mail.process_email_queue()`` (JSON-RPC, as it returns None)
   until no mail is left, i.e. "send now" without waiting for the cron
   scheduler (no cron thread runs, so nothing else picks the mails up). The
   clock starts at ``action_send_mail`` and stops when the sink holds 2,000
   messages. Checked: 2,000 deliveries, distinct, personalised, 2,000
   ``mailing.trace`` records ``sent``.
plain loop. The physical reference, in a Python process of its own
   (this script spawned, without Odoo imported, which the harness needs here;
   the sink is watched from that process too): the same 2,000 messages built
   with ``email.message.EmailMessage`` (subject and the same HTML body with the
   name filled in, plus a text part, as Odoo's messages are
   multipart/alternative) and sent over ONE ``smtplib.SMTP`` connection. The
   clock runs from the first message built until the sink holds 2,000.

Memory: the peak RSS of the server's processes is sampled with psutil every
0.2 s; the figure for ours is the worker that ran the send job
(``queue.job.worker_pid``), for mass_mailing the largest worker (the one that
answered the XML-RPC calls), for the plain loop its process. Every Odoo way
is measured on its own freshly started server after a warm-up (all workers
have loaded the registry, and a first small sending of the same kind to 120
other contacts has gone through: templates compiled, caches filled); the
warm-up deliveries are cleared from the sink.

CPU: the CPU seconds used while each way sends (psutil: the server's
processes and the database's PostgreSQL backends; for the plain loop its
process) are printed as CPU ms per mail, and the ratios also by CPU per mail.
The wall-clock rates depend on what else runs on the machine (the load
average is printed); the CPU figures much less.

Queries per recipient (after the servers are stopped, in this process): the
send job of a serial e-mail (``Job.perform()``) and mass_mailing's two steps
are run for 110 and for 220 other contacts; the difference of the SQL
statements counted by Odoo (``odoo.sql_db.sql_counter``), divided by 110, is
the number of queries per additional recipient.

Goals (issue "Serial e-mail", 2-core machine): ours >= 4 x mass_mailing and
>= 50 % of the plain loop (seen on these machines: mass_mailing about 45
mails/s, plain loop about 420 mails/s), worker peak RSS < 1 GB.

The exit code is 1 when a correctness check fails; missed speed or memory
goals are printed, not turned into a failure.

How to run
----------
    bench/run-bench-send.sh [--contacts 2000] [--keep] [--only ours,mass_mailing,plain]
                            [--smtp-port 2725] [--no-query-count]

Server logs go to ``var/<db>-*.log``, the sink's files to ``var/<db>-mail``.
"""

from __future__ import annotations

import collections
import email.message
import email.parser
import email.policy
import email.utils
import html
import json
import multiprocessing
import os
import re
import smtplib
import sys
import threading
import time
import urllib.request
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor

import psutil
from common import (
    ADMIN_UID,
    MB,
    VAR,
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
    wait_state,
)

EMAIL_DOMAIN = "bench.example.com"
WARMUP_DOMAIN = "warmup.example.com"
QUERY_DOMAIN = "query.example.com"
WARMUP_CONTACTS = 120  # more than mail.mail.force.send.limit: the queue path
QUERY_SIZES = (110, 220)
SENDER = "Bench Absender <absender@sender.example.com>"
SUBJECT_TEMPLATE = "Hallo {{ object.name }}"
NAME_PLACEHOLDER = '<t t-out="object.name"/>'
POLL_INTERVAL = 0.05
DONE_STATES = ("done_auto", "sent_incomplete", "send_failed")

GOAL_VS_MASS_MAILING = 4.0
GOAL_VS_PLAIN = 0.5
GOAL_PEAK_MB = 1024.0

# about 2 KB once rendered: a realistic information letter by e-mail
BODY_HTML = f"""<div style="font-family: Arial, Helvetica, sans-serif; font-size: 14px;
color: #222222; line-height: 1.5;">
<p>Hallo {NAME_PLACEHOLDER},</p>
<p>wir möchten Sie heute über einige Neuigkeiten informieren, die Ihre
Zusammenarbeit mit uns betreffen. Ab dem kommenden Monat erreichen Sie unser
Service-Team zu erweiterten Zeiten, und alle Unterlagen stehen Ihnen künftig
auch online zur Verfügung.</p>
<table style="border-collapse: collapse; width: 100%; margin: 12px 0;">
<tr><td style="padding: 4px 8px; border: 1px solid #dddddd;">
<strong>Montag bis Freitag</strong></td>
<td style="padding: 4px 8px; border: 1px solid #dddddd;">8:00 bis 18:00 Uhr</td></tr>
<tr><td style="padding: 4px 8px; border: 1px solid #dddddd;">
<strong>Samstag</strong></td>
<td style="padding: 4px 8px; border: 1px solid #dddddd;">9:00 bis 13:00 Uhr</td></tr>
<tr><td style="padding: 4px 8px; border: 1px solid #dddddd;">
<strong>Telefon</strong></td>
<td style="padding: 4px 8px; border: 1px solid #dddddd;">+49 30 1234567-0</td></tr>
</table>
<p>Ihre Ansprechpartnerin bleibt unverändert Frau Schneider; sie freut sich
auf Ihre Fragen und Anregungen. Falls sich Ihre Anschrift oder Ihre
Kontaktdaten geändert haben, teilen Sie uns dies bitte kurz mit, damit wir
Sie auch weiterhin zuverlässig erreichen.</p>
<p>Wir bedanken uns für Ihr Vertrauen und die gute Zusammenarbeit im
vergangenen Jahr und wünschen Ihnen, {NAME_PLACEHOLDER}, eine erfolgreiche
Zeit.</p>
<p>Mit freundlichen Grüßen<br/>Ihr Team der Muster GmbH</p>
<p style="font-size: 12px; color: #666666;">Muster GmbH, Beispielstraße 1,
10115 Berlin, Amtsgericht Berlin-Charlottenburg HRB 123456,
Geschäftsführung: Erika Musterfrau</p>
</div>"""


# ----------------------------------------------------------------------
# watching the sink, CPU
# ----------------------------------------------------------------------


class SinkWatcher(threading.Thread):
    """Records when the sink first holds ``target`` deliveries."""

    def __init__(self, sink, target: int, start: float):
        super().__init__(daemon=True)
        self.sink = sink
        self.target = target
        self.start_time = start
        self.reached_at: float | None = None
        self.count = 0
        self._stop_event = threading.Event()

    def run(self) -> None:
        while not self._stop_event.is_set():
            self.count = self.sink.count()
            if self.count >= self.target and self.reached_at is None:
                self.reached_at = time.perf_counter() - self.start_time
                return
            self._stop_event.wait(POLL_INTERVAL)

    def wait(self, timeout: float) -> float | None:
        self.join(timeout)
        return self.reached_at

    def stop(self) -> None:
        self._stop_event.set()
        self.join()


class CpuMeter:
    """CPU seconds used during a run by a process tree and by the PostgreSQL
    backends of the database (the machine is shared: wall time alone does
    not tell how much work a way of sending needs)."""

    def __init__(self, db: str, root_pid: int):
        self.db = db
        self.root_pid = root_pid
        self.before: dict[int, float] = {}
        self.after: dict[int, float] = {}
        self.kind: dict[int, str] = {}
        self.load_before = os.getloadavg()
        self.load_after = self.load_before

    def _snapshot(self) -> dict[int, float]:
        times = {}
        processes = []
        try:
            root = psutil.Process(self.root_pid)
            processes.append(root)
            if self.root_pid != os.getpid():
                processes += root.children(recursive=True)
        except psutil.NoSuchProcess:
            pass
        for process in processes:
            self.kind[process.pid] = "odoo"
        for process in psutil.process_iter(["name", "cmdline"]):
            cmdline = " ".join(process.info["cmdline"] or [])
            if process.info["name"] == "postgres" and f" {self.db} " in f"{cmdline} ":
                processes.append(process)
                self.kind[process.pid] = "postgres"
        for process in processes:
            try:
                cpu = process.cpu_times()
                times[process.pid] = cpu.user + cpu.system
            except psutil.Error:
                pass
        return times

    def start(self) -> None:
        self.load_before = os.getloadavg()
        self.before = self._snapshot()

    def stop(self) -> None:
        self.after = self._snapshot()
        self.load_after = os.getloadavg()

    def used(self, pid: int) -> float:
        return self.after.get(pid, 0.0) - self.before.get(pid, 0.0)

    def total(self, kind: str) -> float:
        return sum(self.used(pid) for pid in self.after if self.kind.get(pid) == kind)

    def note(self, mails: int, pids: list[int] = (), what: str = "") -> str:
        odoo, postgres = self.total("odoo"), self.total("postgres")
        text = f"CPU: Odoo processes {odoo:.1f} s, PostgreSQL backends {postgres:.1f} s"
        if pids:
            own = sum(self.used(pid) for pid in pids)
            text += f", {what} {own:.1f} s ({1000 * own / mails:.1f} ms per mail)"
        text += f"; {1000 * (odoo + postgres) / mails:.1f} ms CPU per mail in all"
        text += (
            f"; load average {self.load_before[0]:.2f} before, "
            f"{self.load_after[0]:.2f} after"
        )
        return text


def verify_deliveries(sink, names: dict[str, str], checks: Checks, label: str):
    """Exactly one delivery per contact, subject and body with its name."""
    parser = email.parser.BytesParser(policy=email.policy.default)
    paths = sink.paths()
    recipients = collections.Counter()
    bad_subject, bad_body, sizes = [], [], []
    for path in paths:
        data = path.read_bytes()
        sizes.append(len(data))
        message = parser.parsebytes(data)
        rcpt = str(message["Delivered-To"]).strip().lower()
        rcpt = re.sub(r".*<([^>]*)>.*", r"\1", rcpt)
        recipients[rcpt] += 1
        name = names.get(rcpt)
        if name is None:
            continue
        if str(message["Subject"]) != f"Hallo {name}":
            bad_subject.append((rcpt, str(message["Subject"])))
        part = message.get_body(("html",))
        content = part.get_content() if part is not None else ""
        if f"Hallo {html.escape(name, quote=False)}," not in content:
            bad_body.append(rcpt)
    unknown = [rcpt for rcpt in recipients if rcpt not in names]
    twice = [rcpt for rcpt, count in recipients.items() if count > 1]
    checks.expect(
        len(paths) == len(names),
        f"{label}: {len(paths)} deliveries in the sink (want {len(names)})",
    )
    checks.expect(
        len(recipients) == len(names) and not unknown and not twice,
        f"{label}: {len(recipients)} distinct recipients, {len(unknown)} unknown, "
        f"{len(twice)} twice",
    )
    checks.expect(
        not bad_subject,
        f"{label}: personalised subject 'Hallo <name>' "
        f"({len(bad_subject)} wrong"
        f"{f', e.g. {bad_subject[0]}' if bad_subject else ''})",
    )
    checks.expect(
        not bad_body,
        f"{label}: body carries the name ({len(bad_body)} wrong)",
    )
    return (sum(sizes) / len(sizes)) if sizes else 0


# ----------------------------------------------------------------------
# set-up
# ----------------------------------------------------------------------


def contact_names(cr, domain: str) -> dict[str, str]:
    cr.execute(
        "SELECT lower(email), name FROM res_partner WHERE email ILIKE %s",
        (f"%@{domain}",),
    )
    return dict(cr.fetchall())


def email_domain_filter(domain: str) -> list:
    return [("email", "ilike", f"@{domain}")]


def json_rpc(server, model: str, method: str, *args, **kwargs):
    """``execute_kw`` over JSON-RPC, for methods that return None (XML-RPC
    cannot marshal it, and the error would roll the request back)."""
    payload = {
        "jsonrpc": "2.0",
        "method": "call",
        "id": 1,
        "params": {
            "service": "object",
            "method": "execute_kw",
            "args": [
                server.db_name,
                server.uid,
                server.admin_password,
                model,
                method,
                list(args),
                kwargs,
            ],
        },
    }
    request = urllib.request.Request(
        f"{server.url}/jsonrpc",
        data=json.dumps(payload).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=3600) as response:
        answer = json.loads(response.read())
    if answer.get("error"):
        raise RuntimeError(json.dumps(answer["error"])[:3000])
    return answer.get("result")


def send_server(args, database, label: str):
    """A fresh server for one way of sending (its own log), with request
    limits long enough for mass_mailing's long XML-RPC calls."""
    return start_server(
        args, database, label, {"limit_time_real": 1800, "limit_time_cpu": 1800}
    )


def warm_up_workers(server) -> None:
    """Let every worker answer a few requests (the registry itself is loaded
    by the server before it forks its workers)."""
    with ThreadPoolExecutor(max_workers=2 * server.workers) as pool:
        for _ in range(3):
            list(
                pool.map(
                    lambda _: server.rpc(
                        "res.partner", "search_read", [], fields=["name"], limit=200
                    ),
                    range(4 * server.workers),
                )
            )


# the tracking-on run (--tracking) sends the same body with two links, which it
# rewrites into tracked links, plus the open pixel
LINKS_HTML = """<p>Unsere neuen Zeiten: <a href="https://www.example.com/service">Service</a>,
alle Unterlagen: <a href="https://www.example.com/unterlagen">online</a>.</p>"""
TRACKING_MARKERS = ("/serial_correspondence/track/", "/sc/")


def setup_records(server, args) -> dict:
    """ir.mail_server on the sink and the mail.template (set-up, once)."""
    rpc = server.rpc
    rpc(
        "ir.mail_server",
        "create",
        {
            "name": "Bench SMTP sink",
            "smtp_host": "127.0.0.1",
            "smtp_port": args.smtp_port,
            "smtp_encryption": "none",
            "sequence": 1,
        },
    )
    [model_id] = rpc("ir.model", "search", [("model", "=", "res.partner")])
    template_id = rpc(
        "mail.template",
        "create",
        {
            "name": "Bench information letter",
            "model_id": model_id,
            "subject": SUBJECT_TEMPLATE,
            "body_html": BODY_HTML,
        },
    )
    [template] = rpc("mail.template", "read", [template_id], fields=["body_html"])
    if NAME_PLACEHOLDER.replace("/>", "") not in template["body_html"]:
        raise RuntimeError(
            f"the template body lost its placeholder: {template['body_html'][:300]}"
        )
    links_template_id = rpc(
        "mail.template",
        "create",
        {
            "name": "Bench information letter with links",
            "model_id": model_id,
            "subject": SUBJECT_TEMPLATE,
            "body_html": BODY_HTML + LINKS_HTML,
        },
    )
    return {"template_id": template_id, "links_template_id": links_template_id}


# ----------------------------------------------------------------------
# ours: serial_correspondence through queue_job
# ----------------------------------------------------------------------


def create_correspondence(
    server, cr, domain: list, template_id: int, timeout: float, tracking=False
):
    correspondence_id = server.rpc(
        "serial.correspondence",
        "create",
        {
            "kind": "email",
            "purpose": "information",
            "subject": SUBJECT_TEMPLATE,
            "template_id": template_id,
            "email_from": SENDER,
            "partner_domain": repr(domain),
            "tracking_enabled": tracking,
        },
    )
    wait_state(cr, correspondence_id, ("ready",), timeout, POLL_INTERVAL)
    return correspondence_id


def committed_transactions(cr, db: str) -> int:
    """Transactions committed in ``db`` so far (fresh statistics)."""
    cr.connection.rollback()  # the statistics are cached per transaction
    cr.execute("SELECT xact_commit FROM pg_stat_database WHERE datname = %s", (db,))
    [count] = cr.fetchone()
    cr.connection.rollback()
    return count


def run_ours(
    args,
    database,
    sink,
    names: dict[str, str],
    setup: dict,
    checks: Checks,
    tracking=False,
):
    """Ours; with ``tracking``, open/click tracking on and the body with links."""
    label = "ours, tracking on" if tracking else "ours"
    result = Result(
        "ours, tracking on (2 links)" if tracking else "ours (serial_correspondence)"
    )
    template_id = setup["links_template_id" if tracking else "template_id"]
    server = send_server(args, database, label)
    try:
        rpc = server.rpc
        warm_up_workers(server)
        cr = db_cursor(args, autocommit=False)  # see wait_state

        log(f"{label}: warm-up, a serial e-mail to {WARMUP_CONTACTS} other contacts")
        warmup_id = create_correspondence(
            server,
            cr,
            email_domain_filter(WARMUP_DOMAIN),
            template_id,
            args.timeout,
            tracking=tracking,
        )
        rpc("serial.correspondence", "action_send", [warmup_id])
        wait_state(cr, warmup_id, DONE_STATES, args.timeout, POLL_INTERVAL)
        sink.clear()

        log(
            f"{label}: creating the serial e-mail to {len(names)} contacts, "
            "waiting for 'ready'"
        )
        start = time.perf_counter()
        correspondence_id = create_correspondence(
            server,
            cr,
            email_domain_filter(EMAIL_DOMAIN),
            template_id,
            args.timeout,
            tracking=tracking,
        )
        log(f"{label}: ready after {time.perf_counter() - start:.1f} s (not measured)")
        commits_before = committed_transactions(cr, args.db)

        sampler = Sampler(server.process.pid)
        sampler.start()
        meter = CpuMeter(args.db, server.process.pid)
        meter.start()
        log(f"{label}: action_send over XML-RPC")
        start = time.perf_counter()
        watcher = SinkWatcher(sink, len(names), start)
        watcher.start()
        rpc("serial.correspondence", "action_send", [correspondence_id])
        call_seconds = time.perf_counter() - start
        state = wait_state(
            cr, correspondence_id, DONE_STATES, args.timeout, POLL_INTERVAL
        )
        done_seconds = time.perf_counter() - start
        delivered = watcher.wait(args.timeout)
        watcher.stop()
        meter.stop()
        sampler.stop()
        time.sleep(1.5)  # PostgreSQL publishes a backend's statistics within 1 s
        commits_after = committed_transactions(cr, args.db)
        log(
            f"{label}: {watcher.count} in the sink after {fmt(delivered, '.2f')} s, "
            f"state {state!r} after {done_seconds:.2f} s"
        )
        time.sleep(1.0)  # anything more would arrive now

        checks.expect(state == "done_auto", f"{label}: state done_auto (got {state!r})")
        checks.expect(delivered is not None, f"{label}: the sink reached the target")
        size = verify_deliveries(sink, names, checks, label)
        if tracking:
            untracked = sum(
                not all(
                    marker.encode() in path.read_bytes() for marker in TRACKING_MARKERS
                )
                for path in sink.paths()
            )
            checks.expect(
                not untracked,
                f"{label}: every e-mail has the open pixel and tracked links "
                f"({untracked} without)",
            )
        cr.execute(
            "SELECT state, count(*) FROM serial_correspondence_recipient"
            " WHERE correspondence_id = %s GROUP BY state",
            (correspondence_id,),
        )
        by_state = dict(cr.fetchall())
        checks.expect(
            by_state == {"sent": len(names)}, f"{label}: recipients by state {by_state}"
        )
        cr.execute(
            """
            SELECT count(*), count(*) FILTER (WHERE state = 'failed'),
                   coalesce(sum(exec_time), 0), array_agg(DISTINCT worker_pid),
                   min(date_started - date_enqueued)
              FROM queue_job
             WHERE identity_key LIKE %s
            """,
            (f"serial_correspondence_send-{correspondence_id}-%",),
        )
        jobs, failed, exec_sum, worker_pids, pickup = cr.fetchone()
        checks.expect(not failed, f"{label}: no failed send job ({failed} failed)")
        cr.connection.close()

        result.seconds = delivered
        result.count = len(names)
        job_pids = [pid for pid in worker_pids or [] if pid in sampler.peak_by_pid]
        result.peak_mb = sampler.peak_of(job_pids) / MB
        result.notes.append(
            f"action_send call {call_seconds:.2f} s, state done_auto after "
            f"{done_seconds:.2f} s; {jobs} send job(s), {exec_sum:.2f} s inside, "
            f"job picked up {pickup.total_seconds() if pickup else 0:.2f} s "
            "after enqueue"
        )
        result.notes.append(
            f"{(commits_after - commits_before) / len(names):.2f} PostgreSQL commits "
            f"per recipient (pg_stat_database, whole database, this benchmark's "
            f"polling not included), average message "
            f"{size / 1024:.1f} KB"
        )
        result.notes.append(meter.note(len(names), job_pids, "the send job's worker"))
        result.cpu_ms = (
            1000 * (meter.total("odoo") + meter.total("postgres")) / len(names)
        )
        result.notes.append(
            "peak RSS per process: " + sampler.per_process(job_pids, "ran the send job")
        )
        result.notes += error_note(server)
    finally:
        server.stop()
    return result


# ----------------------------------------------------------------------
# (a) mass_mailing
# ----------------------------------------------------------------------


def create_mailing(server, domain: list) -> int:
    rpc = server.rpc
    [model_id] = rpc("ir.model", "search", [("model", "=", "res.partner")])
    mailing_id = rpc(
        "mailing.mailing",
        "create",
        {
            "subject": SUBJECT_TEMPLATE,
            "mailing_type": "mail",
            "mailing_model_id": model_id,
            "mailing_domain": repr(domain),
            "email_from": SENDER,
            "body_html": BODY_HTML,
            "body_arch": BODY_HTML,
        },
    )
    [mailing] = rpc("mailing.mailing", "read", [mailing_id], fields=["mailing_domain"])
    if mailing["mailing_domain"] != repr(domain):
        raise RuntimeError(f"the mailing's domain became {mailing['mailing_domain']!r}")
    return mailing_id


def send_mailing(server, cr, mailing_id: int) -> list[tuple[str, float]]:
    """Odoo's "send now" for a mailing: the two crons' code, back to back."""
    steps = []
    start = time.perf_counter()
    server.rpc("mailing.mailing", "action_send_mail", [mailing_id])
    steps.append(("action_send_mail", time.perf_counter() - start))
    for _ in range(100):
        cr.execute(
            "SELECT count(*) FROM mail_mail"
            " WHERE mailing_id = %s AND state = 'outgoing'",
            (mailing_id,),
        )
        [outgoing] = cr.fetchone()
        if not outgoing:
            break
        start = time.perf_counter()
        # JSON-RPC: it returns None, which XML-RPC cannot marshal
        json_rpc(server, "mail.mail", "process_email_queue", batch_size=1000)
        steps.append(("process_email_queue", time.perf_counter() - start))
    return steps


def run_mass_mailing(args, database, sink, names: dict[str, str], checks: Checks):
    result = Result("mass_mailing (Odoo 18)")
    server = send_server(args, database, "mass_mailing")
    try:
        cr = db_cursor(args)
        # Odoo's default: above 100 recipients the composer queues the mails
        set_param(cr, "mail.mail.force.send.limit", 100)
        warm_up_workers(server)

        log(f"mass_mailing: warm-up, a mailing to {WARMUP_CONTACTS} other contacts")
        warmup_id = create_mailing(server, email_domain_filter(WARMUP_DOMAIN))
        send_mailing(server, cr, warmup_id)
        deadline = time.monotonic() + 60
        while sink.count() < WARMUP_CONTACTS and time.monotonic() < deadline:
            time.sleep(0.2)
        sink.clear()

        mailing_id = create_mailing(server, email_domain_filter(EMAIL_DOMAIN))
        sampler = Sampler(server.process.pid)
        sampler.start()
        meter = CpuMeter(args.db, server.process.pid)
        meter.start()
        log("mass_mailing: action_send_mail + process_email_queue over RPC")
        start = time.perf_counter()
        watcher = SinkWatcher(sink, len(names), start)
        watcher.start()
        steps = send_mailing(server, cr, mailing_id)
        calls_seconds = time.perf_counter() - start
        delivered = watcher.wait(args.timeout)
        watcher.stop()
        meter.stop()
        sampler.stop()
        log(
            f"mass_mailing: {watcher.count} in the sink after {fmt(delivered, '.2f')} s"
        )
        time.sleep(1.0)

        checks.expect(
            delivered is not None, "mass_mailing: the sink reached the target"
        )
        size = verify_deliveries(sink, names, checks, "mass_mailing")
        cr.execute(
            "SELECT trace_status, count(*) FROM mailing_trace"
            " WHERE mass_mailing_id = %s GROUP BY trace_status",
            (mailing_id,),
        )
        traces = dict(cr.fetchall())
        checks.expect(
            traces == {"sent": len(names)}, f"mass_mailing: traces by status {traces}"
        )
        cr.execute("SELECT state FROM mailing_mailing WHERE id = %s", (mailing_id,))
        [state] = cr.fetchone()
        checks.expect(state == "done", f"mass_mailing: mailing state {state!r}")
        cr.connection.close()

        result.seconds = delivered
        result.count = len(names)
        result.peak_mb = sampler.peak_of(sampler.pids("worker")) / MB
        result.notes.append(
            "calls (what the crons 'Mail Marketing: Process queue' and 'Mail: Email "
            "Queue Manager' run): "
            + ", ".join(f"{name} {seconds:.2f} s" for name, seconds in steps)
            + f"; all calls {calls_seconds:.2f} s; average message {size / 1024:.1f} KB"
        )
        result.notes.append(meter.note(len(names)))
        result.cpu_ms = (
            1000 * (meter.total("odoo") + meter.total("postgres")) / len(names)
        )
        result.notes.append("peak RSS per process: " + sampler.per_process())
        result.notes += error_note(server)
    finally:
        server.stop()
    return result


# ----------------------------------------------------------------------
# (b) the plain loop
# ----------------------------------------------------------------------


def html_to_text(body: str) -> str:
    text = re.sub(r"<br\s*/?>", "\n", body)
    text = re.sub(r"</(p|tr|div)>", "\n\n", text)
    text = re.sub(r"<[^>]+>", " ", text)
    text = html.unescape(re.sub(r"[ \t]+", " ", text))
    return re.sub(r"\n\s*\n+", "\n\n", text).strip()


class EmlFiles:
    """The sink's deliveries counted without its module (which needs Odoo's
    addons path): what the plain loop's process watches."""

    def __init__(self, directory: str):
        self.directory = directory

    def count(self) -> int:
        with os.scandir(self.directory) as entries:
            return sum(
                1
                for entry in entries
                if entry.name.endswith(".eml") and not entry.name.startswith(".")
            )


def plain_loop(host, port, directory, names: dict, timeout: float, db: str):
    """Build and send the messages over one connection, watch the sink (in a
    process of its own, without Odoo: see :func:`run_plain`)."""
    contacts = sorted(names.items())
    sampler = Sampler(os.getpid(), tree=False)
    sampler.start()
    meter = CpuMeter(db, os.getpid())
    meter.start()
    start = time.perf_counter()
    watcher = SinkWatcher(EmlFiles(directory), len(names), start)
    watcher.start()
    domain = SENDER.rsplit("@", 1)[1].rstrip(">")
    with smtplib.SMTP(host, port) as smtp:
        for address, name in contacts:
            body = BODY_HTML.replace(NAME_PLACEHOLDER, html.escape(name))
            message = email.message.EmailMessage()
            message["From"] = SENDER
            message["To"] = email.utils.formataddr((name, address))
            message["Subject"] = f"Hallo {name}"
            message["Date"] = email.utils.formatdate()
            message["Message-Id"] = email.utils.make_msgid(domain=domain)
            message.set_content(html_to_text(body))
            message.add_alternative(body, subtype="html")
            smtp.send_message(message)
    sent = time.perf_counter() - start
    delivered = watcher.wait(timeout)
    watcher.stop()
    meter.stop()
    sampler.stop()
    return {
        "sent": sent,
        "delivered": delivered,
        "count": watcher.count,
        "peak": sampler.peak_single,
        "cpu": meter.total("odoo"),
        "load": (meter.load_before[0], meter.load_after[0]),
    }


def run_plain(args, sink, names: dict[str, str], checks: Checks) -> Result:
    """The plain loop runs in a fresh process (spawned, this script without
    Odoo imported), as this benchmark's process was before it served the
    harness: its peak RSS and CPU are those of that process."""
    result = Result("plain smtplib loop")
    log(f"plain loop: building and sending {len(names)} messages over one connection")
    with ProcessPoolExecutor(
        1, mp_context=multiprocessing.get_context("spawn")
    ) as pool:
        run = pool.submit(
            plain_loop,
            sink.host,
            sink.port,
            str(sink.directory),
            names,
            args.timeout,
            args.db,
        ).result()
    delivered = run["delivered"]
    log(f"plain loop: {run['count']} in the sink after {fmt(delivered, '.2f')} s")
    time.sleep(0.5)
    checks.expect(delivered is not None, "plain: the sink reached the target")
    size = verify_deliveries(sink, names, checks, "plain")
    result.seconds = delivered
    result.count = len(names)
    result.peak_mb = run["peak"] / MB
    result.notes.append(
        f"loop {run['sent']:.2f} s; average message {size / 1024:.1f} KB; peak RSS "
        "is the loop's process"
    )
    result.cpu_ms = 1000 * run["cpu"] / len(names)
    result.notes.append(
        f"CPU: the loop's process {run['cpu']:.1f} s "
        f"({result.cpu_ms:.1f} ms per mail); load average "
        f"{run['load'][0]:.2f} before, {run['load'][1]:.2f} after"
    )
    return result


# ----------------------------------------------------------------------
# queries per recipient, in-process
# ----------------------------------------------------------------------


def count_queries(args, registry, sink, checks: Checks, template_id: int):
    """SQL statements of ours' send job and of mass_mailing's two steps, for
    the first QUERY_SIZES[i] query contacts each."""
    import odoo.sql_db
    from odoo import api

    from odoo.addons.queue_job.job import Job

    with registry.cursor() as cr:
        cr.execute(
            "SELECT id FROM res_partner WHERE email ILIKE %s ORDER BY id",
            (f"%@{QUERY_DOMAIN}",),
        )
        ids = [row[0] for row in cr.fetchall()]
    counts: dict[str, list] = {"ours": [], "mass_mailing": []}
    try:
        for size in QUERY_SIZES:
            domain = [("id", "in", ids[:size])]
            # ours: the import (not counted), then the send job
            with registry.cursor() as cr:
                env = api.Environment(cr, ADMIN_UID, {})
                record = env["serial.correspondence"].create(
                    {
                        "kind": "email",
                        "purpose": "information",
                        "subject": SUBJECT_TEMPLATE,
                        "template_id": template_id,
                        "email_from": SENDER,
                        "partner_domain": repr(domain),
                    }
                )
                Job.load(env, record.job_uuid).perform()
                env.flush_all()
                cr.commit()
                record.action_send()
                env.flush_all()
                cr.commit()
                job = Job.load(env, record.job_uuid)
                before, start = odoo.sql_db.sql_counter, time.perf_counter()
                job.perform()
                env.flush_all()
                seconds = time.perf_counter() - start
                queries = odoo.sql_db.sql_counter - before
                cr.rollback()  # see what the job committed in its own cursor
                env.invalidate_all()
                checks.expect(
                    record.state == "done_auto" and record.sent_count == size,
                    f"in-process ours: {record.sent_count} of {size} sent "
                    f"({record.state})",
                )
                counts["ours"].append((size, queries, seconds))
            # mass_mailing: action_send_mail, then the mail queue
            with registry.cursor() as cr:
                env = api.Environment(cr, ADMIN_UID, {})
                mailing = env["mailing.mailing"].create(
                    {
                        "subject": SUBJECT_TEMPLATE,
                        "mailing_type": "mail",
                        "mailing_model_id": env["ir.model"]._get_id("res.partner"),
                        "mailing_domain": repr(domain),
                        "email_from": SENDER,
                        "body_html": BODY_HTML,
                        "body_arch": BODY_HTML,
                    }
                )
                cr.commit()
                before, start = odoo.sql_db.sql_counter, time.perf_counter()
                mailing.action_send_mail()
                env["mail.mail"].process_email_queue(batch_size=1000)
                env.flush_all()
                seconds = time.perf_counter() - start
                queries = odoo.sql_db.sql_counter - before
                cr.execute(
                    "SELECT count(*) FROM mailing_trace WHERE mass_mailing_id = %s"
                    " AND trace_status = 'sent'",
                    (mailing.id,),
                )
                [sent] = cr.fetchone()
                checks.expect(
                    sent == size, f"in-process mass_mailing: {sent} of {size} sent"
                )
                counts["mass_mailing"].append((size, queries, seconds))
                cr.commit()
    finally:
        odoo.sql_db.close_db(args.db)
        sink.clear()
    return counts


# ----------------------------------------------------------------------
# report
# ----------------------------------------------------------------------


def print_report(args, results: dict[str, Result], counts: dict[str, list]) -> None:
    print()
    print(
        f"== {args.contacts:,} personalised e-mails into the SMTP sink "
        f"(--workers={args.workers}, {os.cpu_count()} CPUs, load average now "
        f"{os.getloadavg()[0]:.2f})"
    )
    print(
        f"{'method':<30} {'seconds':>9} {'mails/s':>9} {'peak MB':>9} "
        f"{'CPU ms/mail':>12}"
    )
    for result in results.values():
        print(
            f"{result.method:<30} {fmt(result.seconds, '9.2f')} "
            f"{fmt(result.per_second, '9.1f')} {fmt(result.peak_mb, '9.0f')} "
            f"{fmt(result.cpu_ms, '12.1f')}"
        )
    print(
        "  (CPU ms/mail: Odoo processes + PostgreSQL backends for the Odoo ways, "
        "the loop's process for the plain loop; the sink's own CPU is not counted)"
    )
    print_notes(results.values())
    for name, values in counts.items():
        if len(values) == 2:
            (small, q_small, s_small), (large, q_large, s_large) = values
            print(
                f"queries ({name}, in-process): {q_small} for {small} recipients "
                f"({s_small:.2f} s), {q_large} for {large} ({s_large:.2f} s): "
                f"{(q_large - q_small) / (large - small):.1f} per additional recipient"
            )
    ours = results.get("ours")
    mass = results.get("mass_mailing")
    plain = results.get("plain")
    verdicts = []
    if ours and ours.per_second:
        if mass and mass.per_second:
            ratio = ours.per_second / mass.per_second
            print(
                f"ratio ours / mass_mailing: {ratio:.2f} x"
                + (
                    f" (by CPU per mail: {mass.cpu_ms / ours.cpu_ms:.2f} x)"
                    if mass.cpu_ms and ours.cpu_ms
                    else ""
                )
            )
            verdicts.append(
                (
                    ratio >= GOAL_VS_MASS_MAILING,
                    f"ours {ratio:.2f} x mass_mailing >= {GOAL_VS_MASS_MAILING:.0f} x",
                )
            )
        if plain and plain.per_second:
            ratio = ours.per_second / plain.per_second
            print(
                f"ratio ours / plain loop: {100 * ratio:.0f} %"
                + (
                    f" (by CPU per mail: {100 * plain.cpu_ms / ours.cpu_ms:.0f} %)"
                    if plain.cpu_ms and ours.cpu_ms
                    else ""
                )
            )
            verdicts.append(
                (
                    ratio >= GOAL_VS_PLAIN,
                    f"ours {100 * ratio:.0f} % of the plain loop "
                    f">= {100 * GOAL_VS_PLAIN:.0f} %",
                )
            )
        verdicts.append(
            (
                ours.peak_mb is not None and ours.peak_mb < GOAL_PEAK_MB,
                f"worker peak {fmt(ours.peak_mb, '.0f')} MB < {GOAL_PEAK_MB:.0f} MB",
            )
        )
    tracked = results.get("ours_tracking")
    if ours and ours.per_second and tracked and tracked.per_second:
        print(
            f"tracking on (pixel + 2 tracked links) vs off: "
            f"{tracked.per_second:.1f} vs {ours.per_second:.1f} mails/s "
            f"({100 * (ours.per_second / tracked.per_second - 1):+.0f} % time)"
            + (
                f", {tracked.cpu_ms - ours.cpu_ms:+.1f} CPU ms per mail"
                if tracked.cpu_ms and ours.cpu_ms
                else ""
            )
        )
    print_verdict(verdicts)


# ----------------------------------------------------------------------
# main
# ----------------------------------------------------------------------


METHODS = ("ours", "ours_tracking", "mass_mailing", "plain")


def main(argv: list[str] | None = None) -> int:
    options = parser(__doc__, "sc_bench_send", 8369, contacts=2000)
    options.add_argument("--smtp-port", type=int, default=2725, help="the sink's")
    options.add_argument(
        "--only", default=",".join(METHODS), help="comma-separated subset"
    )
    options.add_argument(
        "--no-query-count", action="store_true", help="skip the query count"
    )
    args = parse(options, argv)
    args.only = [name.strip() for name in args.only.split(",") if name.strip()]
    unknown = set(args.only) - set(METHODS)
    if unknown:
        options.error(f"unknown methods {sorted(unknown)}")
    e2e_server = set_up_odoo(args)
    from odoo.addons.serial_correspondence.testing import smtp_sink

    checks = Checks()
    results: dict[str, Result] = {}
    counts: dict[str, list] = {}
    database = registry = sink = None
    try:
        database = install_database(args, modules=(e2e_server.MODULE, "mass_mailing"))
        log(f"inserting {args.contacts:,} contacts (+ warm-up and query ones, SQL)")
        cr = db_cursor(args)
        for prefix, domain, count in (
            ("Bench Kontakt Müller ", EMAIL_DOMAIN, args.contacts),
            ("Warmup Kontakt ", WARMUP_DOMAIN, WARMUP_CONTACTS),
            ("Query Kontakt ", QUERY_DOMAIN, max(QUERY_SIZES)),
        ):
            insert_contacts(cr, count, prefix, "kontakt", domain)
        names = contact_names(cr, EMAIL_DOMAIN)
        cr.connection.close()
        directory = VAR / f"{args.db}-mail"
        sink = smtp_sink.spawn(
            "127.0.0.1", args.smtp_port, directory, VAR / f"{args.db}-sink.log"
        )
        log(f"SMTP sink on 127.0.0.1:{args.smtp_port} (files: {directory})")

        # set-up records through a short-lived server
        server = send_server(args, database, "setup")
        try:
            setup = setup_records(server, args)
        finally:
            server.stop()

        if "ours" in args.only:
            sink.clear()
            results["ours"] = run_ours(args, database, sink, names, setup, checks)
        if "ours_tracking" in args.only:
            sink.clear()
            results["ours_tracking"] = run_ours(
                args, database, sink, names, setup, checks, tracking=True
            )
        if "mass_mailing" in args.only:
            sink.clear()
            results["mass_mailing"] = run_mass_mailing(
                args, database, sink, names, checks
            )
        if "plain" in args.only:
            sink.clear()
            results["plain"] = run_plain(args, sink, names, checks)
        if not args.no_query_count:
            sink.clear()
            log("counting queries per recipient in this process")
            registry = load_registry(args)
            counts = count_queries(args, registry, sink, checks, setup["template_id"])
    finally:
        if sink is not None:
            sink.stop()
        release_database(args, database, registry)

    print_report(args, results, counts)
    return checks.exit_code()


if __name__ == "__main__":
    sys.exit(main())
