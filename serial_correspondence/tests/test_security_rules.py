# Copyright 2026 serial_correspondence authors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""The security rules, in-process (the attacks over HTTP JSON-RPC against a
running server are in ``test_e2e_security.py``).

A user can do through this addon only what Odoo already lets them do: no
context key unlocks anything, processing-only fields are refused from
clients, templates and subjects render with the user's rights, the contact
filter is data, only readable contacts become recipients, the history copy
of an e-mail is sanitized, and jobs run as the user who started them.
"""

from odoo.exceptions import AccessError, UserError, ValidationError
from odoo.tests import tagged
from odoo.tests.common import BaseCase

from ..tools.domain_literal import DomainLiteralError, parse_domain_literal
from ..tools.processing import is_processing, processing
from .common import SerialCorrespondenceCase

INTERNAL_CONTEXT = {"serial_correspondence_internal": True}


@tagged("post_install", "-at_install")
class TestDomainLiteral(BaseCase):
    """The contact filter parser, without a database."""

    def test_literals_and_operators_are_read(self):
        self.assertEqual(
            parse_domain_literal(
                "['|', ('email', 'ilike', 'example.com'), ('id', 'in', [1, -2]),"
                " '!', ('active', '=', True), ('parent_id', '=', None),"
                " (1, '=', 1), ('credit_limit', '>', 1.5)]"
            ),
            [
                "|",
                ("email", "ilike", "example.com"),
                ("id", "in", [1, -2]),
                "!",
                ("active", "=", True),
                ("parent_id", "=", None),
                (1, "=", 1),
                ("credit_limit", ">", 1.5),
            ],
        )

    def test_names_calls_and_other_code_are_refused(self):
        for text in (
            "[('id', '=', uid)]",
            "[('id', '=', user.write({'groups_id': [(4, 2)]}))]",
            "[('id', 'in', user.env['res.users'].search([]).ids)]",
            "__import__('os').system('true')",
            "[('create_date', '>', context_today())]",
            "[('id', 'in', [x for x in range(3)])]",
            "[('name', '=', 'a' + 'b')]",
            "[('name', '=', {'a': 1})]",
            "[('name', '=', b'bytes')]",
            "[('id', '=', 1)] if True else []",
            "lambda: 1",
            "[('name', '=')]",
            "['&&', ('name', '=', 'x')]",
            "('name', '=', 'x')",
            "{'name': 'x'}",
            "[",
        ):
            with self.subTest(text=text), self.assertRaises(DomainLiteralError):
                parse_domain_literal(text)

    def test_processing_flag_is_only_set_inside_its_block(self):
        self.assertFalse(is_processing())
        with processing():
            self.assertTrue(is_processing())
        self.assertFalse(is_processing())
        with self.assertRaises(RuntimeError), processing():
            raise RuntimeError("a failing write")
        self.assertFalse(is_processing())


@tagged("post_install", "-at_install")
class TestSecurityRules(SerialCorrespondenceCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        # employees are not template editors here (Odoo's "restrict template
        # rendering" setting)
        cls.env["ir.config_parameter"].sudo().set_param(
            "mail.restrict.template.rendering", True
        )
        editor_group = cls.env.ref("mail.group_mail_template_editor")
        cls.env.ref("base.group_user").implied_ids -= editor_group
        editor_group.users -= cls.user
        assert not cls.user.has_group("mail.group_mail_template_editor")
        cls.template = cls.env["mail.template"].create(
            {
                "name": "Rundschreiben",
                "model_id": cls.env.ref("base.model_res_partner").id,
                "subject": "Neues für {{ object.name }}",
                "body_html": "<p>Hallo <t t-out='object.name'/></p>"
                "<div t-out='object.comment'/>",
            }
        )
        cls.company_2 = cls.env["res.company"].create({"name": "Zweigstelle GmbH"})
        cls.foreign_partner = cls.Partner.create(
            {
                "name": "Fremd",
                "email": "fremd@example.com",
                "city": cls.town,
                "zip": "99999",
                "company_id": cls.company_2.id,
            }
        )

    def _ready(self, **vals):
        vals.setdefault("subject", "Hallo {{ object.name }}")
        vals.setdefault("template_id", self.template.id)
        vals.setdefault("email_from", "Verein <verein@example.com>")
        record = self.create_correspondence(**vals)
        self.run_jobs(record)
        self.assertEqual(record.state, "ready")
        return record

    def _groups_of_user(self):
        self.env.cr.execute(
            "SELECT gid FROM res_groups_users_rel WHERE uid = %s", [self.user.id]
        )
        return {row[0] for row in self.env.cr.fetchall()}

    # -- no client-controlled bypass ------------------------------------------

    def test_context_key_unlocks_nothing(self):
        record = self._ready()
        record.with_user(self.user).action_send()
        self.assertEqual(record.state, "in_progress")
        as_user = record.with_user(self.user).with_context(**INTERNAL_CONTEXT)
        recipient = record.recipient_ids[0].with_user(self.user)
        attempts = {
            "state": lambda: as_user.write({"state": "ready"}),
            "subject": lambda: as_user.write({"subject": "Geändert"}),
            "delete": lambda: as_user.unlink(),
            "recipient state": lambda: recipient.with_context(**INTERNAL_CONTEXT).write(
                {"state": "sent"}
            ),
            "recipient delete": lambda: recipient.with_context(
                **INTERNAL_CONTEXT
            ).unlink(),
            "archived attachment": lambda: (
                self.env["ir.attachment"]
                .with_user(self.user)
                .with_context(**INTERNAL_CONTEXT)
                .create(
                    {
                        "name": "x.pdf",
                        "raw": b"x",
                        "serial_correspondence_archived": True,
                    }
                )
            ),
        }
        for name, attempt in attempts.items():
            with self.subTest(attempt=name), self.assertRaises(UserError):
                attempt()
        self.assertEqual(record.state, "in_progress")
        self.assertFalse(record.subject == "Geändert")
        self.assertEqual(set(record.recipient_ids.mapped("state")), {"pending"})

    def test_processing_fields_are_refused_from_clients(self):
        record = self._ready(kind="letter")
        as_user = record.with_user(self.user)
        attachment = self.env["ir.attachment"].create(
            {"name": "fremd.pdf", "raw": b"%PDF-1.4 fremd", "res_model": "res.partner"}
        )
        values = {
            "state": "done",
            "import_total": 1,
            "import_done": 1,
            "import_cursor": 1,
            "job_uuid": "x",
            "processing_user_id": self.manager.id,
            "document_attachment_id": attachment.id,
            "document_page_count": 3,
            "document_checksum": "0" * 64,
            "document_archived": True,
            "letter_date": "2026-01-01",
            "letter_run": 7,
            "letter_output": "labels",
            "send_run": 5,
            "resume_at": "2026-01-01 00:00:00",
            "waiting_reason": "x",
            "retry_delay": 9,
            "send_connections": 4,
            "letter_part_span": 50,
            "letter_part_window": 3,
            "checked_at": "2026-01-01 00:00:00",
            "stop_requested": True,
            "waiting_for_schedule": True,
            "bounced_count": 3,
            "opened_count": 3,
            "clicked_count": 3,
            "replied_count": 3,
            "storm_braked": True,
            "storm_brake_requested": True,
            "storm_counted_since": "2026-01-01 00:00:00",
        }
        self.assertLessEqual(
            set(record._processing_fields()) - {"letter_part_ids"}, set(values)
        )
        for name, value in values.items():
            with self.subTest(field=name, on="write"), self.assertRaises(UserError):
                as_user.write({name: value})
            with self.subTest(field=name, on="create"), self.assertRaises(UserError):
                self.create_correspondence(**{name: value})
        self.assertEqual(record.state, "ready")
        self.assertFalse(record.document_attachment_id)
        self.assertFalse(attachment.serial_correspondence_archived)
        recipient = record.recipient_ids[0].with_user(self.user)
        recipient_values = {
            "state": "sent",
            "reason": "x",
            "processed_at": "2026-01-01 00:00:00",
            "send_started_at": "2026-01-01 00:00:00",
            "send_slot": 2,
            "message_id": self.env["mail.message"].search([], limit=1).id,
            "letter_sequence": 1,
            "letter_subject": "x",
            "letter_edited": True,
            "letter_page_count": 2,
            "company_id": self.company_2.id,
            "kind": "email",
            "check_state": "ok",
            "check_reason": "x",
            "bounce_type": "hard",
            "opened_at": "2026-01-01 00:00:00",
            "clicked_at": "2026-01-01 00:00:00",
            "replied_at": "2026-01-01 00:00:00",
        }
        self.assertLessEqual(set(recipient._processing_fields()), set(recipient_values))
        Recipient = self.env["serial.correspondence.recipient"].with_user(self.user)
        other_partner = self.Partner.create({"name": "Neu", "city": "Anderswo"})
        for name, value in recipient_values.items():
            with (
                self.subTest(field=name, on="recipient write"),
                self.assertRaises(UserError),
            ):
                recipient.write({name: value})
            with (
                self.subTest(field=name, on="recipient create"),
                self.assertRaises(UserError),
            ):
                Recipient.create(
                    {
                        "correspondence_id": record.id,
                        "partner_id": other_partner.id,
                        name: value,
                    }
                )
        with self.assertRaises(UserError):
            recipient.write({"correspondence_id": self._ready().id})
        self.assertEqual(recipient.state, "pending")
        self.assertEqual(record.company_id, self.env.company)
        self.assertEqual(record.kind, "letter")

    def test_document_must_be_the_correspondences_own_attachment(self):
        record = self._ready(kind="letter")
        foreign = self.env["ir.attachment"].create(
            {"name": "fremd.pdf", "raw": b"%PDF-1.4 fremd", "res_model": "res.partner"}
        )
        # even if processing pointed it elsewhere, no sudo operation touches it
        record._internal_write({"document_attachment_id": foreign.id})
        with self.assertRaises(AccessError):
            record.with_user(self.user).action_generate()
        self.assertTrue(foreign.exists())
        self.assertEqual(foreign.raw, b"%PDF-1.4 fremd")

    # -- rendering with the user's rights -----------------------------------

    def test_code_in_the_subject_does_not_run_for_a_non_editor(self):
        system = self.env.ref("base.group_system")
        before = self._groups_of_user()
        for subject in (
            f"{{{{ user.write({{'groups_id': [(4, {system.id})]}}) }}}}",
            "{{ object.env.user.sudo().write("
            f"{{'groups_id': [(4, {system.id})]}}) }}}}",
            "{{ object.name }} {{ user.partner_id.write({'name': 'x'}) }}",
        ):
            record = self._ready(subject=subject)
            with self.subTest(subject=subject), self.assertRaises(UserError):
                record.with_user(self.user).action_send()
            self.assertEqual(record.state, "ready")
            letter = self._ready(subject=subject, kind="letter")
            with (
                self.subTest(subject=subject, kind="letter"),
                self.assertRaises(UserError),
            ):
                letter.with_user(self.user).action_generate()
        self.assertEqual(self._groups_of_user(), before)
        self.assertFalse(self.user.has_group("base.group_system"))
        self.assertNotEqual(self.user.partner_id.name, "x")

    def test_placeholders_and_the_templates_own_subject_render_for_a_non_editor(self):
        partner = self.partners[0]
        record = self._ready(subject="Hallo {{ object.name }}")
        rendered, failures = record.with_user(self.user)._render_messages(partner)
        self.assertFalse(failures)
        self.assertEqual(rendered[partner.id][0], f"Hallo {partner.name}")
        self.assertIn(partner.name, rendered[partner.id][1])
        record.subject = self.template.subject
        rendered, failures = record.with_user(self.user)._render_messages(partner)
        self.assertEqual(rendered[partner.id][0], f"Neues für {partner.name}")

    def test_template_must_be_on_contacts(self):
        users_template = self.env["mail.template"].create(
            {
                "name": "Benutzer",
                "model_id": self.env.ref("base.model_res_users").id,
                "body_html": "<p>x</p>",
            }
        )
        with self.assertRaisesRegex(ValidationError, "template on Contacts"):
            self.create_correspondence(template_id=users_template.id)
        record = self._ready()
        with self.assertRaisesRegex(ValidationError, "template on Contacts"):
            record.with_user(self.user).write({"template_id": users_template.id})
        self.assertEqual(record.template_id, self.template)

    # -- the contact filter is data, only readable contacts --------------------

    def test_contact_filter_with_code_is_refused(self):
        before = self._groups_of_user()
        for domain in (
            "[('id', '=', user.write({'groups_id': [(4, "
            f"{self.env.ref('base.group_system').id})]}}))]",
            "[('id', 'in', user.env['res.users'].search([]).ids)]",
            "[('create_uid', '=', uid)]",
            "[('no_such_field', '=', 1)]",
        ):
            with (
                self.subTest(domain=domain),
                self.assertRaisesRegex(ValidationError, "contact filter is not valid"),
            ):
                self.create_correspondence(partner_domain=domain)
        self.assertEqual(self._groups_of_user(), before)

    def test_import_reads_only_contacts_the_user_may_read(self):
        self.assertFalse(
            self.foreign_partner.with_user(self.user)._filtered_access("read")
        )
        record = self.create_correspondence()
        self.run_jobs(record)
        self.assertEqual(record.recipient_ids.partner_id, self.partners)
        # the manager of both companies gets the foreign contact too
        self.manager.company_ids |= self.company_2
        as_manager = self.Correspondence.with_user(self.manager).with_context(
            allowed_company_ids=[self.env.company.id, self.company_2.id]
        )
        both = as_manager.create(
            {"kind": "email", "partner_domain": repr([("city", "=", self.town)])}
        )
        self.run_jobs(both)
        self.assertIn(self.foreign_partner, both.recipient_ids.partner_id)

    def test_unreadable_contact_cannot_be_added_nor_read_through_a_recipient(self):
        record = self._ready()
        Recipient = self.env["serial.correspondence.recipient"].with_user(self.user)
        with self.assertRaises(AccessError):
            Recipient.create(
                {"correspondence_id": record.id, "partner_id": self.foreign_partner.id}
            )
        # a recipient of a contact that became unreadable shows nothing of it
        recipient = record.recipient_ids[0].sudo()
        recipient.partner_id.company_id = self.company_2
        as_user = recipient.with_user(self.user)
        values = as_user.read(["email", "zip", "city", "country_id", "letter_address"])[
            0
        ]
        self.assertFalse(
            values["email"]
            or values["zip"]
            or values["city"]
            or values["country_id"]
            or values["letter_address"]
        )
        # nor can it be written through
        as_user.write({"email": "attacker@example.com"})
        self.assertNotEqual(recipient.partner_id.email, "attacker@example.com")

    def test_recipient_contact_data_is_not_written_through_to_the_contact(self):
        record = self._ready()
        recipient = record.recipient_ids[0].sudo()
        admin_partner = self.env.ref("base.user_admin").partner_id
        email = admin_partner.email
        recipient.with_user(self.user).write({"email": "attacker@example.com"})
        self.assertEqual(admin_partner.email, email)
        self.assertNotEqual(recipient.partner_id.email, "attacker@example.com")

    # -- the history copy is sanitized --------------------------------------

    def test_history_copy_of_the_email_is_sanitized(self):
        partner = self.partners[0]
        partner.comment = (
            '<p>Hi</p><img src="x" onerror="alert(1)"><script>alert(2)</script>'
        )
        # comment is stored sanitized by the ORM: put the payload in with SQL,
        # as a contact imported past the ORM would have it
        self.env.cr.execute(
            "UPDATE res_partner SET comment = %s WHERE id = %s",
            [
                '<p>Hi</p><img src="x" onerror="alert(1)"><script>alert(2)</script>',
                partner.id,
            ],
        )
        partner.invalidate_recordset(["comment"])
        record = self._ready(purpose="information")
        record.with_user(self.user).action_send()
        self.run_jobs(record)
        message = record.recipient_ids.filtered(
            lambda r: r.partner_id == partner
        ).message_id
        self.assertTrue(message)
        self.assertIn("Hi", message.body)
        self.assertNotIn("onerror", message.body)
        self.assertNotIn("<script", message.body)

    # -- jobs run as the user who started them --------------------------------

    def test_waking_waiting_emails_queues_jobs_as_the_sending_user(self):
        record = self._ready()
        record.with_user(self.user).action_send()
        record._apply_event("throttle")
        self.env["serial.correspondence"].sudo()._wake_waiting()
        job = self.env["queue.job"].search([("uuid", "=", record.job_uuid)], limit=1)
        self.assertEqual(job.user_id, self.user)
        self.assertEqual(record.processing_user_id, self.user)

    def test_context_keys_do_not_choose_bounce_or_sender_address(self):
        server = (
            self.env["ir.mail_server"]
            .with_user(self.user)
            .with_context(
                serial_default_bounce_address="evil@example.com",
                serial_default_from_address="ceo@example.com",
            )
        )
        self.assertNotEqual(server._get_default_bounce_address(), "evil@example.com")
        self.assertNotEqual(server._get_default_from_address(), "ceo@example.com")
