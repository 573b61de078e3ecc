# Copyright 2026 serial_correspondence authors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
import base64

from odoo.exceptions import UserError
from odoo.tests import Form, tagged

from ..tools.smtp_delivery import SmtpDelivery
from .common import SerialCorrespondenceCase


@tagged("post_install", "-at_install")
class TestSendEmails(SerialCorrespondenceCase):
    """Sending through Odoo's outgoing mail servers, here the class's SMTP sink
    (``common.py``); the delivery itself is tested in
    ``test_smtp_delivery.py``, a killed server in the end-to-end tests."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.template = cls.env["mail.template"].create(
            {
                "name": "Rundschreiben",
                "model_id": cls.env.ref("base.model_res_partner").id,
                "body_html": "<p>Hallo <t t-out='object.name'/>, viele Grüße.</p>",
            }
        )
        cls.town = "Mailhausen"
        partner = cls.env["res.partner"]
        cls.allowed = partner.create(
            [
                {
                    "name": f"Erlaubt {i}",
                    "email": f"erlaubt{i}@example.com",
                    "city": cls.town,
                    "email_advertising_consent": "granted",
                }
                for i in range(3)
            ]
        )
        cls.blacklisted = partner.create(
            {
                "name": "Gesperrt",
                "email": "gesperrt@example.com",
                "city": cls.town,
                "email_advertising_consent": "granted",
            }
        )
        cls.env["mail.blacklist"].sudo()._add("gesperrt@example.com")
        cls.no_consent = partner.create(
            {"name": "Ohne Zustimmung", "email": "ohne@example.com", "city": cls.town}
        )
        cls.refused = partner.create(
            {
                "name": "Abgelehnt",
                "email": "abgelehnt@example.com",
                "city": cls.town,
                "email_advertising_consent": "refused",
            }
        )
        cls.no_email = partner.create({"name": "Ohne Adresse", "city": cls.town})
        cls.bad_email = partner.create(
            {"name": "Kaputt", "email": "kaputt@example", "city": cls.town}
        )

    def _ready_email(self, purpose="advertising", **vals):
        record = self.create_correspondence(
            kind="email",
            purpose=purpose,
            subject="Hallo {{ object.name }}",
            template_id=self.template.id,
            email_from="Verein <verein@example.com>",
            partner_domain=repr([("city", "=", self.town)]),
            **vals,
        )
        self.run_jobs(record)
        self.assertEqual(record.state, "ready")
        return record

    def _delivery(self, record):
        """The SMTP delivery a send job of ``record`` uses."""
        return SmtpDelivery(
            record.env["ir.mail_server"],
            record.email_from,
            company=record.company_id or record.env.company,
            attachments=record._email_attachments(),
        )

    def _recipient(self, record, partner):
        return record.recipient_ids.filtered(lambda r: r.partner_id == partner)

    def _messages_to(self, partner):
        return self.env["mail.message"].search(
            [
                ("model", "=", "res.partner"),
                ("res_id", "=", partner.id),
                ("message_type", "=", "email_outgoing"),
            ]
        )

    # -- refusing to start -------------------------------------------------

    def test_send_requires_subject_and_template_and_queues_nothing(self):
        record = self.create_correspondence(kind="email")
        self.run_jobs(record)
        with self.assertRaisesRegex(UserError, "a subject and a template"):
            record.with_user(self.user).action_send()
        self.assertEqual(record.state, "ready")
        self.assertFalse(self.queued_jobs(record))
        record.subject = "Betreff"
        with self.assertRaisesRegex(UserError, "a template"):
            record.with_user(self.user).action_send()
        self.assertEqual(record.state, "ready")

    def test_template_that_does_not_render_is_refused(self):
        broken = self.template.copy(
            {"body_html": "<p><t t-out='object.no_such_field'/></p>"}
        )
        record = self._ready_email(purpose="information")
        record.template_id = broken
        with self.assertRaisesRegex(UserError, "template cannot be rendered"):
            record.with_user(self.user).action_send()
        self.assertEqual(record.state, "ready")
        self.assertFalse(self.queued_jobs(record))

    def test_invalid_sender_is_refused(self):
        record = self._ready_email(purpose="information")
        record.email_from = "kein Absender"
        with self.assertRaisesRegex(UserError, "not a valid e-mail address"):
            record.with_user(self.user).action_send()
        self.assertEqual(record.state, "ready")

    def test_letters_cannot_be_sent(self):
        record = self.create_correspondence(kind="letter")
        self.run_jobs(record)
        with self.assertRaisesRegex(UserError, "cannot be sent"):
            record.action_send()

    # -- processing ----------------------------------------------------------

    def test_each_recipient_gets_its_outcome_and_reason(self):
        record = self._ready_email(purpose="advertising")
        record.with_user(self.user).action_send()
        self.assertEqual(record.state, "in_progress")
        self.assertEqual(record.processing_status, "waiting")
        self.run_jobs(record)

        expected = {
            self.blacklisted: ("excluded", "blacklisted"),
            self.no_consent: ("excluded", "not consented to advertising"),
            self.refused: ("excluded", "not consented to advertising"),
            self.no_email: ("error", "no e-mail address"),
            self.bad_email: ("error", "'kaputt@example' is not valid"),
        }
        for partner, (state, reason) in expected.items():
            recipient = self._recipient(record, partner)
            self.assertEqual(recipient.state, state, partner.name)
            self.assertIn(reason, recipient.reason, partner.name)
            self.assertFalse(self._messages_to(partner), partner.name)
        for partner in self.allowed:
            recipient = self._recipient(record, partner)
            self.assertEqual(recipient.state, "sent")
            self.assertFalse(recipient.reason)
            message = self._messages_to(partner)
            self.assertEqual(len(message), 1)
            self.assertEqual(recipient.message_id, message)
            # personalised from the template, shown in the contact's chatter
            self.assertEqual(message.subject, f"Hallo {partner.name}")
            self.assertIn(f"Hallo {partner.name}, viele Grüße.", message.body)
            self.assertIn("/serial_correspondence/unsubscribe/", message.body)
        # errors take precedence over exclusions
        self.assertEqual(record.state, "send_failed")
        self.assertEqual(
            (record.sent_count, record.excluded_count, record.error_count), (3, 3, 2)
        )

    def test_choosing_a_template_fills_an_empty_subject(self):
        self.template.subject = "Neues für {{ object.name }}"
        record = self.create_correspondence(template_id=self.template.id)
        self.assertEqual(record.subject, "Neues für {{ object.name }}")
        typed = self.create_correspondence(
            template_id=self.template.id, subject="Eigener Betreff"
        )
        self.assertEqual(typed.subject, "Eigener Betreff")
        # in the form: the onchange
        with Form(self.Correspondence.with_user(self.user)) as form:
            form.partner_domain = repr([("city", "=", self.town)])
            form.template_id = self.template
            self.assertEqual(form.subject, "Neues für {{ object.name }}")

    def test_template_attachments_go_with_every_email_and_its_history_copy(self):
        flyer = self.env["ir.attachment"].create(
            {
                "name": "Flyer.pdf",
                "raw": b"%PDF-1.4 Flyer",
                "mimetype": "application/pdf",
                "res_model": "mail.template",
                "res_id": self.template.id,
            }
        )
        self.template.attachment_ids = flyer
        record = self._ready_email(purpose="information")
        # the message as it is handed to the mail server carries the file
        sender = self._delivery(record.with_user(self.user))
        partner = self.allowed[0]
        rendered, _failures = record._render_messages(partner)
        email = record._outgoing_email(
            self._recipient(record, partner), *rendered[partner.id]
        )
        sender.prepare(email)
        data = email.envelope[2]
        self.assertIn(b'filename="Flyer.pdf"', data)
        self.assertIn(base64.b64encode(b"%PDF-1.4 Flyer"), data)
        # and every copy in the contacts' history keeps it
        record.with_user(self.user).action_send()
        self.run_jobs(record)
        for partner in self.allowed:
            self.assertEqual(self._messages_to(partner).attachment_ids, flyer)

    def test_list_unsubscribe_header_goes_out_as_a_plain_url(self):
        record = self._ready_email(purpose="advertising")
        partner = self.allowed[0]
        rendered, _failures = record._render_messages(partner)
        email = record._outgoing_email(
            self._recipient(record, partner), *rendered[partner.id]
        )
        self._delivery(record).prepare(email)
        headers = email.envelope[2].split(b"\r\n\r\n", 1)[0]
        self.assertRegex(
            headers,
            rb"(?m)^List-Unsubscribe: <https?://\S+/serial_correspondence/"
            rb"unsubscribe/%d/\S+>\r$" % partner.id,
        )
        self.assertNotIn(b"=?utf-8?q?=3C", headers)

    def test_information_ignores_advertising_consent(self):
        record = self._ready_email(purpose="information")
        record.action_send()
        self.run_jobs(record)
        for partner in self.allowed | self.no_consent | self.refused:
            self.assertEqual(self._recipient(record, partner).state, "sent")
        self.assertEqual(self._recipient(record, self.blacklisted).state, "excluded")
        message = self._messages_to(self.no_consent)
        self.assertNotIn("/serial_correspondence/unsubscribe/", message.body)

    def test_exclusions_only_is_incompletely_sent(self):
        (self.no_email | self.bad_email).active = False
        record = self._ready_email(purpose="advertising")
        record.action_send()
        self.run_jobs(record)
        self.assertEqual(record.state, "sent_incomplete")

    def test_everybody_sent_is_done_automatically(self):
        record = self.create_correspondence(
            kind="email",
            subject="Info",
            template_id=self.template.id,
            partner_domain=repr([("id", "in", self.allowed.ids)]),
        )
        self.run_jobs(record)
        record.action_send()
        self.run_jobs(record)
        self.assertEqual(record.state, "done_auto")
        self.assertFalse(record.can_finalize)
        with self.assertRaisesRegex(UserError, "finalized"):
            record.with_user(self.user).write({"subject": "Noch einmal"})

    def test_send_again_only_to_the_unsent_never_twice(self):
        record = self._ready_email(purpose="advertising")
        record.action_send()
        self.run_jobs(record)
        self.assertEqual(record.state, "send_failed")
        first_messages = {p: self._messages_to(p) for p in self.allowed}
        # the user fixes one address and gets two consents
        self.bad_email.email = "kaputt@example.com"
        (self.bad_email | self.no_consent).email_advertising_consent = "granted"
        record.with_user(self.user).action_send()
        self.assertEqual(record.state, "in_progress")
        self.run_jobs(record)
        for partner in self.allowed:
            self.assertEqual(self._messages_to(partner), first_messages[partner])
        for partner in self.bad_email | self.no_consent:
            self.assertEqual(self._recipient(record, partner).state, "sent")
            self.assertEqual(len(self._messages_to(partner)), 1)
        self.assertEqual(record.state, "send_failed")  # still no address for one
        self.assertEqual(self._recipient(record, self.no_email).state, "error")
        record.with_user(self.user).action_finalize()
        self.assertEqual(record.state, "done")
        with self.assertRaisesRegex(UserError, "cannot be sent"):
            record.action_send()

    def test_interrupted_delivery_is_reported_not_repeated(self):
        record = self._ready_email(purpose="information")
        record.action_send()
        # a worker died after claiming this recipient: the message may be out
        claimed = self._recipient(record, self.allowed[1])
        self.env.cr.execute(
            "UPDATE serial_correspondence_recipient "
            "SET send_started_at = now() AT TIME ZONE 'UTC' WHERE id = %s",
            [claimed.id],
        )
        self.env.invalidate_all()
        self.run_jobs(record)
        self.assertEqual(claimed.state, "error")
        self.assertIn("Delivery unknown after an interruption", claimed.reason)
        self.assertTrue(claimed.delivery_unknown)
        self.assertFalse(self._messages_to(self.allowed[1]))
        self.assertEqual(self._recipient(record, self.allowed[0]).state, "sent")
        self.assertEqual(record.state, "send_failed")
        # "Send e-mails" again leaves the unknown delivery alone ...
        record.action_send()
        self.run_jobs(record)
        self.assertEqual((claimed.state, claimed.delivery_unknown), ("error", True))
        self.assertFalse(self._messages_to(self.allowed[1]))
        # ... until the user decides to send it again
        claimed.with_user(self.user).action_allow_resend()
        record.action_send()
        self.run_jobs(record)
        self.assertEqual(claimed.state, "sent")
        self.assertEqual(len(self._messages_to(self.allowed[1])), 1)

    def test_recipients_are_locked_while_sending(self):
        record = self._ready_email(purpose="information")
        record.with_user(self.user).action_send()
        with self.assertRaisesRegex(UserError, "being processed"):
            record.recipient_ids[:1].with_user(self.user).unlink()
        with self.assertRaisesRegex(UserError, "being processed"):
            record.with_user(self.user).write({"template_id": False})

    def test_queries_per_recipient_are_constant(self):
        def queries_for(count):
            partners = self.env["res.partner"].create(
                [
                    {
                        "name": f"Zähler {count}-{i}",
                        "email": f"z{count}-{i}@example.com",
                    }
                    for i in range(count)
                ]
            )
            record = self.create_correspondence(
                kind="email",
                subject="Zählung",
                template_id=self.template.id,
                partner_domain=repr([("id", "in", partners.ids)]),
            )
            self.run_jobs(record)
            record.action_send()
            job = self.queued_jobs(record)
            self.env.invalidate_all()
            before = self.env.cr.sql_log_count
            self.perform_job(job)
            self.assertEqual(record.sent_count, count)
            return self.env.cr.sql_log_count - before

        queries_for(3)  # fills the caches that any first run fills
        counts = [queries_for(count) for count in (10, 20, 30)]
        # the same number of queries for every further recipient ...
        self.assertEqual(counts[2] - counts[1], counts[1] - counts[0], counts)
        # ... and no more than this: one statement (the previous outcome with
        # its entry in the contact's history, the claim, the budget row) and
        # the commit; limits add the budget lock and count
        self.assertLessEqual((counts[1] - counts[0]) / 10, 2, counts)
