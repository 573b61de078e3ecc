# Copyright 2026 serial_correspondence authors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""Load: several serial e-mails and letters at once on two Odoo servers.

Not a test module. Shared by ``tests/test_e2e_load.py`` (small) and
``bench/bench_load.py`` (5 x 10,000): :class:`LoadRun` sets up the contacts,
the template, the mail server and the limits on a database that two running
:class:`~.e2e_server.OdooServer` serve, creates the correspondences (half of
them through each server), starts them all together over XML-RPC, watches
them until each has an outcome, and gathers what happened into
:class:`Figures`: when each finished, the send log (what was handed to the
mail server, per correspondence and recipient domain), the sink's arrivals,
the jobs, and the peak memory of every process of both servers
(:class:`GroupMemory`, from ``/proc``). The analysis (:func:`busiest_window`,
:func:`window_shares`, :func:`longest_streak`) is plain Python.

Contacts: each correspondence has its own ``recipients`` contacts (city
``Load <n>``, a German postal address), their e-mail addresses spread over
recipient domains: ``big_share`` of them at ``big.example`` (so that the
per-domain limit binds there), the rest evenly over ``mail1.example`` ...
``mail7.example``; each domain is shared by all correspondences.
"""

import datetime
import logging
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

_logger = logging.getLogger(__name__)

PARAM = "serial_correspondence.{}"
SENDER = "Load Verein <verein@load-sender.example>"
BIG_DOMAIN = "big.example"
OTHER_DOMAINS = 7
EMAIL_STATES = ("done_auto", "sent_incomplete", "send_failed", "done")
LETTER_STATES = ("created", "created_incomplete", "create_failed", "done")
BODY = (
    '<p>Hallo <t t-out="object.name"/>,</p>'
    "<p>hier sind die Neuigkeiten unseres Vereins: das Sommerfest, die neue "
    "Satzung und die Termine der Übungsabende.</p>"
    "<p>Mit freundlichen Grüßen<br/>Der Vorstand</p>"
)


def epoch(utc_naive):
    """A naive UTC datetime of the database as ``time.time()`` seconds."""
    return utc_naive.replace(tzinfo=datetime.UTC).timestamp()


# ----------------------------------------------------------------------
# the analysis, plain Python
# ----------------------------------------------------------------------


def busiest_window(times, window):
    """``(count, start)``: the most events in any window ``[t, t + window)``."""
    times = sorted(times)
    best, start, low = 0, None, 0
    for high, moment in enumerate(times):
        while moment - times[low] >= window:
            low += 1
        if high - low + 1 > best:
            best, start = high - low + 1, times[low]
    return best, start


def window_shares(events, window, keys):
    """``events`` ``[(time, key)]`` cut into consecutive windows of
    ``window`` seconds from the first event: ``[(start, {key: count})]``."""
    events = sorted(events)
    if not events:
        return []
    first = events[0][0]
    windows = []
    for at, key in events:
        index = int((at - first) // window)
        while len(windows) <= index:
            windows.append((first + len(windows) * window, dict.fromkeys(keys, 0)))
        windows[index][1][key] += 1
    return windows


def spans(events):
    """``{key: (first, last)}`` time of each key's events."""
    result = {}
    for at, key in events:
        first, last = result.get(key, (at, at))
        result[key] = (min(first, at), max(last, at))
    return result


def longest_streak(events):
    """The longest run of consecutive events of one key while another key
    was still unfinished (had events before and after the run):
    ``(length, key, start, end)``, or ``(0, None, None, None)``."""
    events = sorted(events)
    span = spans(events)
    best = (0, None, None, None)
    index = 0
    while index < len(events):
        key = events[index][1]
        end = index
        while end + 1 < len(events) and events[end + 1][1] == key:
            end += 1
        start_at, end_at = events[index][0], events[end][0]
        others_waiting = any(
            other != key and first < start_at and last > end_at
            for other, (first, last) in span.items()
        )
        if others_waiting and end - index + 1 > best[0]:
            best = (end - index + 1, key, start_at, end_at)
        index = end + 1
    return best


# ----------------------------------------------------------------------
# memory of the servers' processes
# ----------------------------------------------------------------------


PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")


