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
   messages. With ``--mass-mailing-mode force_send`` the system parameter
   ``mail.mail.force.send.limit`` is raised so that the composer sends every
   batch of 50 at once instead of queueing (one XML-RPC call; not Odoo's
   default). Checked: 2,000 deliveries, distinct, personalised, 2,000
   ``mailing.trace`` records ``sent``.
plain loop. The physical reference, in this benchmark's own process: the
   same 2,000 messages built with ``email.message.EmailMessage`` (subject and
   the same HTML body with the name filled in, plus a text part, as Odoo's
   messages are multipart/alternative) and sent over ONE ``smtplib.SMTP``
   connection. The clock runs from the first message built until the sink
   holds 2,000.

Memory: the peak RSS of the server's processes is sampled with psutil every
0.2 s; the figure for ours is the worker that ran the send job
(``queue.job.worker_pid``), for mass_mailing the largest worker (the one that
answered the XML-RPC calls), for the plain loop this process. Every Odoo way
is measured on its own freshly started server after a warm-up (all workers
have loaded the registry, and a first small sending of the same kind to 120
other contacts has gone through: templates compiled, caches filled); the
warm-up deliveries are cleared from the sink.

CPU: the CPU seconds used while each way sends (psutil: the server's
processes and the database's PostgreSQL backends; for the plain loop this
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
                            [--mass-mailing-mode queue|force_send] [--profile DIR]

``--profile DIR`` attaches ``py-spy record`` (raw collapsed stacks) to the
server's workers while ours sends, and prints the heaviest functions of the
worker that ran the send job (the figures of that run are slowed by the
sampling). Server logs go to ``var/<db>-*.log``.
"""

from __future__ import annotations

import argparse
import collections
import email.message
import email.parser
import email.policy
import email.utils
import hashlib
import html
import json
import os
import re
import shutil
import signal
import smtplib
import subprocess
import sys
import threading
import time
import urllib.request
import xmlrpc.client
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_import import (
    ADMIN_LOGIN,
    ADMIN_PASSWORD,
    ADMIN_UID,
    MB,
    REPO_ROOT,
    Checks,
    OdooServer,
    RssSampler,
    drop_database,
    exit_code,
    load_registry,
    log,
    pg_connect,
    pg_cursor,
    release_database,
    use_addons_path,
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
# the SMTP sink, in its own process
# ----------------------------------------------------------------------


def serve_sink(host: str, port: int, directory: str, addons_path: str) -> int:
    """``--serve-sink``: run the addon's SMTP sink (``testing/smtp_sink.py``)
    without a line per message, until SIGTERM."""
    use_addons_path(addons_path)
    from odoo.addons.serial_correspondence.testing import smtp_sink

    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    controller = smtp_sink.start(host, port, directory)
    print(f"sink listening on {host}:{port}, storing in {directory}", flush=True)
    try:
        while not stop.wait(1):
            pass
    finally:
        controller.stop()
    return 0


class Sink:
    """The sink process and its directory: one .eml file per delivery."""

    def __init__(self, args):
        self.host = "127.0.0.1"
        self.port = args.smtp_port
        self.addons_path = args.addons_path
        self.directory = REPO_ROOT / "var" / f"{args.db}-mail"
        self.logfile = REPO_ROOT / "var" / f"{args.db}-sink.log"
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        shutil.rmtree(self.directory, ignore_errors=True)
        self.directory.mkdir(parents=True)
        with open(self.logfile, "w") as out:
            self.process = subprocess.Popen(
                [
                    sys.executable,
                    str(Path(__file__).resolve()),
                    "--serve-sink",
                    f"{self.host}:{self.port}:{self.directory}",
                    f"--addons-path={self.addons_path}",
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the SMTP sink exited; see {self.logfile}")
            try:
                with smtplib.SMTP(self.host, self.port, timeout=2) as probe:
                    probe.noop()
                log(f"SMTP sink on {self.host}:{self.port} (files: {self.directory})")
                return
            except OSError:
                time.sleep(0.2)
        raise RuntimeError(f"the SMTP sink did not answer; see {self.logfile}")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def count(self) -> int:
        with os.scandir(self.directory) as entries:
            return sum(
                1
                for entry in entries
                if entry.name.endswith(".eml") and not entry.name.startswith(".")
            )

    def paths(self) -> list[Path]:
        return sorted(
            path
            for path in self.directory.glob("*.eml")
            if not path.name.startswith(".")
        )

    def clear(self) -> None:
        for path in self.directory.iterdir():
            path.unlink(missing_ok=True)


class SinkWatcher(threading.Thread):
    """Records when the sink first holds ``target`` deliveries."""

    def __init__(self, sink: Sink, target: int, start: float):
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


def verify_deliveries(sink: Sink, names: dict[str, str], checks: Checks, label: str):
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
# results
# ----------------------------------------------------------------------


@dataclass
class Result:
    method: str
    seconds: float | None = None
    mails: int = 0
    peak_mb: float | None = None
    cpu_ms: float | None = None  # CPU per mail of the sending side (not the sink)
    notes: list[str] = field(default_factory=list)

    @property
    def per_second(self) -> float | None:
        if not self.seconds:
            return None
        return self.mails / self.seconds


# ----------------------------------------------------------------------
# database set-up
# ----------------------------------------------------------------------


def install_database(args) -> None:
    drop_database(args.db)
    logfile = REPO_ROOT / "var" / f"{args.db}-install.log"
    command = [
        sys.executable,
        str(args.odoo_bin),
        f"--database={args.db}",
        f"--addons-path={args.addons_path}",
        "--init=serial_correspondence,mass_mailing",
        "--without-demo=all",
        "--stop-after-init",
        "--no-http",
        "--log-level=warn",
        f"--logfile={logfile}",
    ]
    log(
        f"installing serial_correspondence and mass_mailing into {args.db} "
        f"(log: {logfile})"
    )
    subprocess.run(command, check=True)


def insert_contacts(db: str, groups: list[tuple[str, str, int]]) -> None:
    """Insert contacts with plain SQL (set-up, not measured): for each
    ``(name prefix, e-mail domain, count)``."""
    with pg_cursor(db) as cr:
        for prefix, domain, count in groups:
            cr.execute(
                """
                INSERT INTO res_partner
                    (name, complete_name, type, active, is_company, lang,
                     email, email_normalized, street, zip, city, country_id,
                     partner_share, email_advertising_consent,
                     letter_advertising_consent, no_letters, message_bounce,
                     create_uid, write_uid, create_date, write_date)
                SELECT %(prefix)s || n, %(prefix)s || n, 'contact',
                       true, false, 'en_US',
                       'kontakt' || n || '@' || %(domain)s,
                       'kontakt' || n || '@' || %(domain)s,
                       n || ' Bench Street', lpad((n %% 99999 + 1)::text, 5, '0'),
                       'Benchtown', (SELECT id FROM res_country WHERE code = 'DE'),
                       true, 'unknown', 'unknown', false, 0,
                       1, 1, now() AT TIME ZONE 'UTC', now() AT TIME ZONE 'UTC'
                  FROM generate_series(1, %(count)s) AS n
                """,
                {"prefix": prefix, "domain": domain, "count": count},
            )
        cr.execute(
            "UPDATE res_partner SET commercial_partner_id = id"
            " WHERE commercial_partner_id IS NULL"
        )
        cr.execute("ANALYZE res_partner")


def contact_names(db: str, domain: str) -> dict[str, str]:
    with pg_cursor(db) as cr:
        cr.execute(
            "SELECT lower(email), name FROM res_partner WHERE email ILIKE %s",
            (f"%@{domain}",),
        )
        return dict(cr.fetchall())


def partner_ids(db: str, domain: str) -> list[int]:
    with pg_cursor(db) as cr:
        cr.execute(
            "SELECT id FROM res_partner WHERE email ILIKE %s ORDER BY id",
            (f"%@{domain}",),
        )
        return [row[0] for row in cr.fetchall()]


def email_domain_filter(domain: str) -> list:
    return [("email", "ilike", f"@{domain}")]


# ----------------------------------------------------------------------
# the Odoo server
# ----------------------------------------------------------------------


class SendServer(OdooServer):
    """The import benchmark's server, one log per way of sending, and
    request limits long enough for mass_mailing's long XML-RPC calls."""

    extra_options = ("--limit-time-real=1800", "--limit-time-cpu=1800")

    def workers(self) -> list[psutil.Process]:
        try:
            children = psutil.Process(self.process.pid).children(recursive=True)
        except psutil.NoSuchProcess:
            return []
        result = []
        for child in children:
            try:
                if "gevent" not in child.cmdline():
                    result.append(child)
            except psutil.Error:
                pass
        return result


class Rpc:
    def __init__(self, url: str, db: str):
        self.url = url
        self.db = db
        common = xmlrpc.client.ServerProxy(f"{url}/xmlrpc/2/common")
        self.uid = common.authenticate(db, ADMIN_LOGIN, ADMIN_PASSWORD, {})
        if not self.uid:
            raise RuntimeError("admin/admin cannot log in")

    def __call__(self, model: str, method: str, *args, **kwargs):
        # a proxy per call: calls may come from several threads
        proxy = xmlrpc.client.ServerProxy(
            f"{self.url}/xmlrpc/2/object", allow_none=True
        )
        return proxy.execute_kw(
            self.db, self.uid, ADMIN_PASSWORD, model, method, list(args), kwargs
        )

    def json(self, model: str, method: str, *args, **kwargs):
        """The same over JSON-RPC, for methods that return None (XML-RPC
        cannot marshal it, and the error would roll the request back)."""
        payload = {
            "jsonrpc": "2.0",
            "method": "call",
            "id": 1,
            "params": {
                "service": "object",
                "method": "execute_kw",
                "args": [
                    self.db,
                    self.uid,
                    ADMIN_PASSWORD,
                    model,
                    method,
                    list(args),
                    kwargs,
                ],
            },
        }
        request = urllib.request.Request(
            f"{self.url}/jsonrpc",
            data=json.dumps(payload).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=3600) as response:
            answer = json.loads(response.read())
        if answer.get("error"):
            raise RuntimeError(json.dumps(answer["error"])[:3000])
        return answer.get("result")


def warm_up_workers(server: SendServer, rpc: Rpc) -> None:
    """Let every worker answer a few requests (the registry itself is loaded
    by the server before it forks its workers)."""
    with ThreadPoolExecutor(max_workers=2 * server.args.workers) as pool:
        for _ in range(3):
            list(
                pool.map(
                    lambda _: rpc(
                        "res.partner", "search_read", [], fields=["name"], limit=200
                    ),
                    range(4 * server.args.workers),
                )
            )


def setup_records(rpc: Rpc, args) -> dict:
    """ir.mail_server on the sink and the mail.template (set-up, once)."""
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
    return {"template_id": template_id}


# ----------------------------------------------------------------------
# ours: serial_correspondence through queue_job
# ----------------------------------------------------------------------


def create_correspondence(rpc: Rpc, cr, domain: list, template_id: int, timeout: float):
    correspondence_id = rpc(
        "serial.correspondence",
        "create",
        {
            "kind": "email",
            "purpose": "information",
            "subject": SUBJECT_TEMPLATE,
            "template_id": template_id,
            "email_from": SENDER,
            "partner_domain": repr(domain),
        },
    )
    wait_for_state(cr, correspondence_id, {"ready"}, timeout)
    return correspondence_id


def wait_for_state(cr, correspondence_id: int, states: set, timeout: float):
    """Poll the state. ``cr`` is not in autocommit: each poll ends with a
    rollback, so that polling adds no committed transaction to the counts
    of pg_stat_database."""
    deadline = time.monotonic() + timeout
    state = None
    try:
        while time.monotonic() < deadline:
            cr.execute(
                "SELECT state FROM serial_correspondence WHERE id = %s",
                (correspondence_id,),
            )
            [state] = cr.fetchone()
            if state in states:
                return state
            cr.execute(
                "SELECT exc_info FROM queue_job WHERE state = 'failed'"
                " AND identity_key LIKE %s",
                (f"serial_correspondence_%-{correspondence_id}-%",),
            )
            failed = cr.fetchone()
            if failed:
                raise RuntimeError(f"a job failed: {failed[0][-1500:]}")
            cr.connection.rollback()
            time.sleep(POLL_INTERVAL)
    finally:
        cr.connection.rollback()
    raise RuntimeError(
        f"correspondence {correspondence_id} still in state {state!r} after {timeout} s"
    )


def committed_transactions(cr, db: str) -> int:
    """Transactions committed in ``db`` so far (fresh statistics)."""
    cr.connection.rollback()  # the statistics are cached per transaction
    cr.execute("SELECT xact_commit FROM pg_stat_database WHERE datname = %s", (db,))
    [count] = cr.fetchone()
    cr.connection.rollback()
    return count


class PySpy:
    """``py-spy record`` on processes, raw collapsed stacks, until stopped."""

    def __init__(self, directory: Path, label: str):
        self.directory = directory
        self.label = label
        self.processes: dict[int, tuple[subprocess.Popen, Path]] = {}

    def start(self, pids: list[int]) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        executable = shutil.which("py-spy")
        if not executable:
            raise RuntimeError("py-spy not found (pip install py-spy)")
        for pid in pids:
            output = self.directory / f"{self.label}-{pid}.txt"
            process = subprocess.Popen(
                [
                    executable,
                    "record",
                    "--pid",
                    str(pid),
                    "--rate",
                    "250",
                    "--format",
                    "raw",
                    "--nonblocking",
                    "--output",
                    str(output),
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                stdin=subprocess.DEVNULL,
            )
            self.processes[pid] = (process, output)
        time.sleep(1.0)  # let py-spy attach

    def stop(self) -> dict[int, Path]:
        outputs = {}
        for pid, (process, output) in self.processes.items():
            if process.poll() is None:
                process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            if output.exists():
                outputs[pid] = output
        return outputs


def summarize_profile(path: Path, max_lines: int = 70) -> list[str]:
    """The call tree below ``_send_emails`` in raw py-spy stacks: each
    function's share of the samples inside the send job (from 2 %, 10 levels deep),
    then the heaviest self times."""
    root: dict = {"count": 0, "children": {}}
    own: collections.Counter = collections.Counter()
    total = 0
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        frames = [_frame_key(frame.strip()) for frame in stack.split(";")]
        starts = [
            i
            for i, frame in enumerate(frames)
            if frame.split(" ")[0].endswith("._send_emails")
        ]
        if not starts:
            continue
        samples = int(count)
        total += samples
        node = root
        node["count"] += samples
        for frame in frames[starts[-1] :]:
            node = node["children"].setdefault(frame, {"count": 0, "children": {}})
            node["count"] += samples
        own[frames[-1]] += samples
    if not total:
        return ["no samples inside _send_emails"]
    lines = [f"{total} samples inside the send job; call tree, share of them:"]

    def walk(node: dict, depth: int) -> None:
        for frame, child in sorted(
            node["children"].items(), key=lambda item: -item[1]["count"]
        ):
            share = 100 * child["count"] / total
            if share < 2.0 or depth > 9 or len(lines) >= max_lines:
                continue
            lines.append(f"  {share:5.1f} % {'  ' * depth}{frame}")
            walk(child, depth + 1)

    walk(root, 0)
    lines.append("heaviest self time:")
    for key, samples in own.most_common(12):
        lines.append(f"  {100 * samples / total:5.1f} % {key}")
    return lines


def _frame_key(frame: str) -> str:
    # "function (path/file.py:line)" -> "function (file.py)"
    match = re.match(r"(.*?) \((.*?)(?::\d+)?\)$", frame)
    if not match:
        return frame
    function, path = match.groups()
    parts = path.split("/")
    short = "/".join(parts[-3:]) if "addons" in parts else "/".join(parts[-2:])
    return f"{function} ({short})"


def run_ours(
    args, sink: Sink, names: dict[str, str], setup: dict, checks: Checks
) -> Result:
    result = Result("ours (serial_correspondence)")
    server = SendServer(args, "ours")
    server.start()
    profiler = None
    try:
        rpc = Rpc(server.url, args.db)
        warm_up_workers(server, rpc)
        db = pg_connect(args.db)
        db.autocommit = False  # see wait_for_state
        cr = db.cursor()

        log(f"ours: warm-up, a serial e-mail to {WARMUP_CONTACTS} other contacts")
        warmup_id = create_correspondence(
            rpc,
            cr,
            email_domain_filter(WARMUP_DOMAIN),
            setup["template_id"],
            args.timeout,
        )
        rpc("serial.correspondence", "action_send", [warmup_id])
        wait_for_state(
            cr, warmup_id, {"done_auto", "sent_incomplete", "send_failed"}, args.timeout
        )
        sink.clear()

        log(
            f"ours: creating the serial e-mail to {len(names)} contacts, "
            "waiting for 'ready'"
        )
        start = time.perf_counter()
        correspondence_id = create_correspondence(
            rpc,
            cr,
            email_domain_filter(EMAIL_DOMAIN),
            setup["template_id"],
            args.timeout,
        )
        log(f"ours: ready after {time.perf_counter() - start:.1f} s (not measured)")
        if args.profile:
            profiler = PySpy(args.profile, "ours")
            profiler.start([worker.pid for worker in server.workers()])
        commits_before = committed_transactions(cr, args.db)

        sampler = RssSampler(server.process.pid, tree=True)
        sampler.start()
        meter = CpuMeter(args.db, server.process.pid)
        meter.start()
        log("ours: action_send over XML-RPC")
        start = time.perf_counter()
        watcher = SinkWatcher(sink, len(names), start)
        watcher.start()
        rpc("serial.correspondence", "action_send", [correspondence_id])
        call_seconds = time.perf_counter() - start
        state = wait_for_state(
            cr,
            correspondence_id,
            {"done_auto", "sent_incomplete", "send_failed"},
            args.timeout,
        )
        done_seconds = time.perf_counter() - start
        delivered = watcher.wait(args.timeout)
        watcher.stop()
        meter.stop()
        sampler.stop()
        time.sleep(1.5)  # PostgreSQL publishes a backend's statistics within 1 s
        commits_after = committed_transactions(cr, args.db)
        outputs = profiler.stop() if profiler else {}
        log(
            f"ours: {watcher.count} in the sink after {fmt(delivered, '.2f')} s, "
            f"state {state!r} after {done_seconds:.2f} s"
        )
        time.sleep(1.0)  # anything more would arrive now

        checks.expect(state == "done_auto", f"ours: state done_auto (got {state!r})")
        checks.expect(delivered is not None, "ours: the sink reached the target")
        size = verify_deliveries(sink, names, checks, "ours")
        cr.execute(
            "SELECT state, count(*) FROM serial_correspondence_recipient"
            " WHERE correspondence_id = %s GROUP BY state",
            (correspondence_id,),
        )
        by_state = dict(cr.fetchall())
        checks.expect(
            by_state == {"sent": len(names)}, f"ours: recipients by state {by_state}"
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
        checks.expect(not failed, f"ours: no failed send job ({failed} failed)")
        cr.close()
        db.close()

        result.seconds = delivered
        result.mails = len(names)
        job_pids = [pid for pid in worker_pids or [] if pid in sampler.peak_by_pid]
        job_peak = max((sampler.peak_by_pid[pid] for pid in job_pids), default=0)
        result.peak_mb = (job_peak or sampler.peak_single) / MB
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
        result.notes.append(peak_note(sampler, job_pids, "ran the send job"))
        if outputs:
            result.notes.append("(figures slowed by py-spy sampling)")
            for pid, path in outputs.items():
                if pid in job_pids:
                    result.notes.append(f"profile of worker {pid} ({path}):")
                    result.notes.extend(summarize_profile(path))
        errors = server.error_lines()
        if errors:
            result.notes.append(
                f"{len(errors)} ERROR lines in {server.logfile}, first: {errors[0]}"
            )
    finally:
        if profiler:
            profiler.stop()
        server.stop()
    return result


def peak_note(sampler: RssSampler, pids: list[int], what: str) -> str:
    per_process = ", ".join(
        f"{sampler.label_by_pid[pid]} {pid}{'*' if pid in pids else ''} "
        f"{rss / MB:.0f} MB"
        for pid, rss in sorted(sampler.peak_by_pid.items())
    )
    return f"peak RSS per process: {per_process}" + (f" (* {what})" if pids else "")


# ----------------------------------------------------------------------
# (a) mass_mailing
# ----------------------------------------------------------------------


def create_mailing(rpc: Rpc, domain: list) -> int:
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


def send_mailing(rpc: Rpc, cr, mailing_id: int, mode: str) -> list[tuple[str, float]]:
    """Odoo's "send now" for a mailing: the two crons' code, back to back."""
    steps = []
    start = time.perf_counter()
    rpc("mailing.mailing", "action_send_mail", [mailing_id])
    steps.append(("action_send_mail", time.perf_counter() - start))
    if mode == "force_send":
        return steps
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
        rpc.json("mail.mail", "process_email_queue", batch_size=1000)
        steps.append(("process_email_queue", time.perf_counter() - start))
    return steps


def run_mass_mailing(args, sink: Sink, names: dict[str, str], checks: Checks) -> Result:
    result = Result("mass_mailing (Odoo 18)")
    server = SendServer(args, "mass_mailing")
    server.start()
    try:
        rpc = Rpc(server.url, args.db)
        db = pg_connect(args.db)
        cr = db.cursor()
        limit = "1000000" if args.mass_mailing_mode == "force_send" else "100"
        cr.execute(
            """
            INSERT INTO ir_config_parameter
                (key, value, create_uid, write_uid, create_date, write_date)
            VALUES ('mail.mail.force.send.limit', %s, 1, 1,
                    now() AT TIME ZONE 'UTC', now() AT TIME ZONE 'UTC')
            ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value
            """,
            (limit,),
        )
        warm_up_workers(server, rpc)

        log(f"mass_mailing: warm-up, a mailing to {WARMUP_CONTACTS} other contacts")
        warmup_id = create_mailing(rpc, email_domain_filter(WARMUP_DOMAIN))
        send_mailing(rpc, cr, warmup_id, args.mass_mailing_mode)
        deadline = time.monotonic() + 60
        while sink.count() < WARMUP_CONTACTS and time.monotonic() < deadline:
            time.sleep(0.2)
        sink.clear()

        mailing_id = create_mailing(rpc, email_domain_filter(EMAIL_DOMAIN))
        sampler = RssSampler(server.process.pid, tree=True)
        sampler.start()
        meter = CpuMeter(args.db, server.process.pid)
        meter.start()
        log(
            "mass_mailing: action_send_mail"
            + (" + process_email_queue" if args.mass_mailing_mode == "queue" else "")
            + f" over RPC (mode {args.mass_mailing_mode}, "
            f"mail.mail.force.send.limit={limit})"
        )
        start = time.perf_counter()
        watcher = SinkWatcher(sink, len(names), start)
        watcher.start()
        steps = send_mailing(rpc, cr, mailing_id, args.mass_mailing_mode)
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
        cr.close()
        db.close()

        result.seconds = delivered
        result.mails = len(names)
        workers = [
            pid for pid, label in sampler.label_by_pid.items() if label == "worker"
        ]
        worker_peak = max((sampler.peak_by_pid[pid] for pid in workers), default=0)
        result.peak_mb = (worker_peak or sampler.peak_single) / MB
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
        result.notes.append(peak_note(sampler, [], ""))
        errors = server.error_lines()
        if errors:
            result.notes.append(
                f"{len(errors)} ERROR lines in {server.logfile}, first: {errors[0]}"
            )
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


def run_plain(args, sink: Sink, names: dict[str, str], checks: Checks) -> Result:
    result = Result("plain smtplib loop")
    contacts = sorted(names.items())
    sampler = RssSampler(os.getpid(), tree=False)
    sampler.start()
    meter = CpuMeter(args.db, os.getpid())
    meter.start()
    log(
        f"plain loop: building and sending {len(contacts)} messages over one connection"
    )
    start = time.perf_counter()
    watcher = SinkWatcher(sink, len(names), start)
    watcher.start()
    domain = SENDER.rsplit("@", 1)[1].rstrip(">")
    with smtplib.SMTP(sink.host, sink.port) as smtp:
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
    delivered = watcher.wait(args.timeout)
    watcher.stop()
    meter.stop()
    sampler.stop()
    log(f"plain loop: {watcher.count} in the sink after {fmt(delivered, '.2f')} s")
    time.sleep(0.5)
    checks.expect(delivered is not None, "plain: the sink reached the target")
    size = verify_deliveries(sink, names, checks, "plain")
    result.seconds = delivered
    result.mails = len(names)
    result.peak_mb = sampler.peak_single / MB
    result.notes.append(
        f"loop {sent:.2f} s; average message {size / 1024:.1f} KB; peak RSS is "
        "this benchmark process"
    )
    result.cpu_ms = 1000 * meter.total("odoo") / len(names)
    result.notes.append(
        f"CPU: this process {meter.total('odoo'):.1f} s "
        f"({1000 * meter.total('odoo') / len(names):.1f} ms per mail); load average "
        f"{meter.load_before[0]:.2f} before, {meter.load_after[0]:.2f} after"
    )
    return result


# ----------------------------------------------------------------------
# queries per recipient, in-process
# ----------------------------------------------------------------------


def count_queries(
    args, sink: Sink, checks: Checks, template_id: int
) -> dict[str, list]:
    """SQL statements of ours' send job and of mass_mailing's two steps, for
    the first QUERY_SIZES[i] query contacts each."""
    registry = load_registry(args)
    import odoo.sql_db
    from odoo import api

    from odoo.addons.queue_job.job import Job

    ids = partner_ids(args.db, QUERY_DOMAIN)
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


def addon_state() -> str:
    """Which code of the addon ran: HEAD, changed files, a content hash."""
    addon = REPO_ROOT / "serial_correspondence"
    digest = hashlib.sha1()
    for path in sorted(addon.rglob("*")):
        if path.is_file() and path.suffix in {".py", ".xml", ".csv", ".js"}:
            digest.update(str(path.relative_to(addon)).encode())
            digest.update(path.read_bytes())
    try:
        head = subprocess.run(
            ["git", "-C", str(REPO_ROOT), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        changed = subprocess.run(
            ["git", "-C", str(REPO_ROOT), "status", "--porcelain", "--", str(addon)],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.splitlines()
    except (OSError, subprocess.CalledProcessError):
        head, changed = "?", []
    return (
        f"addon at {head}"
        + (f" + {len(changed)} changed/new files" if changed else "")
        + f", content hash {digest.hexdigest()[:10]}"
    )


def fmt(value: float | None, pattern: str) -> str:
    return "-" if value is None else format(value, pattern)


def print_report(args, results: dict[str, Result], counts: dict[str, list]) -> None:
    print()
    print(
        f"== {args.contacts:,} personalised e-mails into the SMTP sink "
        f"(--workers={args.workers}, {os.cpu_count()} CPUs, "
        f"mass_mailing mode {args.mass_mailing_mode}, load average now "
        f"{os.getloadavg()[0]:.2f})"
    )
    print(f"  {args.addon_state}")
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
        "this process for the plain loop; the sink's own CPU is not counted)"
    )
    for result in results.values():
        for note in result.notes:
            print(f"  {result.method.split()[0]}: {note}")
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
    if verdicts:
        print(
            "verdict: "
            + "; ".join(f"{'MET' if ok else 'MISSED'} {text}" for ok, text in verdicts)
        )


# ----------------------------------------------------------------------
# main
# ----------------------------------------------------------------------


METHODS = ("ours", "mass_mailing", "plain")


def parse_args(argv: list[str] | None = None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--odoo-dir", type=Path, help="Odoo 18.0 source tree")
    parser.add_argument("--addons-path")
    parser.add_argument("--db", default="sc_bench_send")
    parser.add_argument("--contacts", type=int, default=2000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--port", type=int, default=8369)
    parser.add_argument("--gevent-port", type=int, default=8372)
    parser.add_argument("--smtp-port", type=int, default=2725)
    parser.add_argument(
        "--only",
        default=",".join(METHODS),
        help="comma-separated subset of %(default)s",
    )
    parser.add_argument(
        "--mass-mailing-mode",
        choices=("queue", "force_send"),
        default="queue",
        help="queue: Odoo's default (queued, then the mail queue); force_send: "
        "mail.mail.force.send.limit raised, the composer sends each batch",
    )
    parser.add_argument(
        "--profile", type=Path, help="py-spy the workers while ours sends, into DIR"
    )
    parser.add_argument("--no-query-count", action="store_true")
    parser.add_argument("--timeout", type=float, default=900.0)
    parser.add_argument("--keep", action="store_true", help="keep the database")
    parser.add_argument("--serve-sink", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve_sink:
        return args
    if not args.odoo_dir or not args.addons_path:
        parser.error("--odoo-dir and --addons-path are required")
    if not args.db.startswith("sc_bench_"):
        parser.error("--db must start with sc_bench_ (it is dropped)")
    args.only = [name.strip() for name in args.only.split(",") if name.strip()]
    unknown = set(args.only) - set(METHODS)
    if unknown:
        parser.error(f"unknown methods {sorted(unknown)}")
    args.odoo_bin = args.odoo_dir / "odoo-bin"
    if args.profile:
        args.profile = args.profile.resolve()
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.serve_sink:
        host, port, directory = args.serve_sink.split(":", 2)
        return serve_sink(host, int(port), directory, args.addons_path)
    (REPO_ROOT / "var").mkdir(exist_ok=True)
    args.addon_state = addon_state()
    log(args.addon_state)
    checks = Checks()
    results: dict[str, Result] = {}
    counts: dict[str, list] = {}
    sink = Sink(args)
    try:
        install_database(args)
        log(f"inserting {args.contacts:,} contacts (+ warm-up and query ones, SQL)")
        insert_contacts(
            args.db,
            [
                ("Bench Kontakt Müller ", EMAIL_DOMAIN, args.contacts),
                ("Warmup Kontakt ", WARMUP_DOMAIN, WARMUP_CONTACTS),
                ("Query Kontakt ", QUERY_DOMAIN, max(QUERY_SIZES)),
            ],
        )
        names = contact_names(args.db, EMAIL_DOMAIN)
        sink.start()

        # set-up records through a short-lived server
        server = SendServer(args, "setup")
        server.start()
        try:
            setup = setup_records(Rpc(server.url, args.db), args)
        finally:
            server.stop()

        if "ours" in args.only:
            sink.clear()
            results["ours"] = run_ours(args, sink, names, setup, checks)
        if "mass_mailing" in args.only:
            sink.clear()
            results["mass_mailing"] = run_mass_mailing(args, sink, names, checks)
        if "plain" in args.only:
            sink.clear()
            results["plain"] = run_plain(args, sink, names, checks)
        if not args.no_query_count:
            sink.clear()
            log("counting queries per recipient in this process")
            counts = count_queries(args, sink, checks, setup["template_id"])
    finally:
        sink.stop()
        release_database(args)

    print_report(args, results, counts)
    return exit_code(checks)


if __name__ == "__main__":
    sys.exit(main())
