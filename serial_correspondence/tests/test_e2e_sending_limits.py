# Copyright 2026 serial_correspondence authors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""Sending limits end to end: a real server, its job runner, real SMTP.

A real Odoo server with queue_job's runner (see ``testing/e2e_server.py``)
sends through the SMTP sink of ``testing/smtp_sink.py`` (in this process, on
loopback), which notes when each message arrives. The limit is 20 e-mails in
a sliding window of 6 seconds (``throttle_window_minutes`` 0.1), so a test
sees several windows in a few seconds.

- One serial e-mail to 60 contacts: in_progress -> waiting -> in_progress ...
  -> done_auto by itself; while it waits no worker is busy for it; the sink
  never receives more than 20 in any 6 seconds, everyone exactly once.
- Two serial e-mails at once share the one budget and both go on.
- A mail server that answers "try again later" (421, 451): the serial e-mail
  waits (back-off) instead of giving up on recipients, then delivers to
  everyone exactly once.
- Two Odoo servers on the same database send at the same time: the limit
  holds exactly across both.

The job runner does not call a server directly but a small round-robin TCP
balancer in front of the servers' HTTP ports (``testing/balancer.py``),
as in a multi-node deployment where queue_job's ``[queue_job] host/port``
points at the load balancer; with one server it only forwards, with two it
is what makes both servers run send jobs.
"""

import datetime
import itertools
import logging
import re
import shutil
import tempfile
import threading
import time

from odoo.tests import tagged
from odoo.tests.common import BaseCase

from ..testing import smtp_sink
from ..testing.balancer import RoundRobinBalancer
from ..testing.e2e_server import E2EError, OdooServer

_logger = logging.getLogger(__name__)

SEND_METHOD = "_send_emails"
PARAM = "serial_correspondence.{}"
SENDER = "verein@example.com"
BODY = '<p>Hallo <t t-out="object.name"/>, hier sind unsere Neuigkeiten.</p>'
# the send channel runs up to three jobs at once: several serial e-mails (and
# with two servers, both servers) really send at the same time
CHANNELS = "root:4,root.serial_correspondence:3"
FINAL_STATES = ("sent_incomplete", "send_failed", "done_auto", "done")
# a send job that the mail server made wait logs the refusal as an error
TEMPFAIL_LOG = r"failed sending mail|Mail delivery failed"


def _epoch(utc_naive):
    """A naive UTC datetime of the database as ``time.time()`` seconds."""
    return utc_naive.replace(tzinfo=datetime.timezone.utc).timestamp()


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


# ----------------------------------------------------------------------
# the tests
# ----------------------------------------------------------------------


@tagged("post_install", "-at_install", "serial_correspondence_e2e")
class TestE2ESendingLimits(BaseCase):
    """20 e-mails per 6 seconds, through a real server and a real SMTP sink."""

    limit = 20
    window_minutes = 0.1
    window = 6.0  # seconds
    retry_delay = 3  # seconds, doubled after each further refusal
    # seconds; generous for a busy two-core machine
    import_timeout = 60
    send_timeout = 120
    poll_interval = 0.05

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.mail_dir = tempfile.mkdtemp(prefix="sc_e2e_limits_mail_")
        cls.addClassCleanup(shutil.rmtree, cls.mail_dir, ignore_errors=True)
        cls.sink = smtp_sink.start("127.0.0.1", 0, cls.mail_dir)
        cls.addClassCleanup(cls.sink.stop)
        cls.balancer = RoundRobinBalancer()
        cls.addClassCleanup(cls.balancer.close)
        cls.server_options = {
            "smtp_server": "127.0.0.1",
            "smtp_port": cls.sink.port,
        }
        cls.runner_options = {"host": "127.0.0.1", "port": cls.balancer.port}
        cls.server = OdooServer(
            channels=CHANNELS,
            options=cls.server_options,
            runner_options=cls.runner_options,
        )
        cls.addClassCleanup(cls.server.close)
        cls.balancer.backends = [cls.server]
        cls.server.start()
        [partner_model] = cls.server.rpc(
            "ir.model", "search", [("model", "=", "res.partner")]
        )
        cls.template_id = cls.server.rpc(
            "mail.template",
            "create",
            {"name": "Neuigkeiten", "model_id": partner_model, "body_html": BODY},
        )

    def setUp(self):
        super().setUp()
        self.sink.clear()
        self.sink.tempfail(0)
        self.set_limits(max_emails=self.limit, minutes=self.window_minutes)
        self.set_param("retry_delay_seconds", self.retry_delay)
        # one connection per serial e-mail: these tests follow the send jobs
        # one by one (turns, back-off, which server sent what); several
        # connections under the same limits: test_e2e_send_parallel.py and
        # test_send_parallel.py
        self.set_param("send_connections", 1)
        # a fresh budget: what earlier tests sent does not count here
        self.server.sql("DELETE FROM serial_correspondence_send_log")
        self.log_start = len(self.server.log_text())
        self.routed_start = len(self.balancer.routed)

    # -- set-up helpers -------------------------------------------------------

    def set_param(self, name, value):
        self.server.rpc(
            "ir.config_parameter", "set_param", PARAM.format(name), str(value)
        )

    def set_limits(self, max_emails, minutes=1.0, per_domain=0):
        self.set_param("throttle_max_emails", max_emails)
        self.set_param("throttle_window_minutes", minutes)
        self.set_param("throttle_max_per_domain", per_domain)

    def ready_email(self, town, count, server=None):
        """A serial e-mail to ``count`` new contacts in ``town``, recipients
        read; return ``(id, {addresses})``."""
        server = server or self.server
        prefix = f"Limit {town}"
        partner_ids = self.server.insert_partners(
            count, town, name_prefix=prefix, email_domain=f"{town.lower()}.example"
        )
        correspondence_id = server.rpc(
            "serial.correspondence",
            "create",
            {
                "kind": "email",
                "subject": f"Neuigkeiten aus {town}",
                "template_id": self.template_id,
                "email_from": SENDER,
                "partner_domain": repr([("city", "=", town)]),
            },
        )
        self.wait_states([correspondence_id], ("ready",), self.import_timeout)
        addresses = {
            address
            for (address,) in self.server.sql(
                "SELECT lower(email) FROM res_partner WHERE id = ANY(%s)", [partner_ids]
            )
        }
        self.assertEqual(len(addresses), count)
        return correspondence_id, addresses

    # -- looking at the server ------------------------------------------------

    def wait_states(self, ids, states, timeout):
        def reached():
            self.server.check_no_failed_job()
            rows = self.server.sql(
                "SELECT id, state FROM serial_correspondence WHERE id = ANY(%s)", [ids]
            )
            return all(state in states for _id, state in rows) and rows

        return self.server.wait_for(
            reached, timeout, f"serial e-mails {ids} in {states}", interval=0.2
        )

    def sample(self, ids):
        """One consistent look (one statement) at the serial e-mails and their
        send jobs: ``{id: {...}}``."""
        rows = self.server.sql(
            """
            SELECT c.id, c.state, c.resume_at, c.waiting_reason->>'en_US',
                   c.retry_delay,
                   (SELECT count(*) FROM serial_correspondence_recipient r
                     WHERE r.correspondence_id = c.id AND r.state = 'sent'),
                   ARRAY(SELECT j.uuid FROM queue_job j
                          WHERE j.state = 'started' AND j.func_string LIKE
                                'serial.correspondence(' || c.id
                                || ',)._send_emails(%%')
              FROM serial_correspondence c
             WHERE c.id = ANY(%s)
            """,
            [ids],
        )
        keys = ("state", "resume_at", "reason", "retry_delay", "sent", "started_jobs")
        return {row[0]: dict(zip(keys, row[1:], strict=True)) for row in rows}

    def watch(self, ids, timeout=None):
        """Poll the serial e-mails until all of them have an outcome; return
        the samples ``[(time.time(), sample)]``."""
        timeout = timeout or self.send_timeout
        deadline = time.monotonic() + timeout
        samples = []
        while True:
            now = time.time()
            current = self.sample(ids)
            samples.append((now, current))
            if all(current[id_]["state"] in FINAL_STATES for id_ in ids):
                return samples
            if time.monotonic() > deadline:
                raise E2EError(
                    f"timed out after {timeout}s waiting for the serial e-mails "
                    f"{ids} to be sent (last seen: {current}; "
                    f"{self.sink.count()} delivered)\n{self.job_summary()}\n"
                    + self.server.log_tail()
                )
            if len(samples) % 20 == 0:
                self.server.check_no_failed_job()
            time.sleep(self.poll_interval)

    def job_summary(self):
        rows = self.server.sql(
            "SELECT state, count(*) FROM queue_job WHERE method_name = %s"
            " GROUP BY state",
            [SEND_METHOD],
        )
        return f"send jobs by state: {dict(rows)}"

    @staticmethod
    def state_sequence(samples, id_):
        """The states seen one after the other (repeats collapsed)."""
        sequence = []
        for _at, current in samples:
            state = current[id_]["state"]
            if not sequence or sequence[-1] != state:
                sequence.append(state)
        return sequence

    def send_log(self, ids):
        """``[(time.time() of the reservation, correspondence id)]``."""
        rows = self.server.sql(
            "SELECT sent_at, correspondence_id FROM serial_correspondence_send_log"
            " WHERE correspondence_id = ANY(%s) ORDER BY sent_at",
            [ids],
        )
        return [(_epoch(sent_at), id_) for sent_at, id_ in rows]

    def send_runs(self, ids):
        """The send job runs of the serial e-mails and how many e-mails each
        handed over: a send log row belongs to the run of its serial e-mail
        that started last before it (the runs of one serial e-mail follow one
        another; each sends only once it holds the serial e-mail's lock)."""
        # the last run commits the outcome before queue_job marks it done
        self.server.wait_for(
            lambda: (
                not self.server.sql_value(
                    "SELECT count(*) FROM queue_job WHERE method_name = '_send_emails'"
                    " AND state IN ('pending', 'enqueued', 'started')"
                    " AND (eta IS NULL OR eta <= now() AT TIME ZONE 'UTC')"
                )
            ),
            30,
            "the send jobs to be marked done",
        )
        runs = [
            {"id": id_, "started": _epoch(started), "done": _epoch(done), "sent": 0}
            for id_, started, done in self.server.sql(
                """
                SELECT c.id, j.date_started, j.date_done
                  FROM serial_correspondence c
                  JOIN queue_job j ON j.func_string LIKE
                       'serial.correspondence(' || c.id || ',)._send_emails(%%'
                 WHERE c.id = ANY(%s) AND j.state = 'done'
                """,
                [ids],
            )
        ]
        for at, id_ in self.send_log(ids):
            run = max(
                (run for run in runs if run["id"] == id_ and run["started"] <= at),
                key=lambda run: run["started"],
            )
            self.assertLessEqual(at, run["done"], f"a send log row outside a run {run}")
            run["sent"] += 1
        return runs

    def new_log_errors(self, expected=None):
        text = self.server.log_text()[self.log_start :]
        return [
            line
            for line in text.splitlines()
            if re.search(r" (ERROR|CRITICAL) ", line)
            and not (expected and re.search(expected, line))
        ]

    def timeline(self, start):
        """What happened around ``start`` (for a failed assertion): the send
        log, and per delivery its claim and its arrival at the sink."""
        since, until = start - 1, start + self.window + 1
        lines = []
        for sent_at, id_, domain in self.server.sql(
            "SELECT sent_at, correspondence_id, email_domain"
            " FROM serial_correspondence_send_log ORDER BY sent_at"
        ):
            if since <= _epoch(sent_at) <= until:
                lines.append((_epoch(sent_at), f"reserved   {id_} {domain}"))
        claims = dict(
            self.server.sql(
                "SELECT lower(p.email), r.send_started_at"
                " FROM serial_correspondence_recipient r"
                " JOIN res_partner p ON p.id = r.partner_id"
                " WHERE r.send_started_at IS NOT NULL"
            )
        )
        for at, address in self.sink.arrivals():
            if since <= at <= until:
                claimed = claims.get(address)
                delay = f"{at - _epoch(claimed):.3f}s after claim" if claimed else ""
                lines.append((at, f"arrived    {address} {delay}"))
        return "\n".join(
            f"{datetime.datetime.fromtimestamp(at, datetime.UTC):%H:%M:%S.%f} {text}"
            for at, text in sorted(lines)
        )

    # -- common assertions ----------------------------------------------------

    def assert_everyone_once(self, addresses):
        arrivals = self.sink.arrivals()
        received = [address for _at, address in arrivals]
        twice = {address for address in received if received.count(address) > 1}
        self.assertFalse(twice, "contacts who received the e-mail more than once")
        self.assertEqual(set(received), set(addresses), "who received the e-mail")
        self.assertEqual(self.sink.count(), len(addresses))

    def assert_limit_held(self, times, what, reached=False):
        """No more than the limit in any window; with ``reached``, exactly
        the limit in the busiest one (the budget was used, not exceeded)."""
        count, start = busiest_window(times, self.window)
        message = (
            f"{what}: {count} in the {self.window}s from "
            f"{datetime.datetime.fromtimestamp(start or 0, datetime.UTC):%H:%M:%S.%f}"
        )
        if count > self.limit:
            message += "\n" + self.timeline(start)
        self.assertLessEqual(count, self.limit, message)
        if reached:
            self.assertEqual(count, self.limit, message)
        return count

    def assert_no_busy_worker_while_waiting(self, samples, id_):
        """While the serial e-mail waits, no send job of it runs: a job is
        only seen running at the edges of a wait (the run that ends in
        waiting commits the state before its job is marked done; the run
        that resumes is marked started before it switches the state), never
        through a wait. Returns ``(seconds waiting, samples while waiting,
        of which with a send job started)``."""
        seen = {}  # job uuid -> [first, last] time seen started while waiting
        waiting_time, waiting_samples, busy_samples = 0.0, 0, 0
        for (at, current), (next_at, _next) in itertools.pairwise(samples):
            if current[id_]["state"] != "waiting":
                continue
            waiting_time += next_at - at
            waiting_samples += 1
            busy_samples += bool(current[id_]["started_jobs"])
            for uuid in current[id_]["started_jobs"]:
                span = seen.setdefault(uuid, [at, at])
                span[1] = at
        longest = max((last - first for first, last in seen.values()), default=0.0)
        self.assertLess(
            longest,
            1.0,
            f"a send job ran for {longest:.2f}s while the serial e-mail was "
            f"waiting: a worker is kept busy by the wait",
        )
        return waiting_time, waiting_samples, busy_samples

    # -- the tests --------------------------------------------------------------

    def test_limit_spreads_sending_over_windows_and_waits_without_a_worker(self):
        """60 recipients, at most 20 in any 6 seconds: the serial e-mail
        sends 20, waits (state ``waiting``, ``resume_at`` set, no worker busy
        for it), goes on by itself, and so on until ``done_auto``."""
        correspondence_id, addresses = self.ready_email("Fensterstadt", 60)
        started = time.time()
        self.server.rpc("serial.correspondence", "action_send", [correspondence_id])
        samples = self.watch([correspondence_id])
        finished = time.time()
        with self.server.log_on_failure():
            sequence = self.state_sequence(samples, correspondence_id)
            self.assertRegex(
                ",".join(sequence),
                r"^in_progress(,waiting,in_progress){2,},done_auto$",
                "the states seen one after the other",
            )
            for at, current in samples:
                state = current[correspondence_id]
                if state["state"] == "waiting":
                    self.assertTrue(
                        state["resume_at"], f"waiting without resume_at at {at}"
                    )
                    self.assertGreater(_epoch(state["resume_at"]), started)
            final = samples[-1][1][correspondence_id]
            self.assertEqual((final["sent"], final["resume_at"]), (60, None))
            waited, waiting_samples, busy = self.assert_no_busy_worker_while_waiting(
                samples, correspondence_id
            )
            self.assertGreater(waited, self.window / 2, "seconds spent waiting")
            # what the contacts' mail server saw
            self.assert_everyone_once(addresses)
            arrivals = [at for at, _address in self.sink.arrivals()]
            self.assert_limit_held(arrivals, "received by the SMTP sink")
            # 60 at 20 per window: the last came two windows after the first
            self.assertGreaterEqual(arrivals[-1] - arrivals[0], 2 * self.window)
            # what the server handed over
            log = self.send_log([correspondence_id])
            self.assertEqual(len(log), 60)
            self.assert_limit_held([at for at, _id in log], "send log", reached=True)
            self.assertFalse(self.new_log_errors(), "errors in the server log")
        _logger.info(
            "e2e limits: 60 e-mails in %.1fs, states %s, %.1fs waiting (%s samples,"
            " %s with a send job started: at the edges of a wait)",
            finished - started,
            sequence,
            waited,
            waiting_samples,
            busy,
        )

    def test_two_serial_emails_share_one_budget(self):
        """Two serial e-mails sending at the same time share the one budget.

        Fairness (``_fair_share``): each send job may send an equal part of
        the window's budget, ``ceil(limit / serial e-mails sending or
        waiting)`` and never more than is left, then hands over to a new job
        of the same serial e-mail. Through a channel that runs one job at a
        time, queue_job runs the jobs in the order they were created, so the
        serial e-mails take turns; here (capacity 3) their jobs run at the
        same time, each taking at most its share.
        Observable: while both are sending, no send job sends more than its
        share (10 of 20); the second, started while the first is sending,
        receives mail before either is finished; together they never exceed
        the limit.
        """
        first_id, first_addresses = self.ready_email("Erstdorf", 40)
        second_id, second_addresses = self.ready_email("Zweitdorf", 40)
        ids = [first_id, second_id]
        started = time.time()
        for id_ in ids:
            self.server.rpc("serial.correspondence", "action_send", [id_])
        samples = self.watch(ids)
        with self.server.log_on_failure():
            self.assertEqual(
                {samples[-1][1][id_]["state"] for id_ in ids}, {"done_auto"}
            )
            for id_ in ids:
                self.assertIn("waiting", self.state_sequence(samples, id_))
            self.assert_everyone_once(first_addresses | second_addresses)
            log = self.send_log(ids)
            self.assertEqual(len(log), 80)
            self.assert_limit_held([at for at, _id in log], "send log", reached=True)
            arrivals = self.sink.arrivals()
            self.assert_limit_held([at for at, _a in arrivals], "received by the sink")
            # both got mail before either was finished: the last moment both
            # were still unfinished is after the first mail of each arrived
            first_mail = {
                "first": min(at for at, a in arrivals if a in first_addresses),
                "second": min(at for at, a in arrivals if a in second_addresses),
            }
            both_unfinished = max(
                at
                for at, current in samples
                if all(current[id_]["state"] not in FINAL_STATES for id_ in ids)
            )
            self.assertLess(
                max(first_mail.values()),
                both_unfinished,
                "one serial e-mail waited until the other was finished",
            )
            # while both were sending, each job run sent its share at most
            both_sending = min(
                at
                for at, current in samples
                if all(
                    current[id_]["state"] in ("in_progress", "waiting") for id_ in ids
                )
            )
            runs = self.send_runs(ids)
            shared = [
                run for run in runs if both_sending < run["started"] < both_unfinished
            ]
            self.assertTrue(shared, f"no send job ran while both were sending: {runs}")
            share = -(-self.limit // 2)
            for run in shared:
                self.assertLessEqual(run["sent"], share, f"a job took more: {run}")
            self.assertFalse(self.new_log_errors(), "errors in the server log")
        _logger.info(
            "e2e limits: 2 x 40 e-mails in %.1fs; first mail after %.1fs / %.1fs;"
            " e-mails per job run while both were sending: %s",
            samples[-1][0] - started,
            first_mail["first"] - started,
            first_mail["second"] - started,
            [run["sent"] for run in sorted(shared, key=lambda run: run["started"])],
        )

    def _assert_temporary_refusal_waits(self, town, count, seconds, code, stage):
        """The sink refuses with ``code`` at ``stage`` for ``seconds``: the
        serial e-mail waits (retry delay 3 s, doubled after a further
        refusal), no recipient ends in error, then all get it once."""
        self.set_limits(max_emails=0)
        correspondence_id, addresses = self.ready_email(town, count)
        refusals_before = self.sink.tempfailed
        self.sink.tempfail(seconds, code=code, stage=stage)
        refusing_until = self.sink.handler.tempfail_until
        self.server.rpc("serial.correspondence", "action_send", [correspondence_id])
        samples = self.watch([correspondence_id])
        with self.server.log_on_failure():
            sequence = self.state_sequence(samples, correspondence_id)
            self.assertRegex(
                ",".join(sequence),
                r"^in_progress(,waiting,in_progress)+,done_auto$",
                "the states seen one after the other",
            )
            waits = [
                (at, current[correspondence_id])
                for at, current in samples
                if current[correspondence_id]["state"] == "waiting"
            ]
            delays = []
            for _at, state in waits:
                self.assertIn(str(code), state["reason"] or "")
                self.assertTrue(state["resume_at"])
                if not delays or delays[-1] != state["retry_delay"]:
                    delays.append(state["retry_delay"])
            self.assertEqual(delays[0], self.retry_delay)
            self.assertEqual(
                delays, [self.retry_delay * 2**i for i in range(len(delays))]
            )
            # one refusal per try, each followed by a wait
            self.assertEqual(self.sink.tempfailed - refusals_before, len(delays))
            recipients = dict(
                self.server.sql(
                    "SELECT state, count(*) FROM serial_correspondence_recipient"
                    " WHERE correspondence_id = %s GROUP BY state",
                    [correspondence_id],
                )
            )
            self.assertEqual(recipients, {"sent": count})
            self.assertEqual(samples[-1][1][correspondence_id]["retry_delay"], 0)
            self.assert_everyone_once(addresses)
            self.assertGreaterEqual(self.sink.arrivals()[0][0], refusing_until)
            notes = self.server.sql_value(
                "SELECT count(*) FROM mail_message"
                " WHERE model = 'serial.correspondence' AND res_id = %s"
                " AND body LIKE %s",
                [correspondence_id, "%try again later%"],
            )
            self.assertEqual(notes, len(delays), "notes about the refusals")
            self.assertFalse(self.new_log_errors(expected=TEMPFAIL_LOG))
        _logger.info(
            "e2e limits: %s at %s for %ss: retry delays %s, done after %.1fs",
            code,
            stage,
            seconds,
            delays,
            samples[-1][0] - samples[0][0],
        )
        return delays

    def test_421_at_rcpt_waits_with_back_off_then_delivers_once(self):
        # tried at t (< 3 s), refused; at t + 3 s, refused (< 6 s); at
        # t + 3 + 6 s accepted
        delays = self._assert_temporary_refusal_waits("Grauliste", 10, 6.0, 421, "rcpt")
        # at least two waits (3 + 6 s) to get past 6 s of refusals; more only
        # when a loaded machine starts the first try late
        self.assertGreaterEqual(len(delays), 2, delays)

    def test_451_after_data_waits_then_delivers_once(self):
        # tried at t (< 2.5 s), refused; at t + 3 s accepted
        delays = self._assert_temporary_refusal_waits(
            "Spaeterstadt", 5, 2.5, 451, "data"
        )
        self.assertGreaterEqual(len(delays), 1, delays)

    # -- scale-out ----------------------------------------------------------------

    def _note_reservation_origin(self):
        """From now on, note for each row of the send log which database
        session wrote it (its ``application_name`` names the server process,
        see ``testing/e2e_server.py``): a trigger, only in this test's database."""
        self.server.sql(
            """
            CREATE TABLE e2e_send_origin (
                log_id integer PRIMARY KEY, application_name text, at timestamp);
            CREATE FUNCTION e2e_note_send_origin() RETURNS trigger
            LANGUAGE plpgsql AS $$
            BEGIN
                INSERT INTO e2e_send_origin
                VALUES (NEW.id, current_setting('application_name'),
                        clock_timestamp() AT TIME ZONE 'UTC');
                RETURN NEW;
            END $$;
            CREATE TRIGGER e2e_send_origin AFTER INSERT
                ON serial_correspondence_send_log
                FOR EACH ROW EXECUTE FUNCTION e2e_note_send_origin();
            """
        )
        self.addCleanup(
            self.server.sql,
            "DROP TRIGGER IF EXISTS e2e_send_origin ON serial_correspondence_send_log;"
            " DROP FUNCTION IF EXISTS e2e_note_send_origin();"
            " DROP TABLE IF EXISTS e2e_send_origin;",
        )

    def _send_jobs_routed(self):
        """The send jobs the balancer forwarded in this test: ``[{uuid,
        server, forwarded, answered, correspondence, worker_pid}]``."""
        routed = {
            route["uuid"]: route for route in self.balancer.routed[self.routed_start :]
        }
        rows = self.server.sql(
            "SELECT uuid, func_string, worker_pid FROM queue_job"
            " WHERE method_name = %s AND uuid = ANY(%s)",
            [SEND_METHOD, list(routed)],
        )
        jobs = []
        for uuid, func_string, worker_pid in rows:
            match = re.match(r"serial\.correspondence\((\d+),\)", func_string)
            jobs.append(
                dict(
                    routed[uuid],
                    correspondence=int(match.group(1)),
                    worker_pid=worker_pid,
                )
            )
        return jobs

    def test_two_servers_on_one_database_share_the_budget_exactly(self):
        """Scale-out: two Odoo server processes on the same database send at
        the same time; the limit holds exactly across both.

        The set-up, honestly: server A (the class's) and server B
        (``OdooServer(attach_to=A)``, its own ``odoo-bin``, port, workers and
        runner) serve one database. queue_job's runner holds a PostgreSQL
        advisory lock per database, so only A's runner dispatches (B's waits
        as a standby); it sends every job to the balancer, which hands the
        requests to A and B in turn. So send jobs run in the HTTP workers of
        both servers, up to three at once (channel capacity 3), each in its
        own process and database session; nothing is shared between them but
        the database. A trigger notes which session wrote each row of the
        send log, the balancer which server ran which job.
        """
        self._note_reservation_origin()
        node = OdooServer(
            attach_to=self.server,
            channels=CHANNELS,
            options=self.server_options,
            runner_options=self.runner_options,
        )
        self.addCleanup(node.close)
        node.start()
        servers = {self.server.name: self.server, node.name: node}
        self.balancer.backends = [self.server, node]
        self.addCleanup(setattr, self.balancer, "backends", [self.server])
        emails = [
            self.ready_email(town, 20, server=server)
            for town, server in (
                ("Nordknoten", self.server),
                ("Suedknoten", node),
                ("Westknoten", self.server),
            )
        ]
        ids = [id_ for id_, _addresses in emails]
        addresses = set().union(*(addresses for _id, addresses in emails))
        # start the three at once, through both servers
        errors = []

        def send(server, id_):
            try:
                server.rpc("serial.correspondence", "action_send", [id_])
            except Exception as error:  # reported below
                errors.append(error)

        threads = [
            threading.Thread(target=send, args=(server, id_))
            for server, id_ in zip((self.server, node, self.server), ids, strict=True)
        ]
        started = time.time()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        self.assertFalse(errors)
        samples = self.watch(ids)
        with self.server.log_on_failure():
            self.assertEqual(
                {samples[-1][1][id_]["state"] for id_ in ids}, {"done_auto"}
            )
            self.assert_everyone_once(addresses)
            # the limit, exactly: reached, never exceeded, by both together
            log = self.send_log(ids)
            self.assertEqual(len(log), 60)
            self.assert_limit_held([at for at, _id in log], "send log", reached=True)
            self.assert_limit_held(
                [at for at, _a in self.sink.arrivals()], "received by the SMTP sink"
            )
            # who sent: each reservation by a session of A or B ...
            rows = self.server.sql(
                """
                SELECT l.id, l.correspondence_id, l.sent_at, o.application_name
                  FROM serial_correspondence_send_log l
                  LEFT JOIN e2e_send_origin o ON o.log_id = l.id
                 WHERE l.correspondence_id = ANY(%s)
                """,
                [ids],
            )
            jobs = self._send_jobs_routed()
            per_server = dict.fromkeys(servers, 0)
            for job in jobs:
                job["reserved"] = []
            for log_id, id_, sent_at, application_name in rows:
                [sender] = [
                    name
                    for name, server in servers.items()
                    if (application_name or "").startswith(f"{server.app_name}-")
                ] or [None]
                self.assertTrue(
                    sender, f"send log row {log_id} written by {application_name}"
                )
                per_server[sender] += 1
                # ... within a send job of that e-mail that the balancer gave
                # to that very server
                # (the latest forwarded before it: the runs of one serial
                # e-mail follow one another)
                at = _epoch(sent_at)
                job = max(
                    (
                        job
                        for job in jobs
                        if job["correspondence"] == id_ and job["forwarded"] <= at
                    ),
                    key=lambda job: job["forwarded"],
                )
                self.assertLessEqual(at, job["answered"] or time.time())
                self.assertEqual(job["server"], sender, f"send log row {log_id}")
                job["reserved"].append(at)
            for name, count in per_server.items():
                self.assertGreater(count, 0, f"e-mails sent by {name}: {per_server}")
            # the job ran in a worker process of the server it was sent to
            for job in jobs:
                self.assertIn(
                    job["worker_pid"],
                    servers[job["server"]]._group_members(),
                    f"the worker of job {job['uuid']}",
                )
            # at the same time: a job of A and a job of B sending at once
            spans = [
                (job["server"], min(job["reserved"]), max(job["reserved"]))
                for job in jobs
                if job["reserved"]
            ]
            overlapping = [
                (one, other)
                for one in spans
                for other in spans
                if one[0] == self.server.name
                and other[0] == node.name
                and one[1] <= other[2]
                and other[1] <= one[2]
            ]
            self.assertTrue(
                overlapping, f"no two servers sending at the same time: {spans}"
            )
            # only A's runner dispatched; B's workers ran jobs all the same
            since = {
                name: server.log_text().rpartition("===== e2e harness: start")[2]
                for name, server in servers.items()
            }
            self.assertIn("asking Odoo to run job", since[self.server.name])
            self.assertNotIn("asking Odoo to run job", since[node.name])
            self.assertIn("GET /queue_job/runjob", since[node.name])
            self.assertFalse(self.new_log_errors(), "errors in the server log")
            node_errors = [
                line for line in since[node.name].splitlines() if " ERROR " in line
            ]
            self.assertFalse(node_errors, "errors in the log of server B")
        _logger.info(
            "e2e limits: 3 x 20 e-mails through 2 servers in %.1fs; e-mails per "
            "server %s; send jobs per server %s; %s overlapping pairs of send jobs",
            samples[-1][0] - started,
            per_server,
            {name: sum(job["server"] == name for job in jobs) for name in servers},
            len(overlapping),
        )
