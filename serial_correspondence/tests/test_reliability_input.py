# Copyright 2026 serial_correspondence authors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""The bad input catalogue (issue #14, point 5): each bad input a user, an
administrator or an integrator can give, and what comes of it. Each test
shows the message the user gets (naming the fix) and that nothing is lost:
no record half-written, the other recipients processed, no job failed in
queue_job. Real database, real queue_job jobs, real SMTP sink, real
wkhtmltopdf. The README's "Reliability" table lists them."""

import base64

from odoo import Command, fields
from odoo.exceptions import UserError, ValidationError
from odoo.tests import new_test_user, tagged

from .common import CHANNEL, SerialCorrespondenceCase
from .letter_common import LetterDataMixin, pdf_text

PARAM = "serial_correspondence.{}".format


@tagged("post_install", "-at_install")
class TestBadInputCatalogue(LetterDataMixin, SerialCorrespondenceCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.setup_letter_data()
        cls.params = cls.env["ir.config_parameter"].sudo()
        cls.mail_template = cls.env["mail.template"].create(
            {
                "name": "Rundbrief",
                "model_id": cls.env.ref("base.model_res_partner").id,
                "subject": "Hallo {{ object.name }}",
                "body_html": "<p>Hallo <t t-out='object.name'/>, viele Grüße.</p>",
            }
        )
        cls.mail_town = "Eingabestadt"
        cls.contacts = cls.Partner.create(
            [
                {
                    "name": f"Person {i}",
                    "email": f"person{i}@example.com",
                    "city": cls.mail_town,
                    "ref": f"R{i}",
                }
                for i in range(4)
            ]
        )
        cls.mail_domain = repr([("city", "=", cls.mail_town)])

    # -- helpers ---------------------------------------------------------------

    def ready_email(self, partners=None, user=None, **vals):
        """A serial e-mail, its recipients read (state ready)."""
        vals.setdefault("subject", "Hallo {{ object.name }}")
        vals.setdefault("template_id", self.mail_template.id)
        vals.setdefault("email_from", "Verein <verein@example.com>")
        domain = vals.pop(
            "partner_domain",
            repr([("id", "in", partners.ids)])
            if partners is not None
            else self.mail_domain,
        )
        record = self.create_correspondence(
            user=user, kind="email", partner_domain=domain, **vals
        )
        self.run_jobs(record)
        self.assertEqual(record.state, "ready")
        return record

    def jobs_of(self, record):
        return (
            self.env["queue.job"]
            .sudo()
            .search([("channel", "=", CHANNEL), ("model_name", "=", record._name)])
            .filtered(lambda job: job.records.ids == record.ids)
        )

    def assertNoJobFailed(self, record):
        """Every job of ``record`` is done, or planned for later (waiting
        for the sending limits): none failed, none left behind."""
        jobs = self.jobs_of(record)
        self.assertTrue(jobs, "jobs ran")
        now = fields.Datetime.now()
        unfinished = jobs.filtered(
            lambda job: (
                job.state != "done"
                and not (job.state == "pending" and job.eta and job.eta > now)
            )
        )
        self.assertFalse(
            unfinished,
            [(job.name, job.state, job.exc_info) for job in unfinished],
        )

    def assertRefusedNothingQueued(self, record, state="ready"):
        """A refused start leaves everything as it was."""
        record.invalidate_recordset()
        self.assertEqual(record.state, state)
        self.assertFalse(self.queued_jobs(record, include_planned=True))
        self.assertEqual(set(record.recipient_ids.mapped("state")) - {"pending"}, set())
        self.assertFalse(self.sink.count(), "nothing was sent")

    def received(self):
        """The messages the SMTP sink received, parsed."""
        return self.sink.messages()

    def sink_raw(self):
        """The messages the SMTP sink received, as bytes."""
        return [received.content for received in self.sink.envelopes()]

    def assertNoted(self, record, text):
        """The chatter of ``record`` tells the user ``text``."""
        bodies = record.message_ids.mapped("body")
        self.assertTrue(any(text in str(body) for body in bodies), bodies)

    def recipients_by_partner(self, record):
        return {r.partner_id: r for r in record.recipient_ids}

    def send(self, record, user=None):
        record.with_user(user or self.user).action_send()
        self.run_jobs(record)
        record.invalidate_recordset()
        return record

    def make_waiting(self, record, user=None):
        """Send with a limit of one e-mail per hour: one goes out, the
        correspondence waits with its job planned."""
        self.params.set_param(PARAM("throttle_max_emails"), "1")
        self.params.set_param(PARAM("throttle_window_minutes"), "60")
        record.with_user(user or self.user).action_send()
        self.run_jobs(record)
        record.invalidate_recordset()
        self.assertEqual(record.state, "waiting")
        self.assertEqual(record.sent_count, 1)
        self.assertTrue(self.queued_jobs(record, include_planned=True))

    def run_waiting_job(self, record):
        """The limits are lifted and the planned job's time has come."""
        self.params.set_param(PARAM("throttle_max_emails"), "0")
        self.queued_jobs(record, include_planned=True).write({"eta": False})
        self.run_jobs(record)
        record.invalidate_recordset()

    # -- 1-3: the sender -------------------------------------------------------

    def test_01_empty_sender_is_refused_naming_the_fix(self):
        record = self.ready_email(email_from=False)
        with self.assertRaisesRegex(UserError, "sender .* not a valid e-mail address"):
            record.with_user(self.user).action_send()
        self.assertRefusedNothingQueued(record)

    def test_02_invalid_sender_is_refused_naming_the_fix(self):
        for sender in ("Verein <verein@>", "verein", "a@b@c.example", "@example.com"):
            record = self.ready_email(email_from=sender)
            with self.assertRaisesRegex(UserError, "Enter the sender as an e-mail"):
                record.with_user(self.user).action_send()
            self.assertRefusedNothingQueued(record)

    def test_03_sender_with_header_injection_is_refused(self):
        for sender in (
            "verein@example.com\nBcc: opfer@example.net",
            "Verein\r\nBcc: x <verein@example.com>",
            "Verein\nX-Spam: yes <verein@example.com>",
        ):
            record = self.ready_email(email_from=sender)
            with self.assertRaisesRegex(UserError, "sender"):
                record.with_user(self.user).action_send()
            self.assertRefusedNothingQueued(record)
            # nor through a test e-mail
            with self.assertRaisesRegex(UserError, "sender"):
                record.with_user(self.user).action_send_test("test@example.com")
        self.assertFalse(self.sink_raw())

    # -- 4-6: the subject ------------------------------------------------------

    def test_04_subject_of_10000_characters_is_sent_whole(self):
        subject = "Rundbrief " + "x" * 9990
        record = self.send(self.ready_email(subject=subject))
        self.assertEqual(record.state, "done_auto")
        self.assertNoJobFailed(record)
        messages = self.received()
        self.assertEqual(len(messages), len(self.contacts))
        for message in messages:
            self.assertEqual(message["Subject"], subject)

    def test_05_subject_with_line_breaks_cannot_inject_headers(self):
        record = self.send(
            self.ready_email(subject="Hallo\r\nBcc: opfer@example.net\nX-Evil: 1")
        )
        self.assertEqual(record.state, "done_auto")
        self.assertNoJobFailed(record)
        messages = self.received()
        self.assertEqual(len(messages), len(self.contacts))
        for message in messages:
            self.assertIsNone(message["Bcc"])
            self.assertIsNone(message["X-Evil"])
            self.assertNotIn("\n", message["Subject"])
            self.assertIn("Bcc: opfer@example.net", message["Subject"])
        envelope = {to for got in self.sink.envelopes() for to in got.rcpt_tos}
        self.assertNotIn("opfer@example.net", envelope)

    def test_06_contact_name_with_line_break_in_subject_is_one_line(self):
        odd = self.Partner.create(
            {"name": "Eva\nBcc: opfer@example.net", "email": "eva@example.com"}
        )
        record = self.send(self.ready_email(odd | self.contacts[0]))
        self.assertEqual(record.state, "done_auto")
        for message in self.received():
            self.assertIsNone(message["Bcc"])
            self.assertNotIn("\n", message["Subject"])

    # -- 7-10: templates -------------------------------------------------------

    def test_07_template_failing_for_one_contact_the_others_are_sent(self):
        failing = self.mail_template.copy(
            {"body_html": "<p>Nr. <t t-out='object.ref.upper()'/></p>"}
        )
        no_ref = self.Partner.create(
            {
                "name": "Zora Ohnenummer",
                "email": "zora@example.com",
                "city": self.mail_town,
            }
        )
        record = self.send(self.ready_email(template_id=failing.id))
        self.assertEqual(record.state, "send_failed")
        self.assertNoJobFailed(record)
        recipients = self.recipients_by_partner(record)
        self.assertEqual(recipients[no_ref].state, "error")
        self.assertIn(
            "template cannot be rendered for this contact", recipients[no_ref].reason
        )
        for partner in self.contacts:
            self.assertEqual(recipients[partner].state, "sent")
        self.assertEqual(len(self.sink_raw()), len(self.contacts))

    def test_08_letter_template_failing_for_one_contact_the_others_get_letters(self):
        failing = self.letter_template.copy(
            {"body_html": "<p>Nr. <t t-out='object.ref.upper()'/></p>"}
        )
        partners = self.anna | self.bernd | self.clara
        (self.anna | self.clara).write({"ref": "M1"})
        self.bernd.ref = False
        record = self.generate(
            self.letter(partners, template_id=failing.id, sort_order="name")
        )
        self.assertNoJobFailed(record)
        self.assertEqual(record.state, "create_failed")
        self.assertEqual(self.recipient(record, self.bernd).state, "error")
        self.assertIn(
            "template cannot be rendered", self.recipient(record, self.bernd).reason
        )
        text = pdf_text(self.document(record))
        self.assertIn("Anna Zimmermann", text)
        self.assertIn("Clara Müller", text)
        self.assertNotIn("Bernd Adler", text)

    def test_09_template_with_a_syntax_error_is_refused_before_starting(self):
        broken = self.mail_template.copy(
            {"body_html": "<p><t t-out='object.name +'/></p>"}
        )
        record = self.ready_email(template_id=broken.id)
        with self.assertRaisesRegex(UserError, "template cannot be rendered"):
            record.with_user(self.user).action_send()
        self.assertRefusedNothingQueued(record)
        letter = self.letter(self.anna, template_id=broken.id)
        with self.assertRaisesRegex(UserError, "template cannot be rendered"):
            letter.with_user(self.user).action_generate()
        self.assertRefusedNothingQueued(letter)

    def test_10_placeholder_on_a_field_the_user_may_not_read(self):
        # signup_type: only for administrators (base.group_erp_manager); the
        # template renders with the user's rights, never with sudo
        hidden = self.mail_template.copy(
            {"body_html": "<p>Typ: <t t-out='object.signup_type'/></p>"}
        )
        record = self.ready_email(template_id=hidden.id)
        with self.assertRaisesRegex(UserError, "template cannot be rendered"):
            record.with_user(self.user).action_send()
        self.assertRefusedNothingQueued(record)
        # nor through a template reading what no user may read
        secret = self.mail_template.copy(
            {
                "body_html": '<p><t t-out=\'object.env["ir.config_parameter"]'
                '.get_param("database.secret")\'/></p>'
            }
        )
        record = self.ready_email(template_id=secret.id)
        with self.assertRaisesRegex(UserError, "template cannot be rendered"):
            record.with_user(self.user).action_send()
        self.assertRefusedNothingQueued(record)
        self.assertFalse(self.sink_raw())
        # a manager who may read it sends it
        self.assertTrue(self.env.user.has_group("base.group_erp_manager"))

    def test_11_empty_template_body_is_refused_naming_the_fix(self):
        empty = self.mail_template.copy({"body_html": "<p><br></p>"})
        record = self.ready_email(template_id=empty.id)
        with self.assertRaisesRegex(UserError, "template with a text"):
            record.with_user(self.user).action_send()
        self.assertRefusedNothingQueued(record)
        letter = self.letter(self.anna, template_id=empty.id)
        with self.assertRaisesRegex(UserError, "template with a text"):
            letter.with_user(self.user).action_generate()
        self.assertRefusedNothingQueued(letter)
        # address labels need no text
        labels = self.letter(self.anna, template_id=empty.id, output="labels")
        self.generate(labels)
        self.assertEqual(labels.state, "created")

    def test_12_huge_html_body_is_sent(self):
        paragraph = "<p>" + "Lorem ipsum dolor sit amet. " * 40 + "</p>"
        huge = self.mail_template.copy({"body_html": paragraph * 900})  # ~1 MB
        record = self.send(self.ready_email(self.contacts[:2], template_id=huge.id))
        self.assertEqual(record.state, "done_auto")
        self.assertNoJobFailed(record)
        self.assertEqual(len(self.sink_raw()), 2)
        self.assertGreater(min(len(raw) for raw in self.sink_raw()), 1_000_000)

    # -- 13-15: the contact filter ---------------------------------------------

    def test_13_filter_on_an_unknown_field_is_refused_nothing_created(self):
        before = self.Correspondence.search_count([])
        with self.assertRaisesRegex(
            ValidationError, "contact filter is not valid.*no_such_field"
        ):
            self.create_correspondence(partner_domain="[('no_such_field', '=', 1)]")
        with self.assertRaisesRegex(ValidationError, "contact filter is not valid"):
            self.create_correspondence(partner_domain="[('name', 'resembles', 'x')]")
        with self.assertRaisesRegex(ValidationError, "contact filter is not valid"):
            self.create_correspondence(partner_domain="__import__('os').getcwd()")
        self.assertEqual(self.Correspondence.search_count([]), before)
        self.assertFalse(self.queued_jobs())

    def test_14_zero_recipients_e_mail_is_refused_naming_the_fix(self):
        record = self.ready_email(
            partner_domain=repr([("name", "=", "Niemand Nirgends")])
        )
        self.assertEqual(record.recipient_count, 0)
        self.assertNoJobFailed(record)
        # the creator is told at once, with the fix
        told = self.env["mail.message"].search(
            [
                ("model", "=", record._name),
                ("res_id", "=", record.id),
                ("body", "ilike", "No contact matches the contact filter"),
            ]
        )
        self.assertEqual(told.partner_ids, self.user.partner_id)
        with self.assertRaisesRegex(UserError, "no recipients"):
            record.with_user(self.user).action_send()
        self.assertRefusedNothingQueued(record)

    def test_15_zero_recipients_letters_and_labels_are_refused(self):
        for output in ("letters", "labels"):
            record = self.letter(self.Partner, output=output)
            self.assertEqual(record.recipient_count, 0)
            with self.assertRaisesRegex(UserError, "no recipients"):
                record.with_user(self.user).action_generate()
            self.assertRefusedNothingQueued(record)
            self.assertFalse(record.document_attachment_id)

    def test_16_duplicates_in_the_contact_list_give_each_contact_once(self):
        a, b = self.contacts[:2]
        domain = repr(
            ["|", ("id", "in", [a.id, a.id, b.id, b.id]), ("id", "in", [a.id])]
        )
        record = self.create_correspondence(
            kind="email",
            partner_domain=domain,
            partner_category_ids=[Command.set([])],
            subject="Hallo",
            template_id=self.mail_template.id,
            email_from="verein@example.com",
        )
        self.run_jobs(record)
        self.assertEqual(record.recipient_ids.partner_id, a | b)
        self.assertEqual(record.recipient_count, 2)
        self.send(record)
        self.assertEqual(len(self.sink_raw()), 2)

    # -- 17-20: letters and addresses ------------------------------------------

    def test_17_contacts_without_country_street_or_name_are_errors(self):
        company = self.Partner.create(
            {
                "name": "Firma GmbH",
                "is_company": True,
                "street": "Werkstraße 9",
                "zip": "10115",
                "city": "Berlin",
                "country_id": self.de.id,
            }
        )
        nameless = self.Partner.create(
            {
                "type": "other",
                "street": "Gasse 4",
                "zip": "10115",
                "city": "Berlin",
                "country_id": self.de.id,
            }
        )
        nameless_of_company = self.Partner.create(
            {
                "type": "other",
                "parent_id": company.id,
                "street": "Lager 1",
                "zip": "10115",
                "city": "Berlin",
                "country_id": self.de.id,
            }
        )
        partners = (
            self.anna
            | self.no_street
            | self.no_zip_country
            | nameless
            | nameless_of_company
        )
        record = self.generate(self.letter(partners))
        self.assertNoJobFailed(record)
        self.assertEqual(record.state, "create_failed")
        expected = {
            self.no_street: "missing: street",
            self.no_zip_country: "missing: postal code, country",
            nameless: "missing: name",
        }
        for partner, reason in expected.items():
            recipient = self.recipient(record, partner)
            self.assertEqual(recipient.state, "error")
            self.assertIn(reason, recipient.reason)
        # an address of a company needs no name of its own
        self.assertEqual(self.recipient(record, nameless_of_company).state, "created")
        self.assertEqual(self.recipient(record, self.anna).state, "created")
        text = pdf_text(self.document(record))
        self.assertIn("Firma GmbH", text)
        self.assertNotIn("Gasse 4", text)

    def test_18_address_too_long_for_the_window_is_an_error_not_cut_off(self):
        long_street = self.Partner.create(
            {
                "name": "Lang Straße",
                # wrapped, more lines than the window holds
                "street": "Am ganz besonders langen Weg hinter dem alten Bahnhof "
                "neben der Kirche und vor dem Marktplatz, dritter Hinterhof links, "
                "Seitenflügel, Treppe C, vierter Stock, bei Familie Mustermann-"
                "Schmidt klingeln",
                "zip": "10115",
                "city": "Berlin",
                "country_id": self.de.id,
            }
        )
        many_lines = self.Partner.create(
            {
                "name": "Viele Zeilen",
                "street": "Zeile 1",
                "street2": "\n".join(f"Zeile {i}" for i in range(2, 9)),
                "zip": "10115",
                "city": "Berlin",
                "country_id": self.de.id,
            }
        )
        record = self.generate(self.letter(self.anna | long_street | many_lines))
        self.assertNoJobFailed(record)
        self.assertEqual(record.state, "create_failed")
        for partner in long_street | many_lines:
            recipient = self.recipient(record, partner)
            self.assertEqual(recipient.state, "error", partner.name)
            self.assertIn("does not fit the address window", recipient.reason)
        self.assertEqual(self.recipient(record, self.anna).state, "created")
        # labels have their own size: the check of the letters does not apply
        self.assertIn("Anna Zimmermann", pdf_text(self.document(record)))

    def test_19_letter_run_with_zero_printable_letters(self):
        record = self.generate(self.letter(self.no_letters | self.no_street))
        self.assertNoJobFailed(record)
        self.assertEqual(record.state, "create_failed")
        self.assertEqual(record.created_count, 0)
        self.assertFalse(record.document_attachment_id)
        with self.assertRaisesRegex(UserError, "has no document"):
            record.with_user(self.user).action_open_document()
        # the user fixes the address and generates again
        self.no_street.street = "Neuer Weg 1"
        self.generate(record)
        self.assertEqual(record.created_count, 1)
        self.assertIn("Hans Ohnestraße", pdf_text(self.document(record)))

    def test_20_sort_order_value_no_longer_offered_falls_back_to_name(self):
        record = self.letter(self.anna | self.bernd | self.clara)
        with self.assertRaises(ValueError):
            record.with_user(self.user).write({"sort_order": "street"})
        # a value left in the database by an older version
        self.env.cr.execute(
            "UPDATE serial_correspondence SET sort_order = 'street' WHERE id = %s",
            [record.id],
        )
        record.invalidate_recordset()
        self.generate(record)
        self.assertNoJobFailed(record)
        self.assertEqual(record.state, "created")
        self.assertOrder(
            pdf_text(self.document(record)),
            ["Anna Zimmermann", "Bernd Adler", "Clara Müller"],
        )

    # -- 21-23: absurd limits ----------------------------------------------------

    def test_21_absurd_limits_in_settings_are_refused(self):
        Settings = self.env["res.config.settings"]
        for values, message in (
            ({"serial_throttle_max_emails": -1}, "cannot be negative"),
            ({"serial_throttle_max_per_domain": -5}, "cannot be negative"),
            (
                {"serial_throttle_max_emails": 10, "serial_throttle_window_minutes": 0},
                "longer than 0",
            ),
            (
                {
                    "serial_throttle_max_emails": 10,
                    "serial_throttle_window_minutes": -3,
                },
                "longer than 0",
            ),
            (
                {
                    "serial_throttle_max_emails": 10,
                    "serial_throttle_window_minutes": 1e9,
                },
                "one week",
            ),
            ({"serial_throttle_max_emails": 10**12}, "At most"),
        ):
            with self.assertRaisesRegex(ValidationError, message):
                Settings.create(values)
        with self.assertRaisesRegex(ValidationError, "longer than 0"):
            self.env["ir.mail_server"].create(
                {
                    "name": "Kaputt",
                    "smtp_host": "127.0.0.1",
                    "serial_throttle_max_emails": 5,
                    "serial_throttle_window_minutes": 0,
                }
            )

    def test_22_absurd_values_typed_into_system_parameters_are_survived(self):
        for name, value in (
            ("throttle_max_emails", "zehn"),
            ("throttle_window_minutes", "nan"),
            ("throttle_max_per_domain", "-4"),
            ("send_batch_size", "0"),
            ("send_slice_seconds", "-30"),
            ("retry_delay_seconds", "inf"),
            ("import_batch_size", "-1"),
            ("storm_max_soft_failures", "1e999"),
            ("storm_window_minutes", "abc"),
        ):
            self.params.set_param(PARAM(name), value)
        record = self.send(self.ready_email())
        self.assertEqual(record.state, "done_auto")
        self.assertNoJobFailed(record)
        self.assertEqual(len(self.sink_raw()), len(self.contacts))

    def test_23_infinite_or_huge_limits_typed_into_system_parameters(self):
        for maximum, window in (
            ("1e999", "inf"),
            ("10", "1e300"),
            ("3", "-0"),
            ("2", "nan"),
        ):
            self.params.set_param(PARAM("throttle_max_emails"), maximum)
            self.params.set_param(PARAM("throttle_window_minutes"), window)
            self.sink.clear()
            record = self.ready_email(self.contacts[:2])
            record.with_user(self.user).action_send()
            self.run_jobs(record)
            record.invalidate_recordset()
            self.assertNoJobFailed(record)
            self.assertIn(record.state, ("done_auto", "waiting"), (maximum, window))
            # the form still computes the expected end
            record.read(["expected_end_at", "processing_status"])
            if record.state == "waiting":
                self.assertTrue(record.resume_at)
                self.assertTrue(record.waiting_reason)

    def test_24_letter_part_size_typed_as_nonsense(self):
        for value in ("-7", "0", "viele", "1e999"):
            self.params.set_param(PARAM("letter_part_size"), value)
            record = self.generate(self.letter(self.anna | self.bernd))
            self.assertNoJobFailed(record)
            self.assertEqual(record.state, "created", value)
            self.assertEqual(record.created_count, 2)

    # -- 25-27: deleted while waiting --------------------------------------------

    def test_25_template_cannot_be_deleted_while_a_correspondence_waits(self):
        template = self.mail_template.copy()
        record = self.ready_email(template_id=template.id)
        self.make_waiting(record)
        with self.assertRaisesRegex(UserError, "used by .* Stop it first"):
            template.unlink()
        self.assertTrue(template.exists())
        self.run_waiting_job(record)
        self.assertEqual(record.state, "done_auto")
        self.assertNoJobFailed(record)
        self.assertEqual(len(self.sink_raw()), len(self.contacts))
        # once sent, the template may go; the record keeps its history
        template.unlink()
        self.assertFalse(record.template_id)

    def test_26_template_deleted_before_sending_is_named_as_missing(self):
        template = self.mail_template.copy()
        record = self.ready_email(template_id=template.id)
        template.unlink()
        with self.assertRaisesRegex(UserError, "give .* a template"):
            record.with_user(self.user).action_send()
        self.assertRefusedNothingQueued(record)

    def test_27_mail_server_deleted_while_waiting_sends_through_the_next(self):
        server = (
            self.env["ir.mail_server"]
            .sudo()
            .create(
                {
                    "name": "Newsletter-Server",
                    "sequence": 1,
                    "from_filter": "newsletter.example.com",
                    "smtp_host": "127.0.0.1",
                    "smtp_port": self.sink.port,
                    "smtp_encryption": "none",
                    "serial_throttle_max_emails": 1,
                    "serial_throttle_window_minutes": 60,
                }
            )
        )
        record = self.ready_email(email_from="news@newsletter.example.com")
        record.with_user(self.user).action_send()
        self.run_jobs(record)
        record.invalidate_recordset()
        self.assertEqual(record.state, "waiting")
        self.assertEqual(record.sent_count, 1)
        server.unlink()
        self.queued_jobs(record, include_planned=True).write({"eta": False})
        self.run_jobs(record)
        record.invalidate_recordset()
        self.assertEqual(record.state, "done_auto")
        self.assertNoJobFailed(record)
        self.assertEqual(len(self.sink_raw()), len(self.contacts))

    # -- 28-29: contacts deleted or merged after reading the recipients ---------

    def test_28_contact_deleted_after_import_and_while_waiting(self):
        extra = self.Partner.create(
            [
                {
                    "name": f"Weg {i}",
                    "email": f"weg{i}@example.com",
                    "city": self.mail_town,
                }
                for i in range(2)
            ]
        )
        record = self.ready_email()
        total = record.recipient_count
        extra[0].unlink()
        self.make_waiting(record)
        extra[1].unlink()
        self.run_waiting_job(record)
        self.assertEqual(record.state, "done_auto")
        self.assertNoJobFailed(record)
        self.assertEqual(record.recipient_count, total - 2)
        self.assertEqual(record.sent_count, total - 2)
        self.assertEqual(len(self.sink_raw()), total - 2)

    def test_29_contacts_merged_after_import_never_get_it_twice(self):
        first, second = self.Partner.create(
            [
                {
                    "name": "Doppelt",
                    "email": "doppelt@example.com",
                    "city": self.mail_town,
                },
                {
                    "name": "Doppelt",
                    "email": "doppelt@example.com",
                    "city": self.mail_town,
                },
            ]
        )
        other = self.Partner.create({"name": "Andere", "email": "andere@example.com"})
        record = self.ready_email(first | second | other)
        self.params.set_param(PARAM("throttle_max_emails"), "1")
        self.params.set_param(PARAM("throttle_window_minutes"), "60")
        record.with_user(self.user).action_send()
        self.run_jobs(record)
        self.assertEqual(self.recipients_by_partner(record)[first].state, "sent")
        # the contact the e-mail went to is merged into its duplicate
        wizard = self.env["base.partner.merge.automatic.wizard"].create(
            {
                "partner_ids": [Command.set((first | second).ids)],
                "dst_partner_id": second.id,
            }
        )
        wizard._merge((first | second).ids, second)
        self.assertFalse(first.exists())
        recipients = self.recipients_by_partner(record)
        self.assertEqual(len(recipients), 2)
        self.assertEqual(recipients[second].state, "sent", "the sent row is kept")
        self.run_waiting_job(record)
        self.assertNoJobFailed(record)
        to = [m["To"] for m in self.received()]
        self.assertEqual(sum("doppelt@example.com" in addr for addr in to), 1, to)
        self.assertEqual(record.state, "done_auto")

    # -- 30-31: the user who started it ------------------------------------------

    def _second_company_user(self):
        company = self.env["res.company"].create({"name": "Zweigverein"})
        user = new_test_user(
            self.env,
            login="sc_leaver",
            name="Lea Leaver",
            email="lea@example.com",
            groups="base.group_user,serial_correspondence.group_serial_correspondence_user",
            company_id=self.env.company.id,
            company_ids=[Command.set([self.env.company.id, company.id])],
        )
        return user, company

    def test_30_user_removed_from_the_company_while_the_job_waits(self):
        user, company = self._second_company_user()
        record = self.ready_email(user=user).with_env(self.env)
        self.make_waiting(record, user=user)
        # the user now works only for the other company
        user.write(
            {"company_id": company.id, "company_ids": [Command.set(company.ids)]}
        )
        self.run_waiting_job(record)
        self.assertNoJobFailed(record)
        record.invalidate_recordset()
        self.assertEqual(record.state, "sent_incomplete")
        self.assertEqual(record.sent_count, 1)
        self.assertEqual(record.pending_count, len(self.contacts) - 1)
        self.assertNoted(record, "is no longer allowed to work on it")
        self.assertEqual(len(self.sink_raw()), 1)
        # another user sends the rest, nobody twice
        self.send(record, user=self.manager)
        self.assertEqual(record.state, "done_auto")
        self.assertEqual(len(self.sink_raw()), len(self.contacts))

    def test_30b_user_removed_from_another_company_sending_goes_on(self):
        user, company = self._second_company_user()
        record = self.ready_email(user=user).with_env(self.env)
        both = [self.env.company.id, company.id]
        self.params.set_param(PARAM("throttle_max_emails"), "1")
        self.params.set_param(PARAM("throttle_window_minutes"), "60")
        # started with both companies chosen in the company switcher
        record.with_user(user).with_context(allowed_company_ids=both).action_send()
        self.run_jobs(record)
        self.assertEqual(record.state, "waiting")
        user.write({"company_ids": [Command.set([self.env.company.id])]})
        self.run_waiting_job(record)
        self.assertNoJobFailed(record)
        self.assertEqual(record.state, "done_auto")
        self.assertEqual(len(self.sink_raw()), len(self.contacts))

    def test_31_user_archived_while_the_job_waits(self):
        user, _company = self._second_company_user()
        record = self.ready_email(user=user).with_env(self.env)
        self.make_waiting(record, user=user)
        user.active = False
        self.run_waiting_job(record)
        self.assertNoJobFailed(record)
        record.invalidate_recordset()
        self.assertEqual(record.state, "sent_incomplete")
        self.assertNoted(record, "is no longer allowed to work on it")
        self.assertEqual(len(self.sink_raw()), 1)
        self.send(record, user=self.manager)
        self.assertEqual(record.state, "done_auto")
        self.assertEqual(len(self.sink_raw()), len(self.contacts))

    def test_31b_user_removed_from_the_company_while_the_letter_job_waits(self):
        user, company = self._second_company_user()
        record = self.letter(self.anna | self.bernd, user=user).with_env(self.env)
        record.with_user(user).action_generate()
        self.assertEqual(record.state, "in_progress")
        user.write(
            {"company_id": company.id, "company_ids": [Command.set(company.ids)]}
        )
        self.run_jobs(record)
        self.assertNoJobFailed(record)
        record.invalidate_recordset()
        self.assertEqual(record.state, "ready")
        self.assertEqual(record.pending_count, 2)
        self.assertNoted(record, "Generate the letters again")
        # another user generates them
        self.generate(record, user=self.manager)
        self.assertEqual(record.created_count, 2)

    def test_31c_creator_removed_from_the_company_while_the_import_waits(self):
        user, company = self._second_company_user()
        record = self.create_correspondence(
            user=user, kind="email", partner_domain=self.mail_domain
        ).with_env(self.env)
        self.assertEqual(record.state, "importing")
        user.write(
            {"company_id": company.id, "company_ids": [Command.set(company.ids)]}
        )
        self.run_jobs(record)
        self.assertNoJobFailed(record)
        record.invalidate_recordset()
        self.assertEqual(record.state, "ready")
        self.assertNoted(record, "Reading the recipients stopped: 0 of 4")

    # -- 32-34: planning and attachments -----------------------------------------

    def test_32_scheduled_at_in_the_past_sends_at_once(self):
        record = self.ready_email(scheduled_at="2001-01-01 08:00:00")
        record.with_user(self.user).action_send()
        self.assertEqual(record.state, "in_progress")
        self.run_jobs(record)
        self.assertEqual(record.state, "done_auto")
        self.assertNoJobFailed(record)

    def test_33_attachment_of_a_waiting_correspondence_cannot_be_deleted(self):
        attachment = (
            self.env["ir.attachment"]
            .with_user(self.user)
            .create({"name": "flyer.txt", "datas": base64.b64encode(b"Flyer")})
        )
        record = self.ready_email(attachment_ids=[Command.set(attachment.ids)])
        self.make_waiting(record)
        with self.assertRaises(UserError):
            attachment.with_user(self.user).unlink()
        self.run_waiting_job(record)
        self.assertEqual(record.state, "done_auto")
        for message in self.received():
            names = [part.get_filename() for part in message.iter_attachments()]
            self.assertIn("flyer.txt", names)

    def test_34_letter_appendix_that_is_not_a_pdf_is_refused_by_name(self):
        attachment = (
            self.env["ir.attachment"]
            .with_user(self.user)
            .create({"name": "kaputt.pdf", "datas": base64.b64encode(b"kein PDF")})
        )
        record = self.letter(self.anna, attachment_ids=[Command.set(attachment.ids)])
        with self.assertRaisesRegex(UserError, "kaputt.pdf"):
            record.with_user(self.user).action_generate()
        self.assertRefusedNothingQueued(record)

    def test_35_test_e_mail_to_bad_addresses_is_refused(self):
        record = self.ready_email()
        for addresses in ("", "kein-at", "a@b.example\nBcc: c@d.example"):
            with self.assertRaises(UserError):
                record.with_user(self.user).action_send_test(addresses)
        self.assertFalse(self.sink_raw())
        self.assertEqual(set(record.recipient_ids.mapped("state")), {"pending"})

    def test_36_test_e_mail_with_line_breaks_in_the_subject_is_one_line(self):
        record = self.ready_email(subject="Probe\r\nBcc: opfer@example.net")
        record.with_user(self.user).action_send_test("pruefer@example.com")
        (message,) = self.received()
        self.assertEqual(message["Subject"], "[Test] Probe Bcc: opfer@example.net")
        self.assertIsNone(message["Bcc"])
        envelope = {to for got in self.sink.envelopes() for to in got.rcpt_tos}
        self.assertEqual(envelope, {"pruefer@example.com"})
        self.assertEqual(set(record.recipient_ids.mapped("state")), {"pending"})

    def test_37_started_by_the_superuser_in_a_script_is_not_a_lost_user(self):
        # OdooBot (the superuser of scripts and server actions) is archived
        # by design: its jobs are no "archived user" and run through
        record = self.ready_email()
        self.assertFalse(self.env.user.active)
        record.with_env(self.env).action_send()
        self.run_jobs(record)
        self.assertEqual(record.state, "done_auto")
        self.assertNoJobFailed(record)
        self.assertEqual(len(self.sink_raw()), len(self.contacts))
