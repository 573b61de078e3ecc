# Copyright 2026 serial_correspondence authors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""Preview, test e-mail and the correspondence's own attachments: rendered
with the user's rights, sent to the class's real SMTP sink through the
outgoing path of real sending, counted in the sending limits."""

from odoo.exceptions import AccessError, UserError, ValidationError
from odoo.tests import tagged

from ..testing import smtp_sink
from .common import SINK_SERVER, SerialCorrespondenceCase

SENDER = "Verein <verein@example.com>"


class PreviewCase(SerialCorrespondenceCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.template = cls.env["mail.template"].create(
            {
                "name": "Rundschreiben",
                "model_id": cls.env.ref("base.model_res_partner").id,
                "subject": "Neues für {{ object.name }}",
                "body_html": "<p>Hallo <t t-out='object.name'/>, viele Grüße.</p>",
            }
        )
        cls.Log = cls.env["serial.correspondence.send.log"]

    def ready(self, user=None, **vals):
        vals.setdefault("kind", "email")
        vals.setdefault("subject", "Hallo {{ object.name }}")
        vals.setdefault("template_id", self.template.id)
        vals.setdefault("email_from", SENDER)
        record = self.create_correspondence(user=user, **vals)
        self.run_jobs(record)
        self.assertEqual(record.state, "ready")
        return record

    def open_preview(self, record, user=None):
        action = record.with_user(user or self.user).action_preview()
        self.assertEqual(action["res_model"], "serial.correspondence.preview")
        return (
            self.env["serial.correspondence.preview"]
            .with_user(user or self.user)
            .browse(action["res_id"])
        )

    def set_limits(self, max_emails=0, minutes=60.0):
        params = self.env["ir.config_parameter"].sudo()
        params.set_param("serial_correspondence.throttle_max_emails", str(max_emails))
        params.set_param("serial_correspondence.throttle_window_minutes", str(minutes))

    def attachment(self, record, name="Programm.pdf", user=None):
        """A file uploaded to ``record`` (as the form's upload does)."""
        return (
            self.env["ir.attachment"]
            .with_user(user or self.user)
            .create(
                {
                    "name": name,
                    "raw": b"%PDF-1.4 " + name.encode(),
                    "mimetype": "application/pdf",
                    "res_model": "serial.correspondence",
                    "res_id": record.id,
                }
            )
        )

    def log_count(self):
        return self.Log.sudo().search_count([])

    @staticmethod
    def filenames(message):
        return sorted(part.get_filename() for part in message.iter_attachments())


@tagged("post_install", "-at_install")
class TestPreview(PreviewCase):
    def test_preview_renders_subject_and_body_for_the_chosen_recipient(self):
        record = self.ready()
        wizard = self.open_preview(record)
        first = record.recipient_ids.sorted("id")[0]
        self.assertEqual(wizard.recipient_id, first)
        self.assertFalse(wizard.preview_error)
        self.assertEqual(wizard.preview_subject, f"Hallo {first.partner_id.name}")
        self.assertIn(f"Hallo {first.partner_id.name}, viele", wizard.preview_body)
        # the e-mail as the contact gets it: not the history copy's link line
        self.assertNotIn("/odoo/serial.correspondence/", str(wizard.preview_body))
        other = record.recipient_ids.sorted("id")[5]
        wizard.recipient_id = other
        self.assertEqual(wizard.preview_subject, f"Hallo {other.partner_id.name}")
        self.assertIn(other.partner_id.name, wizard.preview_body)
        self.assertNotIn(first.partner_id.name, wizard.preview_body)

    def test_preview_of_a_letter_is_the_letter_page(self):
        record = self.ready(kind="letter")
        wizard = self.open_preview(record)
        partner = wizard.recipient_id.partner_id
        self.assertFalse(wizard.preview_error)
        self.assertIn('class="sc-letter"', wizard.preview_body)
        self.assertIn("sc-address", wizard.preview_body)
        self.assertIn(f"Hallo {partner.name}, viele", wizard.preview_body)
        self.assertIn(partner.zip, wizard.preview_body)
        # the letter layout's own styles come with it
        self.assertIn("<style", wizard.preview_body)

    def test_template_that_fails_shows_the_error(self):
        record = self.ready()
        record.template_id = self.template.copy(
            {"body_html": "<p><t t-out='object.no_such_field'/></p>"}
        )
        wizard = self.open_preview(record)
        self.assertIn("no_such_field", wizard.preview_error)
        self.assertFalse(wizard.preview_body)
        self.assertFalse(wizard.preview_subject)

    def test_only_recipients_of_the_correspondence(self):
        record = self.ready()
        other = self.ready()
        wizard = self.open_preview(record)
        with self.assertRaises(ValidationError):
            wizard.recipient_id = other.recipient_ids[0]
            wizard.flush_recordset()
        with self.assertRaises(ValidationError):
            self.env["serial.correspondence.preview"].with_user(self.user).create(
                {
                    "correspondence_id": record.id,
                    "recipient_id": other.recipient_ids[0].id,
                }
            )

    def test_preview_of_a_correspondence_the_user_may_not_read_is_refused(self):
        foreign = self.ready(user=self.manager)
        with self.assertRaises(AccessError):
            foreign.with_user(self.user).action_preview()
        wizard = (
            self.env["serial.correspondence.preview"]
            .with_user(self.user)
            .create({"correspondence_id": foreign.id})
        )
        with self.assertRaises(AccessError):
            wizard.read(["preview_body"])


@tagged("post_install", "-at_install")
class TestPreviewPlainUser(PreviewCase):
    """A user who is not a template editor previews only what they may
    render: placeholders, no code."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.env["ir.config_parameter"].sudo().set_param(
            "mail.restrict.template.rendering", True
        )
        editor_group = cls.env.ref("mail.group_mail_template_editor")
        cls.env.ref("base.group_user").implied_ids -= editor_group
        editor_group.users -= cls.user
        assert not cls.user.has_group("mail.group_mail_template_editor")

    def test_placeholders_render_code_does_not_run(self):
        record = self.ready()
        wizard = self.open_preview(record)
        partner = wizard.recipient_id.partner_id
        self.assertEqual(wizard.preview_subject, f"Hallo {partner.name}")
        system = self.env.ref("base.group_system")
        record.with_user(self.user).subject = (
            "{{ object.env.user.sudo().write("
            f"{{'groups_id': [(4, {system.id})]}}) }}}}"
        )
        wizard = self.open_preview(record)
        self.assertTrue(wizard.preview_error)
        self.assertFalse(wizard.preview_subject)
        self.assertFalse(self.user.has_group("base.group_system"))
        with self.assertRaises(UserError):
            record.with_user(self.user).action_send_test("test@example.com")
        self.assertEqual(self.sink.count(), 0)


@tagged("post_install", "-at_install")
class TestTestEmail(PreviewCase):
    def test_test_email_arrives_with_the_attachments_and_changes_no_recipient(self):
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
        record = self.ready(purpose="advertising")
        record.with_user(self.user).attachment_ids = self.attachment(record)
        before = {r.id: (r.state, r.reason) for r in record.recipient_ids}
        logged = self.log_count()
        first = record.recipient_ids.sorted("id")[0].partner_id
        record.with_user(self.user).action_send_test(
            "pruefer@example.com, Zweite <zweite@example.org>"
        )
        messages = self.sink.messages()
        self.assertEqual(
            sorted(str(message["Delivered-To"]) for message in messages),
            ["pruefer@example.com", "zweite@example.org"],
        )
        for message in messages:
            self.assertEqual(str(message["Subject"]), f"[Test] Hallo {first.name}")
            self.assertEqual(self.filenames(message), ["Flyer.pdf", "Programm.pdf"])
            self.assertIn("verein@example.com", str(message["From"]))
            # advertising: the unsubscribe footer and headers, as sent
            self.assertTrue(message["List-Unsubscribe"])
            body = message.get_body(("html",)).get_content()
            self.assertIn("Unsubscribe", body)
            # ... but the link is the tester's own, never the contact's
            self.assertIn(f"/unsubscribe/{self.user.partner_id.id}/", body)
            self.assertNotIn(f"/unsubscribe/{first.id}/", body)
        # counted in the sending limits, one per address
        self.assertEqual(self.log_count(), logged + 2)
        record.invalidate_recordset()
        self.assertEqual(
            {r.id: (r.state, r.reason) for r in record.recipient_ids}, before
        )
        self.assertEqual(record.state, "ready")
        self.assertFalse(
            self.env["mail.message"].search_count(
                [
                    ("model", "=", "res.partner"),
                    ("res_id", "=", first.id),
                    ("message_type", "=", "email_outgoing"),
                ]
            )
        )
        note = record.message_ids.filtered(
            lambda message: "Test e-mail sent to" in (message.body or "")
        )
        self.assertEqual(len(note), 1)
        self.assertIn("pruefer@example.com", note.body)

    def test_test_email_for_a_chosen_recipient_or_the_users_contact(self):
        record = self.ready()
        chosen = record.recipient_ids.sorted("id")[3]
        record.with_user(self.user).action_send_test(
            "pruefer@example.com", recipient_id=chosen.id
        )
        (message,) = self.sink.messages()
        self.assertEqual(
            str(message["Subject"]), f"[Test] Hallo {chosen.partner_id.name}"
        )
        # a recipient of another correspondence is refused
        other = self.ready()
        with self.assertRaisesRegex(UserError, "recipient of this correspondence"):
            record.with_user(self.user).action_send_test(
                "pruefer@example.com", recipient_id=other.recipient_ids[0].id
            )
        # no recipient at all: the user's own contact
        nobody = self.ready(partner_domain=repr([("id", "=", 0)]))
        self.sink.clear()
        nobody.with_user(self.user).action_send_test("pruefer@example.com")
        (message,) = self.sink.messages()
        self.assertEqual(str(message["Subject"]), f"[Test] Hallo {self.user.name}")

    def test_test_email_from_the_wizard(self):
        record = self.ready()
        wizard = self.open_preview(record)
        self.assertEqual(wizard.email_to, self.user.email)
        wizard.recipient_id = record.recipient_ids.sorted("id")[2]
        action = wizard.action_send_test()
        self.assertEqual(action["tag"], "display_notification")
        (message,) = self.sink.messages()
        self.assertEqual(str(message["Delivered-To"]), self.user.email)
        self.assertEqual(
            str(message["Subject"]),
            f"[Test] Hallo {wizard.recipient_id.partner_id.name}",
        )

    def test_bad_or_missing_addresses_are_refused(self):
        record = self.ready()
        logged = self.log_count()
        for email_to in (
            "",
            " , ",
            "kein-adresse",
            "a@example.com, kaputt@",
            "a@example.com, zwei@@example.com",
        ):
            with self.subTest(email_to=email_to), self.assertRaises(UserError):
                record.with_user(self.user).action_send_test(email_to)
        with self.assertRaises(UserError):
            record.with_user(self.user).action_send_test(["a@example.com"])
        self.assertEqual(self.sink.count(), 0)
        self.assertEqual(self.log_count(), logged)

    def test_refused_when_the_sending_limit_is_reached(self):
        self.set_limits(max_emails=2, minutes=60)
        record = self.ready()
        record.with_user(self.user).action_send_test("eins@example.com")
        # two addresses, one e-mail left: nothing goes out
        with self.assertRaisesRegex(UserError, "sending limit is reached.*again from"):
            record.with_user(self.user).action_send_test(
                "zwei@example.com, drei@example.com"
            )
        self.assertEqual(self.sink.count(), 1)
        record.with_user(self.user).action_send_test("zwei@example.com")
        self.assertEqual(self.sink.count(), 2)
        with self.assertRaisesRegex(UserError, "sending limit is reached"):
            record.with_user(self.user).action_send_test("vier@example.com")
        self.assertEqual(self.sink.count(), 2)

    def test_allowed_while_sending_refused_when_done(self):
        record = self.ready()
        record.with_user(self.user).action_send()
        self.assertEqual(record.state, "in_progress")
        record.with_user(self.user).action_send_test("pruefer@example.com")
        self.assertEqual(self.sink.count(), 1)
        self.assertEqual(set(record.recipient_ids.mapped("state")), {"pending"})
        self.run_jobs(record)
        self.assertEqual(record.state, "done_auto")
        with self.assertRaisesRegex(UserError, "finalized"):
            record.with_user(self.user).action_send_test("pruefer@example.com")

    def test_only_for_users_who_may_write_and_only_for_emails(self):
        foreign = self.ready(user=self.manager)
        with self.assertRaises(AccessError):
            foreign.with_user(self.user).action_send_test("pruefer@example.com")
        letter = self.ready(kind="letter")
        with self.assertRaisesRegex(UserError, "serial e-mail"):
            letter.with_user(self.user).action_send_test("pruefer@example.com")
        self.assertEqual(self.sink.count(), 0)

    def test_refused_mail_gives_its_email_back_to_the_limits(self):
        record = self.ready()
        logged = self.log_count()
        self.sink.refuse("weg@example.com")
        with self.assertRaisesRegex(UserError, "refused the test e-mail"):
            record.with_user(self.user).action_send_test("weg@example.com")
        self.assertEqual(self.log_count(), logged)

    def test_unreachable_mail_server_says_what_to_check(self):
        record = self.ready()
        logged = self.log_count()
        port = smtp_sink.free_port("127.0.0.1")
        self.env["ir.mail_server"].sudo().search([]).smtp_port = port
        with self.assertRaises(UserError) as raised:
            record.with_user(self.user).action_send_test("pruefer@example.com")
        message = str(raised.exception)
        self.assertIn("The test e-mail was not sent: Cannot connect to the", message)
        self.assertIn(f"'{SINK_SERVER}'", message)
        self.assertIn("host, port and connection encryption", message)
        # its host and port are the administrator's
        self.assertNotIn(str(port), message)
        self.assertEqual(self.log_count(), logged)


@tagged("post_install", "-at_install")
class TestCorrespondenceAttachments(PreviewCase):
    def test_attachments_go_with_every_email_of_a_send_job(self):
        record = self.ready()
        programme = self.attachment(record)
        record.with_user(self.user).write({"attachment_ids": [(4, programme.id)]})
        self.assertEqual(record._email_attachments(), programme)
        record.with_user(self.user).action_send()
        self.run_jobs(record)
        self.assertEqual(record.state, "done_auto")
        messages = self.sink.messages()
        self.assertEqual(len(messages), len(record.recipient_ids))
        for message in messages:
            self.assertEqual(self.filenames(message), ["Programm.pdf"])
            (part,) = message.iter_attachments()
            self.assertEqual(part.get_content(), b"%PDF-1.4 Programm.pdf")
        for recipient in record.recipient_ids:
            self.assertEqual(recipient.state, "sent")
            history = self.env["mail.message"].search(
                [
                    ("model", "=", "res.partner"),
                    ("res_id", "=", recipient.partner_id.id),
                    ("message_type", "=", "email_outgoing"),
                ]
            )
            self.assertEqual(history.attachment_ids, programme)

    def test_foreign_attachment_is_refused(self):
        record = self.ready()
        secret_record = self.ready(user=self.manager)
        secret = self.attachment(secret_record, "Geheim.pdf", user=self.manager)
        # unattached, uploaded by someone else
        loose = (
            self.env["ir.attachment"]
            .with_user(self.manager)
            .create({"name": "Lose.pdf", "raw": b"%PDF-1.4 lose"})
        )
        for commands in (
            [(4, secret.id)],
            [(6, 0, [secret.id])],
            [(4, loose.id)],
            [(4, 999999999)],
        ):
            with self.subTest(commands=commands), self.assertRaises(AccessError):
                record.with_user(self.user).write({"attachment_ids": commands})
            with self.subTest(commands=commands), self.assertRaises(AccessError):
                self.Correspondence.with_user(self.user).create(
                    {
                        "kind": "email",
                        "partner_domain": repr([("city", "=", self.town)]),
                        "attachment_ids": commands,
                    }
                )
        self.assertFalse(record.attachment_ids)
        # the user's own upload is fine
        own = self.attachment(record)
        record.with_user(self.user).write({"attachment_ids": [(6, 0, own.ids)]})
        self.assertEqual(record.attachment_ids, own)

    def test_attachments_frozen_while_sending(self):
        record = self.ready()
        first = self.attachment(record)
        record.with_user(self.user).attachment_ids = first
        record.with_user(self.user).action_send()
        self.assertTrue(record.is_locked)
        second = self.attachment(record, "Nachtrag.pdf")
        for commands in ([(4, second.id)], [(3, first.id)], [(5, 0, 0)]):
            with self.subTest(commands=commands), self.assertRaises(UserError):
                record.with_user(self.user).write({"attachment_ids": commands})
        self.assertEqual(record.attachment_ids, first)
