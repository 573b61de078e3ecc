# Copyright 2026 serial_correspondence authors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""One serial e-mail sent by several senders at once (``tools/senders.py``).

In a test, every job runs on the test's own database connection, so the
senders' advisory locks never get in each other's way here; a sender at
work on another server is played by a second, real connection holding its
slot's lock. A killed sender among real servers: ``test_e2e_send_parallel``.
"""

import collections
from unittest.mock import patch

import psycopg2

from odoo import sql_db
from odoo.exceptions import ValidationError
from odoo.tests import tagged
from odoo.tools import SQL

from odoo.addons.queue_job.jobrunner import runner

from ..tools import senders
from .common import SerialCorrespondenceCase

FINISHED = "Sending finished."


@tagged("post_install", "-at_install")
class TestParallelSending(SerialCorrespondenceCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.params = cls.env["ir.config_parameter"].sudo()
        cls.template = cls.env["mail.template"].create(
            {
                "name": "Rundschreiben",
                "model_id": cls.env.ref("base.model_res_partner").id,
                "body_html": "<p>Hallo <t t-out='object.name'/></p>",
            }
        )

    def _sending(self, connections, **params):
        """A serial e-mail to the 12 contacts of the class, sent with
        ``connections`` senders (its first job queued, none run)."""
        self.params.set_param(
            "serial_correspondence.send_connections", str(connections)
        )
        for key, value in params.items():
            self.params.set_param(f"serial_correspondence.{key}", str(value))
        record = self.create_correspondence(
            kind="email",
            purpose="information",
            subject="Hallo {{ object.name }}",
            template_id=self.template.id,
            email_from="Verein <verein@example.com>",
        )
        self.run_jobs(record)
        self.assertEqual(record.state, "ready")
        record.with_user(self.user).action_send()
        self.assertEqual(record.send_connections, connections)
        return record

    def _run_all(self, record):
        """Run the queued jobs, the planned ones too (as time would), until
        none is left; their results."""
        results = []
        for _round in range(500):
            jobs = self.queued_jobs(record, include_planned=True)
            if not jobs:
                return results
            results.append(self.perform_job(jobs[0]).result)
        raise AssertionError("the senders keep queueing jobs")

    def _received(self):
        return collections.Counter(address for _at, address in self.sink.arrivals())

    def _other_server_holds(self, record, slot):
        """A sender at work in ``slot`` elsewhere: a second real connection
        holding the slot's lock until it is closed."""
        _uri, info = sql_db.connection_info_for(self.env.cr.dbname)
        connection = psycopg2.connect(**info)
        self.addCleanup(connection.close)
        connection.autocommit = True
        cursor = connection.cursor()
        cursor.execute(
            "SELECT pg_try_advisory_lock(%s, %s)",
            (senders.SEND_LOCK_NAMESPACE + slot, record.id),
        )
        self.assertTrue(cursor.fetchone()[0])
        return connection

    def test_each_sender_sends_its_own_class_once_and_the_run_ends_once(self):
        # a slice of one e-mail: the senders take turns, job after job
        record = self._sending(3, send_slice_seconds=0)
        results = self._run_all(record)
        self.assertEqual(record.state, "done_auto")
        recipients = record.recipient_ids
        self.assertEqual(set(recipients.mapped("state")), {"sent"})
        # each recipient was claimed by the sender of its class, and only
        # by it: the three connections shared the work
        for recipient in recipients:
            self.assertEqual(recipient.send_slot, recipient.id % 3, recipient)
        self.assertEqual(set(recipients.mapped("send_slot")), {0, 1, 2})
        received = self._received()
        self.assertEqual(sorted(received), sorted(self.partners.mapped("email")))
        self.assertEqual(set(received.values()), {1})
        # exactly one sender ended the run
        self.assertEqual(results.count(FINISHED), 1, results)
        names = (
            self.env["queue.job"]
            .sudo()
            .search([("func_string", "like", f"({record.id},)._send_emails")])
            .mapped("name")
        )
        self.assertTrue(any("(connection 3)" in name for name in names), names)

    def test_a_busy_class_is_left_to_its_sender_and_taken_over_once_it_died(self):
        record = self._sending(3)
        busy = record.recipient_ids.filtered(lambda r: r.id % 3 == 1)
        under_way = busy[0]
        # the sender of slot 1, on another server, has claimed one recipient
        # and hands its e-mail to the mail server right now
        other = self._other_server_holds(record, 1)
        self.env.cr.execute(
            SQL(
                "UPDATE serial_correspondence_recipient "
                "SET send_started_at = now() AT TIME ZONE 'UTC', send_slot = 1 "
                "WHERE id = %s",
                under_way.id,
            )
        )
        self.env.invalidate_all()
        self.run_jobs(record)
        # the other classes are sent; slot 1's is left to its sender, whose
        # claim is not touched
        self.assertEqual(record.state, "in_progress")
        self.assertEqual(set(busy.mapped("state")), {"pending"})
        self.assertTrue(under_way.send_started_at)
        self.assertEqual(set((record.recipient_ids - busy).mapped("state")), {"sent"})
        self.assertFalse(set(busy.partner_id.mapped("email")) & set(self._received()))
        # a job of slot 1 on this server steps aside
        record._enqueue_send(slot=1)
        slot_job = self.queued_jobs(record).filtered(
            lambda job: "(connection 2)" in job.name
        )
        self.assertEqual(
            self.perform_job(slot_job).result,
            "Nothing to do: this connection is already sending.",
        )
        # the lead looks again later
        self.assertTrue(self.queued_jobs(record, include_planned=True))
        # the other server dies: its lock goes with its connection
        other.close()
        results = self._run_all(record)
        self.assertEqual(results.count(FINISHED), 1, results)
        self.assertEqual(record.state, "send_failed")
        # the claim it left is "delivery unknown", the rest of its class sent
        self.assertEqual(under_way.state, "error")
        self.assertTrue(under_way.delivery_unknown)
        self.assertEqual(set((busy - under_way).mapped("state")), {"sent"})
        self.assertEqual(len(record.recipient_ids.filtered("delivery_unknown")), 1)
        received = self._received()
        self.assertEqual(set(received.values()), {1})
        self.assertEqual(len(received), 11)
        self.assertNotIn(under_way.partner_id.email, received)

    def test_the_sending_limit_is_exact_with_several_senders(self):
        self.params.set_param("serial_correspondence.throttle_max_emails", "5")
        self.params.set_param("serial_correspondence.throttle_window_minutes", "60")
        record = self._sending(3)
        self.run_jobs(record)
        self.assertEqual(record.state, "waiting")
        self.assertIn("limit", record.waiting_reason)
        self.assertEqual(len(self._received()), 5)
        self.assertEqual(
            len(record.recipient_ids.filtered(lambda r: r.state == "sent")), 5
        )
        self.assertEqual(self.env["serial.correspondence.send.log"].search_count([]), 5)
        # nobody claimed beyond the limit, and no sender of the run goes on
        # before the limit allows: only the lead's planned job is left
        self.assertFalse(
            record.recipient_ids.filtered(
                lambda r: r.state == "pending" and r.send_started_at
            )
        )
        planned = self.queued_jobs(record, include_planned=True)
        self.assertEqual(len(planned), 1)
        self.assertTrue(planned.eta)
        self.assertNotIn("(connection", planned.name)

    def test_serial_emails_sharing_a_limit_take_even_turns_over_one_connection(
        self,
    ):
        self.params.set_param("serial_correspondence.throttle_max_emails", "10")
        self.params.set_param("serial_correspondence.throttle_window_minutes", "60")
        first = self._sending(3)
        second = self._sending(3)
        # a sender of the first one's class 1 (queued before the second one
        # started) stands down and leaves its class to the lead
        first._enqueue_send(slot=1)
        helper = self.queued_jobs(first).filtered(
            lambda job: "(connection 2)" in job.name
        )
        self.assertEqual(
            self.perform_job(helper).result,
            "Nothing to do: while other serial e-mails share the sending limit, "
            "the first connection sends alone.",
        )
        self.run_jobs()
        # each took its whole fair share (10 / 2) in one turn of its lead,
        # which went on into class 1 after its own class of four; no other
        # connection was queued
        for record in (first, second):
            sent = record.recipient_ids.filtered(lambda r: r.state == "sent")
            self.assertEqual(len(sent), 5, record.recipient_ids.mapped("state"))
            self.assertEqual(sorted(sent.mapped("send_slot")), [0, 0, 0, 0, 1])
            self.assertEqual(record.state, "waiting")
            self.assertIn("limit", record.waiting_reason)
        names = (
            self.env["queue.job"]
            .sudo()
            .search([("func_string", "like", "._send_emails(")])
            .mapped("name")
        )
        self.assertEqual(
            [name for name in names if "(connection" in name],
            [helper.name],
        )
        # (both go to the same twelve contacts)
        self.assertEqual(sum(self._received().values()), 10)
        # alone again (the second one stopped), the first one sends over its
        # three connections once the limit allows
        second.with_user(self.user).action_stop()
        self.run_jobs()
        self.assertNotEqual(second.state, "in_progress")
        self.params.set_param("serial_correspondence.throttle_max_emails", "100")
        first._wake_waiting()
        self.run_jobs()
        self.assertEqual(first.state, "done_auto")
        self.assertEqual(sum(self._received().values()), 17)
        self.assertEqual(len(self._received()), 12)
        names = (
            self.env["queue.job"]
            .sudo()
            .search([("func_string", "like", f"({first.id},)._send_emails(")])
            .mapped("name")
        )
        self.assertTrue(any("(connection 3)" in name for name in names), names)

    def test_a_stop_ends_every_sender(self):
        record = self._sending(3, send_slice_seconds=0)
        # the lead starts and queues the other senders
        self.perform_job(self.queued_jobs(record)[0])
        record.with_user(self.user).action_stop()
        results = self._run_all(record)
        self.assertNotEqual(record.state, "in_progress")
        self.assertNotIn(FINISHED, results)
        received = self._received()
        self.assertEqual(len(received), 1)
        self.assertEqual(
            len(record.recipient_ids.filtered(lambda r: r.state == "sent")), 1
        )
        self.assertFalse(record.recipient_ids.filtered("send_started_at"))

    def test_connections_default_to_the_channel_capacity(self):
        self.params.set_param("serial_correspondence.send_connections", "0")
        for channels, expected in (
            (None, 1),
            ("root:4", 4),
            ("root:4,root.serial_correspondence:3", 3),
            ("root:2,root.serial_correspondence:6", 2),
            ("root:200", senders.MAX_SENDERS),
        ):
            with patch.dict(runner.queue_job_config, {"channels": channels}):
                self.assertEqual(senders.sender_count(self.env), expected, channels)
        self.params.set_param("serial_correspondence.send_connections", "5")
        self.assertEqual(senders.sender_count(self.env), 5)

    def test_settings_refuse_a_number_of_connections_out_of_range(self):
        Settings = self.env["res.config.settings"]
        for wrong in (-1, senders.MAX_SENDERS + 1):
            with self.assertRaisesRegex(ValidationError, "number of connections"):
                Settings.create({"serial_send_connections": wrong})
        Settings.create({"serial_send_connections": 4}).execute()
        self.assertEqual(
            self.params.get_param("serial_correspondence.send_connections"), "4"
        )