class GroupMemory(threading.Thread):
    """Peak RSS of every process of the given process groups (an
    :class:`OdooServer` runs in a group of its own: main process, HTTP
    workers, the job runner, the gevent process, wkhtmltopdf children),
    read from ``/proc`` every ``interval`` seconds."""

    def __init__(self, groups, interval=0.25):
        """``groups``: ``{label: process group id}``."""
        super().__init__(daemon=True, name="load-memory")
        self.groups = dict(groups)
        self.interval = interval
        # pid: {"group", "peak", "kind"}
        self.processes = {}
        self._stop_event = threading.Event()

    def sample(self):
        by_group = {pgid: label for label, pgid in self.groups.items()}
        for proc in Path("/proc").iterdir():
            if not proc.name.isdigit():
                continue
            try:
                stat = (proc / "stat").read_text()
                fields = stat.rsplit(")", 1)[1].split()
                group = by_group.get(int(fields[2]))
                if group is None or fields[0] in ("Z", "X"):
                    continue
                rss = int((proc / "statm").read_text().split()[1]) * PAGE_SIZE
                pid = int(proc.name)
                entry = self.processes.get(pid)
                if entry is None:
                    command = (proc / "cmdline").read_bytes().split(b"\0")
                    # the job runner's process, or another of Odoo's
                    kind = "other"
                    if pid == self.groups[group]:
                        kind = "main"
                    elif command and b"wkhtmltopdf" in os.path.basename(command[0]):
                        kind = "wkhtmltopdf"
                    elif b"gevent" in command:
                        kind = "gevent"
                    entry = self.processes[pid] = {
                        "group": group,
                        "peak": 0,
                        "kind": kind,
                    }
                entry["peak"] = max(entry["peak"], rss)
            except (OSError, ValueError, IndexError):
                continue

    def run(self):
        while not self._stop_event.is_set():
            self.sample()
            self._stop_event.wait(self.interval)

    def stop(self):
        self._stop_event.set()
        self.join()
        self.sample()

    def peaks(self, job_workers=()):
        """``[(group, pid, kind, peak bytes)]``, a process that ran a job
        (``job_workers``) of kind ``job worker``."""
        rows = []
        for pid, entry in sorted(self.processes.items()):
            if not entry["peak"]:
                continue  # gone before it was read
            kind = entry["kind"]
            if pid in job_workers:
                kind = "job worker"
            rows.append((entry["group"], pid, kind, entry["peak"]))
        return rows


# ----------------------------------------------------------------------
# the run
# ----------------------------------------------------------------------


@dataclass
class Plan:
    """What to run: ``emails`` serial e-mails and ``letters`` serial letters
    of ``recipients`` each; at most ``limit`` e-mails in any sliding window
    of ``window_minutes``, at most ``per_domain`` per recipient domain."""

    recipients: int
    limit: int
    window_minutes: float
    per_domain: int
    emails: int = 3
    letters: int = 2
    big_share: float = 0.3

    @property
    def window(self):
        return self.window_minutes * 60


@dataclass
class Figures:
    started: float = 0.0
    # id: {"kind", "name", "state", "finished", "by_state", "server"}
    correspondences: dict = field(default_factory=dict)
    # [(time.time(), correspondence id, domain)] from the send log
    send_log: list = field(default_factory=list)
    # [(time.time(), address)] from the sink
    arrivals: list = field(default_factory=list)
    # address: correspondence id of every e-mail recipient
    expected: dict = field(default_factory=dict)
    failed_jobs: list = field(default_factory=list)
    jobs: dict = field(default_factory=dict)  # state: count
    job_workers: set = field(default_factory=set)
    jobs_per_server: dict = field(default_factory=dict)
    memory: list = field(default_factory=list)  # GroupMemory.peaks()
    timed_out: bool = False

    def ids(self, kind):
        return [
            id_
            for id_, values in self.correspondences.items()
            if values["kind"] == kind
        ]

    def emails_by(self, correspondence_ids=None):
        """The send log as ``[(time, correspondence id)]``."""
        return [
            (at, id_)
            for at, id_, _domain in self.send_log
            if correspondence_ids is None or id_ in correspondence_ids
        ]

    def duplicates(self):
        seen, twice = set(), set()
        for _at, address in self.arrivals:
            (twice if address in seen else seen).add(address)
        return twice

    def lost(self):
        """The e-mail recipients the sink never received a message for."""
        received = {address for _at, address in self.arrivals}
        return set(self.expected) - received

    def unknown(self):
        """Addresses the sink received a message for that are no recipient."""
        return {a for _at, a in self.arrivals} - set(self.expected)


