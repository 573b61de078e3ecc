"""Benchmark "Serial e-mail": personalised e-mails into a real SMTP sink.

What it measures
----------------
One database (``sc_bench_send`` by default, dropped first) with
serial_correspondence and Odoo's own ``mass_mailing`` installed (no demo
data), for each size of ``--sizes`` (default 2,000 and 20,000) as many
contacts with unique e-mail addresses (SQL, not measured; one address domain
per size), one ``ir.mail_server`` pointing at an SMTP sink on loopback, and
one ``mail.template`` on contacts with a personalised body of about 2 KB of
HTML ("Hallo <t t-out="object.name"/>", ...). Each method of ``--methods``
sends the same personalised e-mails (subject "Hallo <name>") to the same
sink, one after the other, at each size; the sink is emptied before each.
The clock stops when the sink holds one delivery per contact.

The sink (``--sink``): by default postfix's ``smtp-sink`` (C, one process,
event-driven, ``/usr/sbin/smtp-sink``), which writes each delivery to one
file (``-d``) and counts the messages it accepted (``-c``, read from its
output, so watching it costs nothing); it takes several thousand small
messages per second on one core, so it is never the bottleneck (its CPU
seconds are printed per run). ``--sink aiosmtpd`` uses the addon's
``testing/smtp_sink.py`` instead (Python, the tests' and the demo's sink).

Methods
ours_1. Ours over one connection: a real Odoo server (``--ours-workers``
   workers, ``--load=base,web,queue_job``, queue_job channels
   ``root:<ours-workers>``, ``--max-cron-threads=0``), the system parameter
   ``serial_correspondence.send_connections`` = 1. A serial e-mail (kind
   email, purpose information, subject "Hallo {{ object.name }}", the
   template, a sender) is created over XML-RPC with a contact filter on the
   size's contacts; once its state is ``ready``, ``action_send`` is called
   over XML-RPC and the time runs until the sink holds all deliveries (the
   time until the state is ``done_auto`` is printed too).
ours_n. The same with ``send_connections`` = ``--connections`` (N senders,
   each a send job over its own SMTP connection, ``tools/senders.py``); the
   server's channel capacity (``root:<ours-workers>``, by default N) lets
   the N send jobs run at once.
ours_tracking. (Not in the default set.) ours_1 with open/click tracking on
   and two links in the body.
mass_mailing. Odoo 18's own way, on a fresh server (``--workers``). In
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
   clock starts at ``action_send_mail``. It is slow (about 15-20 mails/s:
   20,000 take 20 minutes or more); ``--skip mass_mailing@20000`` leaves it
   out at that size, which the report then says.
plain. The physical reference, in a Python process of its own (this script
   spawned, without Odoo imported): the same messages built with
   ``email.message.EmailMessage`` (subject and the same HTML body with the
   name filled in, plus a text part, as Odoo's messages are
   multipart/alternative) and sent over ONE ``smtplib.SMTP`` connection. The
   clock runs from the first message built until the sink holds them all
   (watched from this process).

Every Odoo way runs on its own freshly started server after a warm-up (all
workers have loaded the registry, and a first small sending of the same kind
to 120 other contacts has gone through: templates compiled, caches filled);
the warm-up deliveries are cleared from the sink. Right before the clock
starts (also for the plain loop) the database gets a ``VACUUM ANALYZE`` (not
measured): PostgreSQL's autovacuum, catching up with an earlier run's writes
or the contacts just inserted, would otherwise fall into whichever run is
measured then (it once doubled the PostgreSQL CPU of a run); each run's own
writes are still vacuumed inside it when autovacuum decides so.

Correctness, each method and size: the deliveries in the sink are counted
per recipient address (envelope ``RCPT TO``): every contact exactly once, no
unknown address, none twice, none missing; subject and body carry the
contact's name; ours: every recipient ``sent`` (none left pending), no
failed job; mass_mailing: every ``mailing.trace`` ``sent``, no ``mail.mail``
left outgoing. A run of ours whose sink gets nothing new for ``--stall``
seconds before the correspondence is done is stopped and reported (with
the recipients' and jobs' states).

Memory: the peak RSS of the server's processes is sampled with psutil every
0.2 s; "worker MB" is, for ours, the largest of the workers that ran send jobs
(``queue.job.worker_pid``), for mass_mailing the largest worker, for the
plain loop its process; "server MB" is all the server's processes together
at one moment.

CPU: the CPU seconds used while each way sends (psutil: the server's
processes and the database's PostgreSQL backends; for the plain loop its
process) are printed as CPU ms per mail. The wall-clock rates depend on what
else runs on the machine (the load average is printed); the CPU figures much
less.

Queries per recipient (after the servers are stopped, in this process, one
connection): the send job of a serial e-mail (``Job.perform()``) and
mass_mailing's two steps are run for 110 and for 220 other contacts; the
difference of the SQL statements counted by Odoo (``odoo.sql_db.sql_counter``),
divided by 110, is the number of queries per additional recipient.

Goals (2-core machine): ours with N connections >= 1.5 x the plain
single-connection loop (issue 15); ours >= 4 x mass_mailing and >= 50 % of
the plain loop (issue "Serial e-mail"); worker peak RSS < 1 GB.

The exit code is 1 when a correctness check fails; missed speed or memory
goals are printed, not turned into a failure.

How to run
----------
    bench/run-bench-send.sh [--sizes 2000,20000]
        [--methods ours_1,ours_n,plain,mass_mailing] [--connections 4]
        [--ours-workers N] [--skip mass_mailing@20000] [--sink smtp-sink]
        [--smtp-port 2725] [--no-query-count] [--keep]

e.g. a quick run: ``--sizes 500 --methods ours_1,ours_n,plain``. Server logs go
to ``var/<db>-*.log``, the sink's files to ``var/<db>-mail``.
"""

