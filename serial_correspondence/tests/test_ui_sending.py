# Copyright 2026 serial_correspondence authors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""Before and while sending (issue 11), in a real browser: preview, check
recipients, test e-mail (into the real SMTP sink), Send at, Stop."""

from odoo.tests import HttpCase, new_test_user, tagged

from .common import start_smtp_sink

ACTION_URL = "/odoo/action-serial_correspondence.serial_correspondence_action"


@tagged("post_install", "-at_install")
class TestUiBeforeSending(HttpCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.sink = start_smtp_sink(cls)
        cls.user = new_test_user(
            cls.env,
            login="sc_tour_send",
            password="sc_tour_send_pw_1",
            name="Tina Tour",
            email="tina@example.com",
            groups="base.group_user,base.group_partner_manager,"
            "serial_correspondence.group_serial_correspondence_user",
        )
        cls.partners = cls.env["res.partner"].create(
            [
                {"name": "Tourkontakt A", "email": "a@example.com"},
                {"name": "Tourkontakt B", "email": "b@example.com"},
                {"name": "Tourkontakt C"},
            ]
        )
        cls.template = cls.env["mail.template"].create(
            {
                "name": "Tourvorlage",
                "model_id": cls.env.ref("base.model_res_partner").id,
                "subject": "Information für {{ object.name }}",
                "body_html": "<p>Hallo <t t-out='object.name'/></p>",
            }
        )

    def test_preview_check_test_email_send_at_and_stop(self):
        record = (
            self.env["serial.correspondence"]
            .with_user(self.user)
            .create(
                {
                    "kind": "email",
                    "subject": "Information für {{ object.name }}",
                    "template_id": self.template.id,
                    "email_from": "verein@example.com",
                    "partner_domain": repr([("id", "in", self.partners.ids)]),
                }
            )
        )
        record._import_recipients_batch(0)
        self.assertEqual(record.state, "ready")
        self.sink.clear()
        self.start_tour(
            f"{ACTION_URL}/{record.id}",
            "serial_correspondence_before_sending",
            login="sc_tour_send",
        )
        record.invalidate_recordset()
        # the test e-mail went out through the real mail server, marked as a
        # test and written for the first recipient
        messages = self.sink.messages()
        self.assertEqual(len(messages), 1, "exactly the test e-mail")
        self.assertEqual(
            messages[0]["To"].addresses[0].addr_spec, "pruefer@example.com"
        )
        self.assertIn("Test", messages[0]["Subject"])
        self.assertIn("Tourkontakt A", messages[0]["Subject"])
        # the check stored its findings; the recipients themselves are untouched
        self.assertEqual(
            sorted(record.recipient_ids.mapped("check_state")), ["error", "ok", "ok"]
        )
        self.assertEqual(set(record.recipient_ids.mapped("state")), {"pending"})
        # planned, then stopped before its time: ready again, nothing sent
        self.assertEqual(record.state, "ready")
        self.assertEqual(str(record.scheduled_at.year), "2030")
        self.assertEqual(record.sent_count, 0)
        self.assertIn(
            "Test e-mail sent to pruefer@example.com",
            " ".join(record.message_ids.mapped("body")),
        )
