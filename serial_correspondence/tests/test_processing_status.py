# Copyright 2026 serial_correspondence authors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
import json

from odoo.tests import tagged

from odoo.addons.queue_job.job import Job

from .common import SerialCorrespondenceCase


@tagged("post_install", "-at_install")
class TestProcessingStatus(SerialCorrespondenceCase):
    def test_waiting_for_processing_while_the_job_is_queued(self):
        record = self.create_correspondence()
        self.assertEqual(record.processing_status, "waiting")
        labels = dict(
            record._fields["processing_status"]._description_selection(self.env)
        )
        self.assertEqual(labels["waiting"], "Waiting for processing")
        # a worker takes the job
        job = Job.load(self.env, self.queued_jobs(record).uuid)
        job.set_started()
        job.store()
        record.invalidate_recordset(["processing_status"])
        self.assertEqual(record.processing_status, "running")

    def test_no_indicator_once_recipients_are_read(self):
        record = self.create_correspondence()
        self.run_jobs()
        record.invalidate_recordset(["processing_status"])
        self.assertEqual(record.processing_status, "idle")
        self.assertFalse(record.job_uuid)

    def test_creator_is_notified_with_a_link_to_the_correspondence(self):
        record = self.create_correspondence(subject="Jahreshauptversammlung")
        self.env["bus.bus"].sudo().search([]).unlink()
        self.run_jobs()
        self.assertEqual(record.state, "ready")

        # inbox message with a link that opens the record from anywhere
        notifications = self.env["mail.notification"].search(
            [
                ("res_partner_id", "=", self.user.partner_id.id),
                ("mail_message_id.model", "=", "serial.correspondence"),
                ("mail_message_id.res_id", "=", record.id),
            ]
        )
        self.assertEqual(len(notifications), 1)
        self.assertEqual(notifications.notification_type, "inbox")
        body = notifications.mail_message_id.body
        self.assertIn('data-oe-model="serial.correspondence"', body)
        self.assertIn(f'data-oe-id="{record.id}"', body)
        self.assertIn("Jahreshauptversammlung", body)
        self.assertIn("12", body)

        # live notification on the creator's bus channel: the bus writes it
        # when the job's transaction commits
        self.env.cr.precommit.run()
        bus_rows = self.env["bus.bus"].sudo().search([])
        payloads = [json.loads(row.message) for row in bus_rows]
        toasts = [
            p for p in payloads if p["type"] == "serial_correspondence/import_done"
        ]
        self.assertEqual(len(toasts), 1)
        self.assertEqual(toasts[0]["payload"]["id"], record.id)
        self.assertIn("12", toasts[0]["payload"]["message"])
        channels = [
            json.loads(row.channel)
            for row in bus_rows
            if json.loads(row.message)["type"] == "serial_correspondence/import_done"
        ]
        self.assertEqual(
            channels, [[self.env.cr.dbname, "res.partner", self.user.partner_id.id]]
        )