from __future__ import annotations

import argparse
import collections
import email.header
import email.message
import email.parser
import email.policy
import email.utils
import html
import json
import multiprocessing
import os
import re
import shutil
import signal
import smtplib
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from pathlib import Path

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
    release_database,
    set_param,
    set_up_odoo,
    start_server,
    vacuum_database,
    wait_state,
)

EMAIL_DOMAIN = "bench.example.com"  # sizes: s<size>.bench.example.com
WARMUP_DOMAIN = "warmup.example.com"
QUERY_DOMAIN = "query.example.com"
WARMUP_CONTACTS = 120  # more than mail.mail.force.send.limit: the queue path
QUERY_SIZES = (110, 220)
SENDER = "Bench Absender <absender@sender.example.com>"
SUBJECT_TEMPLATE = "Hallo {{ object.name }}"
NAME_PLACEHOLDER = '<t t-out="object.name"/>'
POLL_INTERVAL = 0.05
DONE_STATES = ("done_auto", "sent_incomplete", "send_failed")
CONNECTIONS_PARAM = "serial_correspondence.send_connections"
SMTP_SINK = "/usr/sbin/smtp-sink"
# after the sending side is done: how long the last deliveries may take
SETTLE_SECONDS = 60.0

GOAL_N_VS_PLAIN = 1.5
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
# the sink, watching it, CPU
# ----------------------------------------------------------------------


class PostfixSink:
    """postfix's ``smtp-sink`` (C) on ``host:port``: one file per accepted
    message in ``directory`` (``-d``, with the smtp-sink headers
    ``X-Rcpt-Args: <recipient>``, one per ``RCPT TO``); :meth:`count` is the
    number of messages it accepted since the last :meth:`clear`, read from
    its running counters (``-c``: "... mesg=N", written when the final dot
    is received)."""

    PREFIX = "msg-"

    def __init__(self, host: str, port: int, directory: Path, logfile: Path):
        self.host, self.port = host, port
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self._remove_files()
        os.chmod(self.directory, 0o777)  # written by the sink's user
        command = [SMTP_SINK, "-c", "-t", "600", "-m", "512"]
        if os.geteuid() == 0:
            command += ["-u", "nobody"]  # required when started as root
        # strftime plus a random number; the time keeps names unique
        command += ["-d", f"{self.PREFIX}%H%M%S.", f"{host}:{port}", "256"]
        self._messages = 0
        self._base = 0
        self._lock = threading.Lock()
        with open(logfile, "ab") as err:
            self.process = subprocess.Popen(
                command,
                cwd=self.directory,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=err,
                start_new_session=True,
            )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection((host, port), timeout=1).close()
                break
            except OSError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(
                        f"smtp-sink did not start on {host}:{port} (see {logfile})"
                    ) from None
                time.sleep(0.05)
        # the probe connection above is a session, not a message

    def _read(self) -> None:
        pattern = re.compile(rb"mesg=(\d+)")
        tail = b""
        while True:
            chunk = self.process.stdout.read1(65536)
            if not chunk:
                return
            tail = (tail + chunk)[-256:]
            found = pattern.findall(tail)
            if found:
                with self._lock:
                    self._messages = max(self._messages, int(found[-1]))

    @property
    def pid(self) -> int:
        return self.process.pid

    def count(self) -> int:
        with self._lock:
            return self._messages - self._base

    def paths(self) -> list[Path]:
        with os.scandir(self.directory) as entries:
            return sorted(
                Path(entry.path)
                for entry in entries
                if entry.name.startswith(self.PREFIX)
            )

    def _remove_files(self) -> None:
        for entry in os.scandir(self.directory):
            if entry.is_file() and entry.name.startswith(self.PREFIX):
                os.unlink(entry.path)

    def clear(self) -> None:
        time.sleep(0.3)  # the counters of the last messages
        with self._lock:
            self._base = self._messages
        self._remove_files()

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()


def start_sink(args, directory: Path):
    logfile = VAR / f"{args.db}-sink.log"
    if args.sink == "smtp-sink":
        sink = PostfixSink("127.0.0.1", args.smtp_port, directory, logfile)
        what = f"postfix smtp-sink (C, {SMTP_SINK}, pid {sink.pid})"
    else:
        from odoo.addons.serial_correspondence.testing import smtp_sink

        sink = smtp_sink.spawn("127.0.0.1", args.smtp_port, directory, logfile)
        what = "aiosmtpd (testing/smtp_sink.py, a process of its own)"
    log(f"SMTP sink: {what} on 127.0.0.1:{args.smtp_port} (files: {directory})")
    return sink, what


def sink_cpu(sink) -> float:
    """CPU seconds the sink's process has used so far (0 if unknown)."""
    pid = getattr(sink, "pid", None) or getattr(
        getattr(sink, "process", None), "pid", None
    )
    try:
        cpu = psutil.Process(pid).cpu_times()
    except (psutil.Error, TypeError, ValueError):
        return 0.0
    return cpu.user + cpu.system


