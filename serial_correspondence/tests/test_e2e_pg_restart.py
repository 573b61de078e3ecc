# Copyright 2026 serial_correspondence authors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""PostgreSQL restarted while recipients are read, e-mails sent and letters
printed (issue #14, point 2).

End to end on a dedicated, real PostgreSQL cluster (``testing/pg_cluster.py``:
``pg_createcluster``, then ``pg_ctlcluster ... restart`` in the middle of the
work, ``pg_dropcluster`` at the end): restarting the cluster the test runner
itself runs on would kill its own connections. A real Odoo server with
queue_job's runner (``testing/e2e_server.py``) serves a copy of the e2e
template database there; e-mails go to the SMTP sink of
``testing/smtp_sink.py``.

After each restart the work finishes by itself through queue_job (its
runner reconnects, a job that lost its connection runs again: see
``tools/job_recovery.py``): every contact a recipient once, every e-mail
received once at most ("delivery unknown" for at most the one e-mail in
flight per restart), every letter once in the document, in order, and no job
failed. A job of ours that does fail is reported on its correspondence
(:class:`TestFailedJobIsReported`).

Without root or the ``postgresql-common`` tools the restart tests fail with
a message saying so; they are never skipped.
"""

import collections
import contextlib
import logging
import shutil
import tempfile
import time

import psycopg2

from odoo.tests import tagged
from odoo.tests.common import BaseCase, TransactionCase

from odoo.addons.queue_job.job import Job

from ..testing.e2e_server import (
    E2EError,
    OdooServer,
    database_on_cluster,
    free_port,
    keep_artifacts,
    pg_connect,
)
from ..testing.pg_cluster import PgCluster, require_cluster_tools, server_major_version
from ..tools.job_recovery import connection_lost
from .test_e2e_send import received, start_sink

_logger = logging.getLogger(__name__)

IMPORT_METHOD = "_import_recipients_batch"
SEND_METHOD = "_send_emails"
PART_METHOD = "_generate_letters_part"
UNKNOWN = "Delivery unknown after an interruption"
SUBJECT = "Neuigkeiten für {{ object.name }}"
BODY = '<p>Hallo <t t-out="object.name"/>, hier sind unsere Neuigkeiten.</p>'


@tagged("post_install", "-at_install", "serial_correspondence_e2e")
class TestE2EPostgresRestart(BaseCase):
    """One dedicated cluster for the class; each test a database copy and a
    server of its own on it."""

    # seconds; generous for a busy two-core machine
    timeout = 300

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        # a clear failure (never a skip) without root or postgresql-common
        require_cluster_tools()
        with contextlib.closing(pg_connect("postgres")) as connection:
            version = server_major_version(connection)
        cls.cluster = PgCluster(version, free_port())
        cls.addClassCleanup(cls.cluster.drop)
        cls.cluster.make()
        cls.base = database_on_cluster(cls.cluster)
        if not keep_artifacts():
            cls.addClassCleanup(shutil.rmtree, cls.base.work_dir, ignore_errors=True)
        cls.copies = 0

    # -- set-up ---------------------------------------------------------------

    def _start_server(self, options=None):
        type(self).copies += 1
        database = self.base.duplicate(f"{self.base.name}_{self.copies}")
        server = OdooServer(database=database, options=options)
        self.addCleanup(server.close)
        server.start()
        self.server = server
        return server

    def _set_params(self, **params):
        for name, value in params.items():
            self.server.rpc(
                "ir.config_parameter",
                "set_param",
                f"serial_correspondence.{name}",
                str(value),
            )

    def _template(self):
        [partner_model] = self.server.rpc(
            "ir.model", "search", [("model", "=", "res.partner")]
        )
        return self.server.rpc(
            "mail.template",
            "create",
            {"name": "Neuigkeiten", "model_id": partner_model, "body_html": BODY},
        )

    # -- looking at the server ----------------------------------------------------

    def _state(self, correspondence_id):
        return self.server.sql_value(
            "SELECT state FROM serial_correspondence WHERE id = %s",
            [correspondence_id],
        )

    def _wait_state(self, correspondence_id, states, what):
        def reached():
            self.server.check_no_failed_job()
            state = self._state(correspondence_id)
            return state if state in states else None

        return self.server.wait_for(reached, self.timeout, what, interval=0.25)

    def _started_job(self, method):
        """The uuid of a job of ``method`` a worker is running now, or None."""
        return self.server.sql_value(
            "SELECT uuid FROM queue_job WHERE method_name = %s AND state = 'started'"
            " ORDER BY id DESC LIMIT 1",
            [method],
        )

    def _restart_when(
        self, correspondence_id, busy_states, condition, what, down_seconds=0
    ):
        """Restart the cluster as soon as ``condition()`` returns something
        (polled often) while the correspondence is in ``busy_states``;
        return what it returned. With ``down_seconds``: an outage instead
        (``pg_ctlcluster stop``, that long, ``start``)."""

        def hit():
            state = self._state(correspondence_id)
            if state not in busy_states:
                raise E2EError(f"the work ended ({state}) before the restart: {what}")
            return condition()

        seen = self.server.wait_for(hit, self.timeout, what, interval=0.02)
        restarted = time.monotonic()
        if down_seconds:
            self.cluster.stop()
            time.sleep(down_seconds)
            self.cluster.start()
        else:
            self.cluster.restart()
        _logger.info(
            "e2e pg restart: restarted the cluster at %s (%r), down %.1fs",
            what,
            seen,
            time.monotonic() - restarted,
        )
        return seen

    def _restart_while_blocked(self, method, lock_query, params, what):
        """Hold a row lock (``lock_query``, in a transaction of the test's
        own) that the running job of ``method`` needs, wait until the job
        waits for it, and restart the cluster: the job is certainly in the
        middle of its transaction. Return the job's uuid."""
        server = self.server
        blocker = pg_connect(server.db_name, server.template.db_params)
        blocker.autocommit = False
        try:
            with blocker.cursor() as cr:
                cr.execute(lock_query, params)

            def job_waits():
                return server.sql_value(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = %s"
                    " AND application_name LIKE %s AND wait_event_type = 'Lock'",
                    [server.db_name, f"{server.app_name}-%"],
                ) and self._started_job(method)

            uuid = server.wait_for(job_waits, self.timeout, what, interval=0.05)
            self.cluster.restart()
        finally:
            with contextlib.suppress(psycopg2.Error):
                blocker.close()
        _logger.info("e2e pg restart: restarted the cluster while %s (%s)", what, uuid)
        return uuid

    def _notes(self, correspondence_id, pattern):
        """[(count,)] of the correspondence's messages whose body is LIKE
        ``pattern``."""
        return self.server.sql(
            "SELECT count(*) FROM mail_message"
            " WHERE model = 'serial.correspondence' AND res_id = %s"
            " AND body LIKE %s",
            [correspondence_id, pattern],
        )

    def _jobs(self, method):
        """{uuid: (state, retry)} of the jobs of ``method``."""
        return {
            uuid: (state, retry)
            for uuid, state, retry in self.server.sql(
                "SELECT uuid, state, retry FROM queue_job WHERE method_name = %s",
                [method],
            )
        }

    def _assert_recovered(self, method, interrupted):
        """Every job of ``method`` is done; the ones running at a restart
        (``interrupted``) ran again (queue_job counts runs in ``retry``)."""
        jobs = self._jobs(method)
        self.assertEqual(
            collections.Counter(state for state, _retry in jobs.values()),
            collections.Counter({"done": len(jobs)}),
            jobs,
        )
        for uuid in interrupted:
            _state, retry = jobs[uuid]
            self.assertGreaterEqual(
                retry, 2, f"the job {uuid} running at the restart did not run again"
            )
        self.assertFalse(
            self.server.sql_value(
                "SELECT count(*) FROM queue_job WHERE state = 'failed'"
            )
        )
        # how it came back: our recovery or queue_job's requeueing of a dead job
        recovered = self.server.log_lines(
            r"connection to the database was lost|Re-queued dead job"
        )
        self.assertTrue(recovered, "no job was interrupted by the restart")
        _logger.info("e2e pg restart: recovered jobs:\n%s", "\n".join(recovered))

    # -- (a) reading recipients -------------------------------------------------

    def test_import_survives_postgresql_restart(self):
        started = time.monotonic()
        self._start_server()
        contacts, town = 6000, "Neustarthausen"
        partner_ids = self.server.insert_partners(contacts, town)
        self.server.insert_partners(150, "Anderswo", name_prefix="E2E Elsewhere")
        self._set_params(import_batch_size=400)
        correspondence_id = self.server.rpc(
            "serial.correspondence",
            "create",
            {
                "kind": "email",
                "subject": "Neustart",
                "partner_domain": repr([("city", "=", town)]),
            },
        )
        # 1. an import job in the middle of its transaction (it waits for a
        # row lock of ours when the cluster goes down)
        self.server.wait_for(
            lambda: self.server.sql_value(
                "SELECT import_done >= 800 FROM serial_correspondence WHERE id = %s",
                [correspondence_id],
            ),
            self.timeout,
            "800 contacts read",
            interval=0.02,
        )
        interrupted = {
            self._restart_while_blocked(
                IMPORT_METHOD,
                "SELECT id FROM serial_correspondence WHERE id = %s FOR UPDATE",
                [correspondence_id],
                "an import job waits for the correspondence",
            )
        }
        # 2. whenever an import job runs after 2400 contacts
        self._restart_when(
            correspondence_id,
            ("importing",),
            lambda: self.server.sql_value(
                "SELECT j.uuid FROM serial_correspondence c"
                " JOIN queue_job j ON j.uuid = c.job_uuid"
                " WHERE c.id = %s AND c.import_done >= 2400"
                " AND j.state = 'started'",
                [correspondence_id],
            ),
            "an import job running after 2400 contacts",
        )
        # 3. an outage of 15 seconds while an import job runs after 4000
        self._restart_when(
            correspondence_id,
            ("importing",),
            lambda: self.server.sql_value(
                "SELECT j.uuid FROM serial_correspondence c"
                " JOIN queue_job j ON j.uuid = c.job_uuid"
                " WHERE c.id = %s AND c.import_done >= 4000"
                " AND j.state = 'started'",
                [correspondence_id],
            ),
            "an import job running after 4000 contacts",
            down_seconds=15,
        )
        self._wait_state(correspondence_id, ("ready",), "recipients read")
        with self.server.log_on_failure():
            rows = self.server.sql(
                "SELECT partner_id, count(*) FROM serial_correspondence_recipient"
                " WHERE correspondence_id = %s GROUP BY partner_id",
                [correspondence_id],
            )
            counts = dict(rows)
            self.assertEqual(set(counts), set(partner_ids), "none lost, nobody else")
            self.assertEqual(set(counts.values()), {1}, "nobody twice")
            [(done, total)] = self.server.sql(
                "SELECT import_done, import_total FROM serial_correspondence"
                " WHERE id = %s",
                [correspondence_id],
            )
            self.assertEqual((done, total), (contacts, contacts))
            self._assert_recovered(IMPORT_METHOD, interrupted)
            # the creator is told once that the recipients are read
            notes = self._notes(correspondence_id, "%recipients of%have been read%")
            self.assertEqual(notes, [(1,)])
        _logger.info(
            "e2e pg restart: import of %s contacts, 2 restarts and an outage,"
            " test %.1fs",
            contacts,
            time.monotonic() - started,
        )

    # -- (b) sending ------------------------------------------------------------

    def test_send_survives_postgresql_restart_never_twice_never_lost(self):
        started = time.monotonic()
        mail_dir = tempfile.mkdtemp(prefix="sc_e2e_pg_restart_mail_")
        self.addCleanup(shutil.rmtree, mail_dir, ignore_errors=True)
        sink = start_sink(mail_dir)
        self.addCleanup(sink.stop)
        self._start_server()
        self.server.rpc(
            "ir.mail_server",
            "create",
            {
                "name": "SMTP sink on loopback",
                "smtp_host": "127.0.0.1",
                "smtp_port": sink.port,
                "smtp_encryption": "none",
            },
        )
        contacts, town = 2000, "Mailneustadt"
        partner_ids = self.server.insert_partners(
            contacts, town, name_prefix="E2E Neustart", email_domain="example.net"
        )
        self.server.sql(
            "UPDATE res_partner SET email_advertising_consent = 'granted'"
            " WHERE id = ANY(%s)",
            [partner_ids],
        )
        correspondence_id = self.server.rpc(
            "serial.correspondence",
            "create",
            {
                "kind": "email",
                "purpose": "advertising",
                "subject": SUBJECT,
                "template_id": self._template(),
                "email_from": "Verein Musterstadt <verein@example.com>",
                "partner_domain": repr([("city", "=", town)]),
            },
        )
        self._wait_state(correspondence_id, ("ready",), "recipients read")
        self.server.rpc("serial.correspondence", "action_send", [correspondence_id])

        # 1. while an e-mail is in flight: the sink stored it and holds its
        # "250" back; the cluster goes down before the server hears it
        self.server.wait_for(
            lambda: sink.count() >= 400, self.timeout, "400 e-mails received"
        )
        emails = dict(
            self.server.sql(
                "SELECT r.id, lower(p.email) FROM serial_correspondence_recipient r"
                " JOIN res_partner p ON p.id = r.partner_id"
                " WHERE r.correspondence_id = %s",
                [correspondence_id],
            )
        )
        # long enough for the restart to end the server's connections first,
        # also on a busy machine
        sink.handler.delay_after = 10.0

        def in_flight():
            # stored by the sink, its "250" held back now (an e-mail stored
            # just before, whose answer went out, may still be claimed
            # without an outcome for a moment: it is not in flight)
            holding = set(sink.handler.holding)
            claimed = self.server.sql(
                "SELECT id FROM serial_correspondence_recipient"
                " WHERE correspondence_id = %s AND state = 'pending'"
                " AND send_started_at IS NOT NULL",
                [correspondence_id],
            )
            arrived = [
                recipient_id
                for (recipient_id,) in claimed
                if emails[recipient_id] in holding
                and any(
                    path.name.endswith(f"-{emails[recipient_id]}.eml")
                    for path in sink.paths()
                )
            ]
            return arrived and (arrived[0], self._started_job(SEND_METHOD))

        in_flight_id, in_flight_job = self.server.wait_for(
            in_flight, self.timeout, "an e-mail in flight", interval=0.02
        )
        self.cluster.restart()
        sink.handler.delay_after = 0.0
        interrupted = {in_flight_job}
        # 2. whenever a send job runs after 1200 e-mails
        self._restart_when(
            correspondence_id,
            ("in_progress", "waiting"),
            lambda: sink.count() >= 1200 and self._started_job(SEND_METHOD),
            "1200 e-mails received",
        )
        outcome = self._wait_state(
            correspondence_id, ("send_failed", "done_auto"), "the outcome of sending"
        )
        with self.server.log_on_failure():
            rows = self.server.sql(
                """
                SELECT r.id, lower(p.email), r.state, r.reason->>'en_US',
                       r.send_started_at IS NOT NULL
                  FROM serial_correspondence_recipient r
                  JOIN res_partner p ON p.id = r.partner_id
                 WHERE r.correspondence_id = %s
                """,
                [correspondence_id],
            )
            self.assertEqual(len(rows), contacts)
            counts = received(sink)
            by_state = collections.defaultdict(list)
            for row in rows:
                by_state[row[2]].append(row)
            summary = (
                f"{ {state: len(rows) for state, rows in by_state.items()} }, "
                f"received {sum(counts.values())} by {len(counts)} addresses"
            )
            # never twice, nobody else
            twice = {address: n for address, n in counts.items() if n > 1}
            self.assertFalse(twice, f"received more than once: {twice}\n{summary}")
            self.assertLessEqual(set(counts), {row[1] for row in rows}, summary)
            # never lost: sent (and received), or "delivery unknown" (at most
            # the one e-mail in flight per restart)
            self.assertLessEqual(set(by_state), {"sent", "error"}, summary)
            for _id, address, _state, _reason, _started in by_state["sent"]:
                self.assertEqual(counts[address], 1, f"{address}\n{summary}")
            unknown = by_state["error"]
            self.assertLessEqual(len(unknown), self.cluster.restarts, summary)
            for _id, _address, _state, reason, started_mark in unknown:
                self.assertTrue(reason.startswith(UNKNOWN), reason)
                self.assertTrue(started_mark)
            self.assertEqual(outcome, "send_failed" if unknown else "done_auto")
            # the e-mail in flight at the first restart: it arrived, once,
            # and its delivery is "unknown" (never sent again)
            self.assertIn(in_flight_id, {row[0] for row in unknown}, summary)
            self.assertEqual(counts[emails[in_flight_id]], 1, summary)
            self.assertEqual(
                sum(counts.values()),
                len(by_state["sent"]) + sum(counts[row[1]] for row in unknown),
                summary,
            )
            finished = self._notes(correspondence_id, "%Sending finished%")
            self.assertEqual(finished, [(1,)])
            self._assert_recovered(SEND_METHOD, interrupted)
        _logger.info(
            "e2e pg restart: %s e-mails, %s unknown, 2 restarts, test %.1fs",
            contacts,
            len(unknown),
            time.monotonic() - started,
        )

    # -- (c) letters --------------------------------------------------------------

    def test_letter_run_survives_postgresql_restart(self):
        started = time.monotonic()
        self._start_server()
        letters, town = 300, "Briefneustadt"
        partner_ids = self.server.insert_partners(
            letters, town, name_prefix="E2E Brief"
        )
        self.server.sql(
            "UPDATE res_partner SET street = 'Hauptstraße ' || id,"
            " country_id = (SELECT id FROM res_country WHERE code = 'DE')"
            " WHERE id = ANY(%s)",
            [partner_ids],
        )
        self._set_params(letter_part_size=50)
        correspondence_id = self.server.rpc(
            "serial.correspondence",
            "create",
            {
                "kind": "letter",
                "subject": "Einladung",
                "template_id": self._template(),
                "partner_domain": repr([("city", "=", town)]),
            },
        )
        self._wait_state(correspondence_id, ("ready",), "recipients read")
        self.server.rpc("serial.correspondence", "action_generate", [correspondence_id])

        def printing_after(parts_printed):
            def condition():
                printed = self.server.sql_value(
                    "SELECT count(*) FROM serial_correspondence_letter_part"
                    " WHERE correspondence_id = %s",
                    [correspondence_id],
                )
                return printed >= parts_printed and self._started_job(PART_METHOD)

            return condition

        # 1. a part job in the middle of its transaction: it waits for a row
        # lock of ours (on the correspondence, written when the part is done)
        self.server.wait_for(
            printing_after(1), self.timeout, "a part printing after the first"
        )
        interrupted = {
            self._restart_while_blocked(
                PART_METHOD,
                "SELECT id FROM serial_correspondence WHERE id = %s FOR UPDATE",
                [correspondence_id],
                "a part job waits for the correspondence",
            )
        }
        # 2. whenever a part is printing after the fourth
        self._restart_when(
            correspondence_id,
            ("in_progress",),
            printing_after(4),
            "a part printing after the fourth",
        )
        outcome = self._wait_state(
            correspondence_id,
            ("created", "created_incomplete", "create_failed"),
            "the letters",
        )
        with self.server.log_on_failure():
            self.assertEqual(outcome, "created")
            states = dict(
                self.server.sql(
                    "SELECT state, count(*) FROM serial_correspondence_recipient"
                    " WHERE correspondence_id = %s GROUP BY state",
                    [correspondence_id],
                )
            )
            self.assertEqual(states, {"created": letters})
            # each letter in exactly one part, the parts in sort order
            parts = self.server.sql(
                "SELECT sequence, first_sequence, last_sequence, letter_count,"
                " page_count FROM serial_correspondence_letter_part"
                " WHERE correspondence_id = %s ORDER BY sequence",
                [correspondence_id],
            )
            self.assertEqual([part[0] for part in parts], list(range(1, 7)), parts)
            expected_first = 1
            for _seq, first, last, count, _pages in parts:
                self.assertEqual(first, expected_first, parts)
                self.assertEqual(last - first + 1, count, parts)
                expected_first = last + 1
            self.assertEqual(sum(part[3] for part in parts), letters)
            sequences = [
                seq
                for (seq,) in self.server.sql(
                    "SELECT letter_sequence FROM serial_correspondence_recipient"
                    " WHERE correspondence_id = %s ORDER BY letter_sequence",
                    [correspondence_id],
                )
            ]
            self.assertEqual(sequences, list(range(1, letters + 1)))
            # the document: every page of every part, once
            [(pages, attachment_id)] = self.server.sql(
                "SELECT document_page_count, document_attachment_id"
                " FROM serial_correspondence WHERE id = %s",
                [correspondence_id],
            )
            self.assertTrue(attachment_id)
            self.assertEqual(pages, sum(part[4] for part in parts))
            self.assertGreaterEqual(pages, letters)
            generated = self._notes(correspondence_id, "%Generated:%")
            self.assertEqual(generated, [(1,)])
            self._assert_recovered(PART_METHOD, interrupted)
        _logger.info(
            "e2e pg restart: %s letters, 2 restarts, test %.1fs",
            letters,
            time.monotonic() - started,
        )


@tagged("post_install", "-at_install")
class TestConnectionLost(BaseCase):
    """``tools/job_recovery.connection_lost`` on real PostgreSQL errors."""

    def _connection(self):
        connection = pg_connect("postgres")
        self.addCleanup(connection.close)
        return connection

    def test_a_terminated_session_is_a_lost_connection(self):
        victim, killer = self._connection(), self._connection()
        with killer.cursor() as cr:
            cr.execute("SELECT pg_terminate_backend(%s)", [victim.get_backend_pid()])
        time.sleep(0.2)
        with self.assertRaises(psycopg2.OperationalError) as caught:
            with victim.cursor() as cr:
                cr.execute("SELECT 1")
        self.assertTrue(connection_lost(caught.exception, victim))
        # using it again: "connection already closed"
        with self.assertRaises(psycopg2.InterfaceError) as again:
            victim.cursor()
        self.assertTrue(connection_lost(again.exception, victim))

    def test_statement_errors_are_not_a_lost_connection(self):
        connection = self._connection()
        for query in (
            "SELECT 1 / 0",
            "SELECT * FROM no_such_table_here",
            # a cancelled statement (57014) is not an administrator's shutdown
            "SET statement_timeout = 1; SELECT pg_sleep(1)",
        ):
            with self.subTest(query=query):
                with self.assertRaises(psycopg2.Error) as caught:
                    with connection.cursor() as cr:
                        cr.execute(query)
                self.assertFalse(connection_lost(caught.exception, connection))
                self.assertFalse(connection.closed)
        self.assertFalse(connection_lost(ValueError("no"), connection))


@tagged("post_install", "-at_install")
class TestFailedJobIsReported(TransactionCase):
    """A job of ours that ends failed leaves a note on its correspondence."""

    def test_failed_job_posts_on_the_correspondence(self):
        user = self.env.ref("base.user_admin")
        correspondence = (
            self.env["serial.correspondence"]
            .with_user(user)
            .create(
                {
                    "kind": "email",
                    "subject": "Fehlschlag",
                    "partner_domain": repr([("city", "=", "Nirgendwo")]),
                }
            )
        )
        # a stored job of ours, as _enqueue_job makes them
        job = Job(
            correspondence._import_recipients_batch,
            args=(10**9,),
            description="Read recipients (test)",
            channel="root.serial_correspondence",
        )
        job.store()
        job = Job.load(self.env, job.uuid)
        before = correspondence.message_ids
        # queue_job's failure path (controllers/main.py, _runjob)
        job.set_failed(
            exc_name="psycopg2.errors.UndefinedTable",
            exc_message='relation "gone" does not exist',
            exc_info="Traceback ...",
        )
        job.store()
        notes = correspondence.message_ids - before
        self.assertEqual(len(notes), 1)
        self.assertIn("failed", notes.body)
        self.assertIn('relation "gone" does not exist', notes.body)
        self.assertIn(user.partner_id, notes.partner_ids)
        # marked failed again (already failed): no second note
        job.store()
        self.assertEqual(correspondence.message_ids - before, notes)
