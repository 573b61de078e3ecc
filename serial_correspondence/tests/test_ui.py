# Copyright 2026 serial_correspondence authors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
from odoo.tests import HttpCase, new_test_user, tagged

from .common import CHANNEL


@tagged("post_install", "-at_install")
class TestUi(HttpCase):
    """The main flows in a real browser."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.user = new_test_user(
            cls.env,
            login="sc_tour",
            password="sc_tour_pw_1",
            name="Tina Tour",
            groups="base.group_user,base.group_partner_manager,"
            "serial_correspondence.group_serial_correspondence_user",
        )
        cls.partners = cls.env["res.partner"].create(
            [
                {"name": "Tourkontakt A"},
                {"name": "Tourkontakt B"},
                {"name": "Tourkontakt C"},
            ]
        )

    def _created_by_tour(self):
        return self.env["serial.correspondence"].search(
            [("create_uid", "=", self.user.id)]
        )

    def test_create_serial_email_from_the_contacts_list(self):
        self.start_tour(
            "/odoo/action-contacts.action_contacts"
            if self.env.ref("contacts.action_contacts", raise_if_not_found=False)
            else "/odoo/action-base.action_partner_form",
            "serial_correspondence_from_contacts",
            login="sc_tour",
        )
        record = self._created_by_tour()
        self.assertEqual(len(record), 1)
        self.assertEqual(record.kind, "email")
        self.assertEqual(record.subject, "Tour-Rundschreiben")
        self.assertEqual(record.state, "importing")
        job = self.env["queue.job"].search([("uuid", "=", record.job_uuid)])
        self.assertEqual((job.channel, job.state), (CHANNEL, "pending"))
        job_result = record.with_user(self.user)._import_recipients_batch(0)
        self.assertIn("2", job_result)
        self.assertEqual(record.state, "ready")
        self.assertEqual(record.recipient_ids.partner_id, self.partners[:2])

    def test_create_serial_letter_from_the_form_with_contact_tags(self):
        tag = self.env["res.partner.category"].create({"name": "Tourvorstand"})
        self.partners[1:].category_id = tag
        self.start_tour(
            "/odoo/action-serial_correspondence.serial_correspondence_action",
            "serial_correspondence_from_form",
            login="sc_tour",
        )
        record = self._created_by_tour()
        self.assertEqual(len(record), 1)
        self.assertEqual(
            (record.kind, record.subject), ("letter", "Einladung Vorstand")
        )
        self.assertEqual(record.partner_category_ids, tag)
        self.assertEqual(record.import_total, 2)
        self.assertEqual(record.processing_status, "waiting")