class SinkWatcher(threading.Thread):
    """Records (``time.time()``) when the sink first holds ``target``
    deliveries."""

    def __init__(self, sink, target: int):
        super().__init__(daemon=True)
        self.sink = sink
        self.target = target
        self.reached_wall: float | None = None
        self.count = 0
        self.last_change = time.monotonic()
        self._stop_event = threading.Event()

    def run(self) -> None:
        while not self._stop_event.is_set():
            count = self.sink.count()
            if count != self.count:
                self.count = count
                self.last_change = time.monotonic()
            if count >= self.target and self.reached_wall is None:
                self.reached_wall = time.time()
                return
            self._stop_event.wait(POLL_INTERVAL)

    def wait(self, timeout: float) -> float | None:
        self.join(timeout)
        return self.reached_wall

    def since(self, start_wall: float) -> float | None:
        return None if self.reached_wall is None else self.reached_wall - start_wall

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


def delivery_recipients(message) -> list[str]:
    """The envelope recipients of a delivery in the sink: smtp-sink's
    ``X-Rcpt-Args`` (one per RCPT TO), aiosmtpd's ``Delivered-To``."""
    values = message.get_all("X-Rcpt-Args") or message.get_all("Delivered-To") or []
    result = []
    for value in values:
        value = str(value).strip().lower()
        match = re.search(r"<([^>]*)>", value)
        result.append(match.group(1) if match else value.split()[0])
    return result


def message_subject_and_html(message) -> tuple[str, str]:
    """The decoded subject and HTML part of a message parsed with the
    ``compat32`` policy (20 times faster than ``default`` here: 20,000
    messages are checked per method)."""
    subject = str(message["Subject"] or "")
    subject = str(email.header.make_header(email.header.decode_header(subject)))
    content = ""
    for part in message.walk():
        if part.get_content_type() == "text/html":
            payload = part.get_payload(decode=True) or b""
            content = payload.decode(part.get_content_charset() or "utf-8", "replace")
            break
    return subject, content