class LoadRun:
    """The load scenario on the database of ``servers`` (running
    :class:`OdooServer`, the first one's database; jobs are dispatched by one
    runner through a balancer to all of them), e-mails into ``sink`` (an
    in-process sink of ``smtp_sink.start``)."""

    def __init__(self, servers, sink, plan, say=None):
        self.servers = list(servers)
        self.server = self.servers[0]
        self.sink = sink
        self.plan = plan
        self.say = say or _logger.info
        self.ids = []  # in the order: e-mails, then letters
        self.kinds = {}
        self.figures = Figures()

    # -- set-up ---------------------------------------------------------------

    def set_param(self, name, value):
        self.server.rpc(
            "ir.config_parameter", "set_param", PARAM.format(name), str(value)
        )

    def set_limits(self):
        self.set_param("throttle_max_emails", self.plan.limit)
        self.set_param("throttle_window_minutes", self.plan.window_minutes)
        self.set_param("throttle_max_per_domain", self.plan.per_domain)

    def insert_contacts(self, number):
        """``plan.recipients`` contacts in ``Load <number>`` (SQL, set-up);
        their addresses ``load<number>.<n>@<domain>``."""
        big = max(1, round(10 * self.plan.big_share))
        rows = self.server.sql(
            """
            INSERT INTO res_partner
                (name, complete_name, type, active, is_company, lang,
                 email, email_normalized, street, zip, city, country_id,
                 partner_share, email_advertising_consent,
                 letter_advertising_consent, no_letters, message_bounce,
                 create_uid, write_uid, create_date, write_date)
            SELECT x.name, x.name, 'contact', true, false, 'en_US',
                   x.address, x.address, n || ' Laststraße',
                   lpad((n %% 99999 + 1)::text, 5, '0'), %(city)s,
                   (SELECT id FROM res_country WHERE code = 'DE'),
                   true, 'unknown', 'unknown', false, 0,
                   1, 1, now() AT TIME ZONE 'UTC', now() AT TIME ZONE 'UTC'
              FROM generate_series(1, %(count)s) AS n,
                   LATERAL (SELECT
                       %(city)s || ' Kontakt ' || lpad(n::text, 6, '0') AS name,
                       'load' || %(number)s || '.' || n || '@'
                       || CASE WHEN n %% 10 < %(big)s THEN %(big_domain)s
                               ELSE 'mail' || (n %% %(others)s + 1) || '.example'
                          END AS address) AS x
            RETURNING id, email
            """,
            {
                "city": f"Load {number}",
                "number": number,
                "count": self.plan.recipients,
                "big": big,
                "big_domain": BIG_DOMAIN,
                "others": OTHER_DOMAINS,
            },
        )
        self.server.sql(
            "UPDATE res_partner SET commercial_partner_id = id"
            " WHERE commercial_partner_id IS NULL"
        )
        return [address for _id, address in rows]

    def prepare(self, timeout=600):
        """Contacts, the mail server, template, company address, limits; the
        correspondences created (alternately through each server) and their
        recipients read."""
        rpc = self.server.rpc
        germany = rpc("res.country", "search", [("code", "=", "DE")])[0]
        company = rpc("res.users", "read", [self.server.uid], ["company_id"])[0][
            "company_id"
        ][0]
        rpc(
            "res.company",
            "write",
            [company],
            {
                "name": "Lastverein e.V.",
                "street": "Vereinsweg 1",
                "zip": "12345",
                "city": "Vereinsstadt",
                "country_id": germany,
            },
        )
        rpc(
            "ir.mail_server",
            "create",
            {
                "name": "Load SMTP sink",
                "smtp_host": "127.0.0.1",
                "smtp_port": self.sink.port,
                "smtp_encryption": "none",
                "sequence": 1,
            },
        )
        [model_id] = rpc("ir.model", "search", [("model", "=", "res.partner")])
        template_id = rpc(
            "mail.template",
            "create",
            {"name": "Load Neuigkeiten", "model_id": model_id, "body_html": BODY},
        )
        self.set_limits()
        kinds = ["email"] * self.plan.emails + ["letter"] * self.plan.letters
        self.say(
            f"inserting {len(kinds)} x {self.plan.recipients:,} contacts (SQL), "
            "creating the correspondences"
        )
        for number, kind in enumerate(kinds, start=1):
            addresses = self.insert_contacts(number)
            server = self.servers[(number - 1) % len(self.servers)]
            values = {
                "kind": kind,
                "subject": f"Neuigkeiten {number} für {{{{ object.name }}}}"
                if kind == "email"
                else f"Einladung {number}",
                "template_id": template_id,
                "partner_domain": repr([("city", "=", f"Load {number}")]),
            }
            if kind == "email":
                values.update({"purpose": "information", "email_from": SENDER})
            else:
                values["sort_order"] = "name"
            id_ = server.rpc("serial.correspondence", "create", values)
            self.ids.append(id_)
            self.kinds[id_] = kind
            self.figures.correspondences[id_] = {
                "kind": kind,
                "name": f"{kind} {number}",
                "server": server.name,
                "state": None,
                "finished": None,
            }
            if kind == "email":
                self.figures.expected.update(
                    {address.lower(): id_ for address in addresses}
                )
        self.server.sql("ANALYZE res_partner")
        self.wait(("ready",), timeout, "the recipients to be read")

    # -- running ----------------------------------------------------------------

    def states(self):
        return dict(
            self.server.sql(
                "SELECT id, state FROM serial_correspondence WHERE id = ANY(%s)",
                [self.ids],
            )
        )

    def failed_jobs(self):
        return self.server.sql(
            "SELECT uuid, method_name, exc_info FROM queue_job WHERE state = 'failed'"
        )

    def wait(self, states, timeout, what):
        deadline = time.monotonic() + timeout
        while True:
            current = self.states()
            if all(state in states for state in current.values()):
                return current
            failed = self.failed_jobs()
            if failed:
                raise AssertionError(f"a job failed while waiting for {what}: {failed}")
            if time.monotonic() > deadline:
                raise AssertionError(f"{what}: timed out, states {current}")
            time.sleep(0.5)

    def start(self):
        """Start all of them at once (a thread per call, alternately through
        each server); return when every call has answered."""
        errors = []

        def call(server, id_):
            method = "action_send" if self.kinds[id_] == "email" else "action_generate"
            try:
                server.rpc("serial.correspondence", method, [id_])
            except Exception as error:  # reported below
                errors.append((id_, error))

        threads = [
            threading.Thread(
                target=call, args=(self.servers[index % len(self.servers)], id_)
            )
            for index, id_ in enumerate(self.ids)
        ]
        self.sink.clear()
        self.figures.started = time.time()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(120)
        if errors:
            raise AssertionError(f"starting failed: {errors}")

    def watch(self, timeout, progress_every=30.0):
        """Poll until every correspondence has an outcome (or ``timeout``);
        note when each got there."""
        deadline = time.monotonic() + timeout
        next_progress = time.monotonic() + progress_every
        figures = self.figures
        while True:
            now = time.time()
            current = self.states()
            for id_, state in current.items():
                final = EMAIL_STATES if self.kinds[id_] == "email" else LETTER_STATES
                entry = figures.correspondences[id_]
                entry["state"] = state
                if state in final and entry["finished"] is None:
                    entry["finished"] = now
                    self.say(
                        f"{entry['name']} (id {id_}): {state} after "
                        f"{now - figures.started:.1f} s"
                    )
            if all(entry["finished"] for entry in figures.correspondences.values()):
                return
            if self.failed_jobs():
                self.say("a job failed")
                return
            if time.monotonic() > deadline:
                figures.timed_out = True
                self.say(f"timed out after {timeout} s: {current}")
                return
            if time.monotonic() > next_progress:
                next_progress += progress_every
                self.say(
                    f"{now - figures.started:.0f} s: {self.sink.count():,} e-mails in "
                    f"the sink; {self.progress()}"
                )
            time.sleep(0.5)

    def progress(self):
        rows = self.server.sql(
            """
            SELECT c.id, c.state, count(*) FILTER (WHERE r.state IN ('sent', 'created'))
              FROM serial_correspondence c
              JOIN serial_correspondence_recipient r ON r.correspondence_id = c.id
             WHERE c.id = ANY(%s) GROUP BY c.id, c.state ORDER BY c.id
            """,
            [self.ids],
        )
        return ", ".join(
            f"{self.figures.correspondences[id_]['name']} {state} {done:,}"
            for id_, state, done in rows
        )

    def collect(self, jobs_settle_timeout=60):
        """Gather the figures once the run is over."""
        figures = self.figures
        # the last run of each commits its outcome before queue_job marks the
        # job done
        deadline = time.monotonic() + jobs_settle_timeout
        while time.monotonic() < deadline and self.server.sql_value(
            "SELECT count(*) FROM queue_job WHERE state IN ('enqueued', 'started')"
        ):
            time.sleep(0.5)
        time.sleep(1.0)  # an e-mail under way would arrive now
        for id_, state, by_state in self.server.sql(
            """
            SELECT c.id, c.state,
                   (SELECT json_object_agg(s, n) FROM (
                        SELECT r.state AS s, count(*) AS n
                          FROM serial_correspondence_recipient r
                         WHERE r.correspondence_id = c.id GROUP BY r.state) t)
              FROM serial_correspondence c WHERE c.id = ANY(%s)
            """,
            [self.ids],
        ):
            figures.correspondences[id_]["state"] = state
            figures.correspondences[id_]["by_state"] = by_state or {}
        figures.send_log = [
            (epoch(sent_at), id_, domain)
            for sent_at, id_, domain in self.server.sql(
                "SELECT sent_at, correspondence_id, email_domain"
                " FROM serial_correspondence_send_log"
                " WHERE correspondence_id = ANY(%s) ORDER BY sent_at, id",
                [self.ids],
            )
        ]
        figures.arrivals = self.sink.arrivals()
        figures.failed_jobs = self.failed_jobs()
        figures.jobs = dict(
            self.server.sql("SELECT state, count(*) FROM queue_job GROUP BY state")
        )
        figures.job_workers = {
            pid
            for (pid,) in self.server.sql(
                "SELECT DISTINCT worker_pid FROM queue_job WHERE worker_pid IS NOT NULL"
            )
        }
        return figures