def verify_deliveries(sink, names: dict[str, str], checks: Checks, label: str):
    """Exactly one delivery per contact (counted per recipient address),
    subject and body with its name; the figures for the report."""
    parser_ = email.parser.BytesParser(policy=email.policy.compat32)
    paths = sink.paths()
    recipients = collections.Counter()
    bad_subject, bad_body, sizes = [], [], []
    for path in paths:
        data = path.read_bytes()
        sizes.append(len(data))
        message = parser_.parsebytes(data)
        rcpts = delivery_recipients(message)
        for rcpt in rcpts:
            recipients[rcpt] += 1
        name = names.get(rcpts[0]) if len(rcpts) == 1 else None
        if name is None:
            continue
        subject, content = message_subject_and_html(message)
        if subject != f"Hallo {name}":
            bad_subject.append((rcpts[0], subject))
        if f"Hallo {html.escape(name, quote=False)}," not in content:
            bad_body.append(rcpts[0])
    unknown = [rcpt for rcpt in recipients if rcpt not in names]
    twice = [rcpt for rcpt, count in recipients.items() if count > 1]
    missing = [rcpt for rcpt in names if rcpt not in recipients]
    deliveries = sum(recipients.values())
    checks.expect(
        deliveries == len(names) and len(paths) == len(names),
        f"{label}: {deliveries} deliveries in {len(paths)} messages in the sink "
        f"(want {len(names)})",
    )
    checks.expect(
        not unknown and not twice and not missing,
        f"{label}: per recipient address: {len(recipients)} distinct, "
        f"{len(missing)} missing, {len(twice)} more than once"
        f"{f' (e.g. {twice[0]} {recipients[twice[0]]} x)' if twice else ''}, "
        f"{len(unknown)} unknown",
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
    return {
        "average": (sum(sizes) / len(sizes)) if sizes else 0,
        "deliveries": deliveries,
        "missing": len(missing),
        "twice": len(twice),
        "extra": deliveries - len(recipients) + len(unknown),
        "ok": not (unknown or twice or missing or bad_subject or bad_body)
        and deliveries == len(names),
    }


def delivery_summary(stats: dict) -> str:
    if stats["ok"]:
        return "ok"
    return f"FAIL: {stats['missing']} missing, {stats['twice']} twice"


def contact_names(cr, domain: str) -> dict[str, str]:
    cr.execute(
        "SELECT lower(email), name FROM res_partner WHERE email ILIKE %s",
        (f"%@{domain}",),
    )
    return dict(cr.fetchall())


def email_domain_filter(domain: str) -> list:
    return [("email", "ilike", f"@{domain}")]


def size_domain(size: int) -> str:
    return f"s{size}.{EMAIL_DOMAIN}"


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


def send_server(args, database, label: str, workers: int | None = None):
    """A fresh server for one way of sending (its own log; ``workers``
    workers and queue_job channels ``root:<workers>``, by default
    ``--workers``), with request limits long enough for mass_mailing's long
    XML-RPC calls (20,000 mails: action_send_mail alone takes minutes)."""
    if workers is not None and workers != args.workers:
        args = argparse.Namespace(**{**vars(args), "workers": workers})
    return start_server(
        args, database, label, {"limit_time_real": 7200, "limit_time_cpu": 7200}
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


class SendResult(Result):
    """A method at one size, with what the report of this benchmark adds."""

    def __init__(self, method: str, size: int, **extra):
        super().__init__(method)
        self.size = size
        self.connections: int | None = extra.get("connections")
        self.workers: int | None = extra.get("workers")
        self.capacity: int | None = extra.get("capacity")
        self.server_mb: float | None = None
        self.delivery: str = "-"  # ok / FAIL ... / skipped
        self.skipped: str | None = None


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


def send_jobs_where(correspondence_id: int) -> tuple[str, tuple]:
    return (
        "identity_key LIKE %s",
        (f"serial_correspondence_send-{correspondence_id}-%",),
    )


def wait_done(cr, correspondence_id: int, watcher, timeout: float, stall: float):
    """Poll the correspondence until it is done; (state, None) then, else
    (state, why not): a send job failed, no new delivery for ``stall``
    seconds, or ``timeout``. Each poll ends with a rollback."""
    deadline = time.monotonic() + timeout
    where, params = send_jobs_where(correspondence_id)
    state = None
    try:
        while True:
            cr.execute(
                "SELECT state FROM serial_correspondence WHERE id = %s",
                [correspondence_id],
            )
            [state] = cr.fetchone()
            if state in DONE_STATES:
                return state, None
            cr.execute(
                f"SELECT exc_info FROM queue_job WHERE state = 'failed' AND {where}"
                " LIMIT 1",
                params,
            )
            failed = cr.fetchone()
            if failed:
                return state, f"a send job failed: {(failed[0] or '')[-1500:]}"
            cr.connection.rollback()
            idle = time.monotonic() - watcher.last_change
            if idle > stall:
                return state, (
                    f"stalled: state {state!r}, {watcher.count} deliveries, none "
                    f"new for {idle:.0f} s"
                )
            if time.monotonic() > deadline:
                return state, f"timeout: state {state!r} after {timeout:.0f} s"
            time.sleep(2 * POLL_INTERVAL)
    finally:
        cr.connection.rollback()


def run_diagnostics(cr, correspondence_id: int) -> list[str]:
    """Where a run of ours stands: recipients by state and slot, jobs."""
    cr.connection.rollback()
    cr.execute(
        """
        SELECT state, send_started_at IS NOT NULL, send_slot, count(*)
          FROM serial_correspondence_recipient
         WHERE correspondence_id = %s
         GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
        """,
        (correspondence_id,),
    )
    recipients = ", ".join(
        f"{state}{' claimed' if claimed else ''} slot {slot}: {count}"
        for state, claimed, slot, count in cr.fetchall()
    )
    where, params = send_jobs_where(correspondence_id)
    cr.execute(
        f"""
        SELECT state, count(*), string_agg(DISTINCT coalesce(result, ''), ' | ')
          FROM queue_job WHERE {where} GROUP BY state
        """,
        params,
    )
    jobs = "; ".join(
        f"{state} {count} ({(results or '')[:300]})"
        for state, count, results in cr.fetchall()
    )
    cr.execute(
        "SELECT state, send_run, send_connections FROM serial_correspondence"
        " WHERE id = %s",
        (correspondence_id,),
    )
    state, send_run, connections = cr.fetchone()
    cr.connection.rollback()
    return [
        f"correspondence {correspondence_id}: state {state!r}, run {send_run}, "
        f"send_connections {connections}",
        f"recipients (state, claimed, slot): {recipients}",
        f"send jobs by state: {jobs}",
    ]


def jobs_at_once(intervals) -> int:
    """The most send jobs that ran at the same moment."""
    events = []
    for started, done in intervals:
        if started and done:
            events += [(started, 1), (done, -1)]
    running = most = 0
    for _moment, step in sorted(events, key=lambda event: (event[0], event[1])):
        running += step
        most = max(most, running)
    return most


def run_ours(
    args,
    database,
    sink,
    names: dict[str, str],
    domain: str,
    setup: dict,
    checks: Checks,
    connections: int,
    workers: int,
    method: str,
    tracking=False,
):
    """Ours over ``connections`` senders on a server with ``workers``
    workers (channel capacity the same); with ``tracking``, open/click
    tracking on and the body with links."""
    size = len(names)
    label = f"{method} @{size}"
    title = {
        "ours_1": "ours, 1 connection",
        "ours_n": f"ours, {connections} connections",
        "ours_tracking": "ours, 1 conn., tracking on",
    }[method]
    result = SendResult(
        title, size, connections=connections, workers=workers, capacity=workers
    )
    template_id = setup["links_template_id" if tracking else "template_id"]
    cr = db_cursor(args)
    set_param(cr, CONNECTIONS_PARAM, connections)
    cr.connection.close()
    server = send_server(args, database, method, workers=workers)
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
        time.sleep(0.5)
        sink.clear()

        log(
            f"{label}: creating the serial e-mail to {size} contacts, "
            "waiting for 'ready'"
        )
        start = time.perf_counter()
        correspondence_id = create_correspondence(
            server,
            cr,
            email_domain_filter(domain),
            template_id,
            args.timeout,
            tracking=tracking,
        )
        log(f"{label}: ready after {time.perf_counter() - start:.1f} s (not measured)")
        vacuum_database(args)
        commits_before = committed_transactions(cr, args.db)

        sampler = Sampler(server.process.pid)
        sampler.start()
        meter = CpuMeter(args.db, server.process.pid)
        meter.start()
        sink_before = sink_cpu(sink)
        log(f"{label}: action_send over XML-RPC ({connections} connection(s))")
        watcher = SinkWatcher(sink, size)
        start_wall = time.time()
        watcher.start()
        rpc("serial.correspondence", "action_send", [correspondence_id])
        call_seconds = time.time() - start_wall
        state, problem = wait_done(
            cr, correspondence_id, watcher, args.timeout, args.stall
        )
        done_seconds = time.time() - start_wall
        watcher.wait(SETTLE_SECONDS if problem is None else 1.0)
        watcher.stop()
        delivered = watcher.since(start_wall)
        meter.stop()
        sampler.stop()
        sink_seconds = sink_cpu(sink) - sink_before
        time.sleep(1.5)  # PostgreSQL publishes a backend's statistics within 1 s
        commits_after = committed_transactions(cr, args.db)
        log(
            f"{label}: {watcher.count} in the sink after {fmt(delivered, '.2f')} s, "
            f"state {state!r} after {done_seconds:.2f} s"
        )
        if problem:
            log(f"{label}: PROBLEM: {problem}")
            result.notes.append(f"PROBLEM: {problem}")
            result.notes += run_diagnostics(cr, correspondence_id)
            checks.expect(False, f"{label}: the run finished ({problem[:200]})")
        time.sleep(1.0)  # anything more would arrive now

        checks.expect(state == "done_auto", f"{label}: state done_auto (got {state!r})")
        checks.expect(delivered is not None, f"{label}: the sink reached the target")
        stats = verify_deliveries(sink, names, checks, label)
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
        cr.connection.rollback()
        cr.execute(
            "SELECT state, count(*) FROM serial_correspondence_recipient"
            " WHERE correspondence_id = %s GROUP BY state",
            (correspondence_id,),
        )
        by_state = dict(cr.fetchall())
        checks.expect(
            by_state == {"sent": size},
            f"{label}: recipients by state {by_state} ({by_state.get('pending', 0)} "
            "left pending)",
        )
        where, params = send_jobs_where(correspondence_id)
        cr.execute(
            f"""
            SELECT count(*), count(*) FILTER (WHERE state = 'failed'),
                   coalesce(sum(exec_time), 0), array_agg(DISTINCT worker_pid),
                   min(date_started - date_enqueued),
                   array_agg(date_started), array_agg(date_done)
              FROM queue_job
             WHERE {where}
            """,
            params,
        )
        jobs, failed, exec_sum, worker_pids, pickup, starts, dones = cr.fetchone()
        at_once = jobs_at_once(zip(starts or [], dones or [], strict=True))
        checks.expect(not failed, f"{label}: no failed send job ({failed} failed)")
        cr.execute(
            "SELECT send_connections FROM serial_correspondence WHERE id = %s",
            (correspondence_id,),
        )
        [used_connections] = cr.fetchone()
        checks.expect(
            used_connections == connections,
            f"{label}: the run used {used_connections} connection(s) "
            f"(want {connections})",
        )
        cr.connection.close()

        result.seconds = delivered
        result.count = size
        result.delivery = delivery_summary(stats)
        if by_state != {"sent": size}:
            result.delivery += f"; recipients {by_state}"
        job_pids = [pid for pid in worker_pids or [] if pid in sampler.peak_by_pid]
        result.peak_mb = sampler.peak_of(job_pids) / MB
        result.server_mb = sampler.peak_total / MB
        result.notes.append(
            f"action_send call {call_seconds:.2f} s, state {state} after "
            f"{done_seconds:.2f} s; {jobs} send job(s) in {len(job_pids)} "
            f"worker(s), at most {at_once} at "
            f"once, {exec_sum:.2f} s inside; first started at most "
            f"{pickup.total_seconds() if pickup else 0:.2f} s after enqueued "
            "(queue_job cuts the enqueue time to whole seconds)"
        )
        result.notes.append(
            f"{(commits_after - commits_before) / size:.2f} PostgreSQL commits "
            f"per recipient (whole database, this benchmark's polling not "
            f"included), average message {stats['average'] / 1024:.1f} KB; "
            f"sink CPU {sink_seconds:.1f} s"
        )
        result.notes.append(meter.note(size, job_pids, "the send jobs' workers"))
        result.cpu_ms = 1000 * (meter.total("odoo") + meter.total("postgres")) / size
        result.notes.append(
            "peak RSS per process: " + sampler.per_process(job_pids, "ran send jobs")
        )
        result.notes += error_note(server)
    finally:
        server.stop()
    return result


# ----------------------------------------------------------------------
# mass_mailing
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


def run_mass_mailing(
    args, database, sink, names: dict[str, str], domain: str, checks: Checks
):
    size = len(names)
    label = f"mass_mailing @{size}"
    result = SendResult("mass_mailing (Odoo 18)", size, workers=args.workers)
    server = send_server(args, database, "mass_mailing")
    try:
        cr = db_cursor(args)
        # Odoo's default: above 100 recipients the composer queues the mails
        set_param(cr, "mail.mail.force.send.limit", 100)
        warm_up_workers(server)

        log(f"{label}: warm-up, a mailing to {WARMUP_CONTACTS} other contacts")
        warmup_id = create_mailing(server, email_domain_filter(WARMUP_DOMAIN))
        send_mailing(server, cr, warmup_id)
        deadline = time.monotonic() + 60
        while sink.count() < WARMUP_CONTACTS and time.monotonic() < deadline:
            time.sleep(0.2)
        time.sleep(0.5)
        sink.clear()

        mailing_id = create_mailing(server, email_domain_filter(domain))
        vacuum_database(args)
        sampler = Sampler(server.process.pid)
        sampler.start()
        meter = CpuMeter(args.db, server.process.pid)
        meter.start()
        sink_before = sink_cpu(sink)
        log(f"{label}: action_send_mail + process_email_queue over RPC")
        watcher = SinkWatcher(sink, size)
        start_wall = time.time()
        watcher.start()
        steps = send_mailing(server, cr, mailing_id)
        calls_seconds = time.time() - start_wall
        watcher.wait(SETTLE_SECONDS)
        watcher.stop()
        delivered = watcher.since(start_wall)
        meter.stop()
        sampler.stop()
        sink_seconds = sink_cpu(sink) - sink_before
        log(f"{label}: {watcher.count} in the sink after {fmt(delivered, '.2f')} s")
        time.sleep(1.0)

        checks.expect(delivered is not None, f"{label}: the sink reached the target")
        stats = verify_deliveries(sink, names, checks, label)
        cr.execute(
            "SELECT trace_status, count(*) FROM mailing_trace"
            " WHERE mass_mailing_id = %s GROUP BY trace_status",
            (mailing_id,),
        )
        traces = dict(cr.fetchall())
        checks.expect(traces == {"sent": size}, f"{label}: traces by status {traces}")
        cr.execute(
            "SELECT count(*) FROM mail_mail WHERE mailing_id = %s"
            " AND state IN ('outgoing', 'exception')",
            (mailing_id,),
        )
        [left] = cr.fetchone()
        checks.expect(not left, f"{label}: {left} mail.mail left outgoing or failed")
        cr.execute("SELECT state FROM mailing_mailing WHERE id = %s", (mailing_id,))
        [state] = cr.fetchone()
        checks.expect(state == "done", f"{label}: mailing state {state!r}")
        cr.connection.close()

        result.seconds = delivered
        result.count = size
        result.delivery = delivery_summary(stats)
        if traces != {"sent": size}:
            result.delivery += f"; traces {traces}"
        result.peak_mb = sampler.peak_of(sampler.pids("worker")) / MB
        result.server_mb = sampler.peak_total / MB
        result.notes.append(
            "calls (what the crons 'Mail Marketing: Process queue' and 'Mail: Email "
            "Queue Manager' run): "
            + ", ".join(f"{name} {seconds:.2f} s" for name, seconds in steps[:4])
            + (f", ... ({len(steps)} calls)" if len(steps) > 4 else "")
            + f"; all calls {calls_seconds:.2f} s; average message "
            f"{stats['average'] / 1024:.1f} KB; sink CPU {sink_seconds:.1f} s"
        )
        result.notes.append(meter.note(size))
        result.cpu_ms = 1000 * (meter.total("odoo") + meter.total("postgres")) / size
        result.notes.append("peak RSS per process: " + sampler.per_process())
        result.notes += error_note(server)
    finally:
        server.stop()
    return result


# ----------------------------------------------------------------------
# the plain loop
# ----------------------------------------------------------------------


def html_to_text(body: str) -> str:
    text = re.sub(r"<br\s*/?>", "\n", body)
    text = re.sub(r"</(p|tr|div)>", "\n\n", text)
    text = re.sub(r"<[^>]+>", " ", text)
    text = html.unescape(re.sub(r"[ \t]+", " ", text))
    return re.sub(r"\n\s*\n+", "\n\n", text).strip()


def plain_loop(host, port, names: dict, db: str):
    """Build and send the messages over one connection (in a process of its
    own, without Odoo: see :func:`run_plain`); the sink is watched by the
    parent. Returns the wall-clock start (``time.time()``)."""
    contacts = sorted(names.items())
    sampler = Sampler(os.getpid(), tree=False)
    sampler.start()
    meter = CpuMeter(db, os.getpid())
    meter.start()
    start_wall = time.time()
    start = time.perf_counter()
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
    meter.stop()
    sampler.stop()
    return {
        "start_wall": start_wall,
        "sent": sent,
        "peak": sampler.peak_single,
        "cpu": meter.total("odoo"),
        "load": (meter.load_before[0], meter.load_after[0]),
    }


def run_plain(args, sink, names: dict[str, str], checks: Checks) -> SendResult:
    """The plain loop runs in a fresh process (spawned, this script without
    Odoo imported), as this benchmark's process was before it served the
    harness: its peak RSS and CPU are those of that process."""
    size = len(names)
    label = f"plain @{size}"
    result = SendResult("plain smtplib loop, 1 conn.", size, connections=1)
    # the database's own clean-up after the runs before (autovacuum) would
    # share the CPU with the loop
    vacuum_database(args)
    log(f"{label}: building and sending {size} messages over one connection")
    with ProcessPoolExecutor(
        1, mp_context=multiprocessing.get_context("spawn")
    ) as pool:
        pool.submit(os.getpid).result()  # the process is up
        watcher = SinkWatcher(sink, size)
        watcher.start()
        sink_before = sink_cpu(sink)
        run = pool.submit(plain_loop, sink.host, sink.port, names, args.db).result()
    watcher.wait(SETTLE_SECONDS)
    watcher.stop()
    sink_seconds = sink_cpu(sink) - sink_before
    delivered = watcher.since(run["start_wall"])
    log(f"{label}: {watcher.count} in the sink after {fmt(delivered, '.2f')} s")
    time.sleep(0.5)
    checks.expect(delivered is not None, f"{label}: the sink reached the target")
    stats = verify_deliveries(sink, names, checks, label)
    result.seconds = delivered
    result.count = size
    result.delivery = delivery_summary(stats)
    result.peak_mb = result.server_mb = run["peak"] / MB
    result.notes.append(
        f"loop {run['sent']:.2f} s; average message {stats['average'] / 1024:.1f} "
        f"KB; peak RSS is the loop's process; sink CPU {sink_seconds:.1f} s"
    )
    result.cpu_ms = 1000 * run["cpu"] / size
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


def print_report(args, results: dict, counts: dict[str, list], sink_what: str):
    print()
    print(
        f"== personalised e-mails into the SMTP sink: {sink_what}; "
        f"{os.cpu_count()} CPUs, load average now {os.getloadavg()[0]:.2f}"
    )
    print(
        f"   ours: --workers={args.ours_workers} queue_job channels "
        f"root:{args.ours_workers} (capacity {args.ours_workers}); ours_n: "
        f"send_connections={args.connections}; mass_mailing: "
        f"--workers={args.workers}"
    )
    header = (
        f"{'size':>6} {'method':<30} {'conn':>4} {'workers':>7} {'seconds':>8} "
        f"{'mails/s':>8} {'x plain':>7} {'worker MB':>9} {'server MB':>9} "
        f"{'CPU ms/mail':>11}  deliveries (per address)"
    )
    print(header)
    for size in args.sizes:
        plain = results.get((size, "plain"))
        for method in args.methods:
            result = results.get((size, method))
            if result is None:
                continue
            if result.skipped:
                print(f"{size:>6} {result.method:<30} skipped: {result.skipped}")
                continue
            ratio = (
                result.per_second / plain.per_second
                if plain and plain.per_second and result.per_second
                else None
            )
            workers = (
                f"{result.workers}/{result.capacity}"
                if result.capacity
                else (str(result.workers) if result.workers else "-")
            )
            print(
                f"{size:>6} {result.method:<30} "
                f"{result.connections if result.connections else '-':>4} "
                f"{workers:>7} {fmt(result.seconds, '8.2f')} "
                f"{fmt(result.per_second, '8.1f')} {fmt(ratio, '7.2f')} "
                f"{fmt(result.peak_mb, '9.0f')} {fmt(result.server_mb, '9.0f')} "
                f"{fmt(result.cpu_ms, '11.1f')}  "
                + (f"FAILED: {result.failed}" if result.failed else result.delivery)
            )
    print(
        "  (workers: Odoo workers / queue_job channel capacity; worker MB: peak RSS "
        "of the largest worker that sent (ours: ran send jobs), the loop's process "
        "for plain; server MB: all the server's processes at one moment; CPU "
        "ms/mail: Odoo processes + PostgreSQL backends, the loop's process for "
        "plain, the sink's CPU not counted)"
    )
    for size in args.sizes:
        for method in args.methods:
            result = results.get((size, method))
            if result is None or result.skipped:
                continue
            for note in result.notes:
                print(f"  {method} @{size}: {note}")
    for name, values in counts.items():
        if len(values) == 2:
            (small, q_small, s_small), (large, q_large, s_large) = values
            print(
                f"queries ({name}, in-process, 1 connection): {q_small} for {small} "
                f"recipients ({s_small:.2f} s), {q_large} for {large} "
                f"({s_large:.2f} s): "
                f"{(q_large - q_small) / (large - small):.1f} per additional recipient"
            )
    verdicts = []
    for size in args.sizes:

        def rate(method, size=size):
            result = results.get((size, method))
            return result.per_second if result and not result.skipped else None

        plain, mass = rate("plain"), rate("mass_mailing")
        one, many = rate("ours_1"), rate("ours_n")
        if many and one:
            print(
                f"@{size}: ours {args.connections} connections / 1 connection: "
                f"{many / one:.2f} x"
            )
        if many and plain:
            ratio = many / plain
            verdicts.append(
                (
                    ratio >= GOAL_N_VS_PLAIN,
                    f"@{size}: ours with {args.connections} connections "
                    f"{ratio:.2f} x the plain loop >= {GOAL_N_VS_PLAIN} x",
                )
            )
        best = many or one
        best_name = "ours_n" if many else "ours_1"
        if best and mass:
            ratio = best / mass
            verdicts.append(
                (
                    ratio >= GOAL_VS_MASS_MAILING,
                    f"@{size}: {best_name} {ratio:.2f} x mass_mailing >= "
                    f"{GOAL_VS_MASS_MAILING:.0f} x",
                )
            )
        if one and plain:
            ratio = one / plain
            verdicts.append(
                (
                    ratio >= GOAL_VS_PLAIN,
                    f"@{size}: ours_1 {100 * ratio:.0f} % of the plain loop "
                    f">= {100 * GOAL_VS_PLAIN:.0f} %",
                )
            )
        for method in args.methods:
            result = results.get((size, method))
            if method.startswith("ours") and result and not result.skipped:
                verdicts.append(
                    (
                        result.peak_mb is not None and result.peak_mb < GOAL_PEAK_MB,
                        f"@{size}: {method} worker peak "
                        f"{fmt(result.peak_mb, '.0f')} MB < {GOAL_PEAK_MB:.0f} MB",
                    )
                )
    for ok, text in verdicts:
        print(f"verdict: {'MET   ' if ok else 'MISSED'} {text}")
    goal = [ok for ok, text in verdicts if f"{GOAL_N_VS_PLAIN} x" in text]
    if goal:
        print(
            f"GOAL (ours with {args.connections} connections >= {GOAL_N_VS_PLAIN} x "
            f"the plain single-connection loop): "
            + ("MET at every size" if all(goal) else "NOT MET")
        )


# ----------------------------------------------------------------------
# main
# ----------------------------------------------------------------------


METHODS = ("ours_1", "ours_n", "ours_tracking", "plain", "mass_mailing")
DEFAULT_METHODS = ("ours_1", "ours_n", "plain", "mass_mailing")
ALIASES = {"ours": "ours_1"}  # the method names before issue 15


def comma_list(text: str) -> list[str]:
    return [item.strip() for item in text.split(",") if item.strip()]


def main(argv: list[str] | None = None) -> int:
    options = parser(__doc__, "sc_bench_send", 8369, timeout=3600.0)
    options.add_argument(
        "--sizes", default="2000,20000", help="comma-separated numbers of e-mails"
    )
    options.add_argument(
        "--contacts", type=int, help="one size (the option before --sizes)"
    )
    options.add_argument(
        "--methods",
        "--only",
        default=",".join(DEFAULT_METHODS),
        help=f"comma-separated, of {', '.join(METHODS)}",
    )
    options.add_argument(
        "--connections", type=int, default=4, help="N of ours_n (send_connections)"
    )
    options.add_argument(
        "--ours-workers",
        type=int,
        help="Odoo workers (= queue_job channel capacity) of ours' servers "
        "(default: the larger of --workers and --connections)",
    )
    options.add_argument(
        "--skip",
        default="",
        help="comma-separated method@size to leave out, e.g. mass_mailing@20000",
    )
    options.add_argument(
        "--sink",
        choices=("smtp-sink", "aiosmtpd"),
        default="smtp-sink" if os.access(SMTP_SINK, os.X_OK) else "aiosmtpd",
        help="postfix's smtp-sink (C) or the addon's testing/smtp_sink.py",
    )
    options.add_argument("--smtp-port", type=int, default=2725, help="the sink's")
    options.add_argument(
        "--stall",
        type=float,
        default=180.0,
        help="seconds without a new delivery before a run of ours is given up",
    )
    options.add_argument(
        "--no-query-count", action="store_true", help="skip the query count"
    )
    args = parse(options, argv)
    try:
        args.sizes = sorted(
            {args.contacts}
            if args.contacts
            else {int(s) for s in comma_list(args.sizes)}
        )
    except ValueError:
        options.error(f"--sizes: numbers, not {args.sizes!r}")
    if not args.sizes or min(args.sizes) < 1:
        options.error("--sizes: at least one size > 0")
    args.methods = [ALIASES.get(name, name) for name in comma_list(args.methods)]
    unknown = set(args.methods) - set(METHODS)
    if unknown:
        options.error(f"unknown methods {sorted(unknown)}")
    args.methods = [name for name in METHODS if name in args.methods]
    args.skip = set(comma_list(args.skip))
    if args.ours_workers is None:
        args.ours_workers = max(args.workers, args.connections)
    if args.connections < 1:
        options.error("--connections: at least 1")
    e2e_server = set_up_odoo(args)

    checks = Checks()
    results: dict[tuple[int, str], SendResult] = {}
    counts: dict[str, list] = {}
    database = registry = sink = None
    sink_what = args.sink
    directory = VAR / f"{args.db}-mail"
    log(
        f"sizes {args.sizes}, methods {args.methods}, ours_n: {args.connections} "
        f"connections; ours' servers {args.ours_workers} workers (channel "
        f"root:{args.ours_workers}), mass_mailing's {args.workers}"
    )
    try:
        database = install_database(args, modules=(e2e_server.MODULE, "mass_mailing"))
        cr = db_cursor(args)
        names_by_size = {}
        for size in args.sizes:
            log(f"inserting {size:,} contacts @{size_domain(size)} (SQL)")
            insert_contacts(
                cr, size, "Bench Kontakt Müller ", "kontakt", size_domain(size)
            )
            names_by_size[size] = contact_names(cr, size_domain(size))
        insert_contacts(
            cr, WARMUP_CONTACTS, "Warmup Kontakt ", "kontakt", WARMUP_DOMAIN
        )
        insert_contacts(cr, max(QUERY_SIZES), "Query Kontakt ", "kontakt", QUERY_DOMAIN)
        cr.connection.close()
        sink, sink_what = start_sink(args, directory)

        # set-up records through a short-lived server
        server = send_server(args, database, "setup")
        try:
            setup = setup_records(server, args)
        finally:
            server.stop()

        for size in args.sizes:
            names, domain = names_by_size[size], size_domain(size)
            for method in args.methods:
                if f"{method}@{size}" in args.skip:
                    result = SendResult(method, size)
                    result.skipped = f"left out by --skip {method}@{size}"
                    results[(size, method)] = result
                    log(f"{method} @{size}: skipped (--skip)")
                    continue
                sink.clear()
                try:
                    if method == "plain":
                        result = run_plain(args, sink, names, checks)
                    elif method == "mass_mailing":
                        result = run_mass_mailing(
                            args, database, sink, names, domain, checks
                        )
                    else:
                        result = run_ours(
                            args,
                            database,
                            sink,
                            names,
                            domain,
                            setup,
                            checks,
                            connections=args.connections if method == "ours_n" else 1,
                            workers=args.ours_workers,
                            method=method,
                            tracking=method == "ours_tracking",
                        )
                except Exception as error:  # reported, the next method goes on
                    log(f"{method} @{size}: FAILED: {error!r}")
                    result = SendResult(method, size)
                    result.failed = f"{type(error).__name__}: {str(error)[:300]}"
                    checks.expect(False, f"{method} @{size}: ran ({result.failed})")
                results[(size, method)] = result
                log(
                    f"{method} @{size}: {fmt(result.per_second, '.1f')} mails/s, "
                    f"{fmt(result.seconds, '.2f')} s, worker peak "
                    f"{fmt(result.peak_mb, '.0f')} MB, CPU "
                    f"{fmt(result.cpu_ms, '.1f')} ms/mail, deliveries "
                    f"{result.failed or result.delivery}"
                )
        if not args.no_query_count:
            sink.clear()
            log("counting queries per recipient in this process (1 connection)")
            cr = db_cursor(args)
            set_param(cr, CONNECTIONS_PARAM, 1)
            cr.connection.close()
            registry = load_registry(args)
            counts = count_queries(args, registry, sink, checks, setup["template_id"])
    finally:
        if sink is not None:
            sink.stop()
        release_database(args, database, registry)
        if not args.keep:
            shutil.rmtree(directory, ignore_errors=True)

    print_report(args, results, counts, sink_what)
    return checks.exit_code()


if __name__ == "__main__":
    sys.exit(main())
