# Copyright 2026 serial_correspondence authors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""*Check recipients*: the same states and reasons as processing, found
without sending or printing anything."""

from lxml import etree

from odoo.exceptions import AccessError, UserError
from odoo.tests import tagged

from odoo.addons.base.models.ir_qweb import QWebException

from ..models.ir_qweb import compiled_once
from .common import SerialCorrespondenceCase
from .letter_common import LetterDataMixin


@tagged("post_install", "-at_install")
class TestCheckRecipients(LetterDataMixin, SerialCorrespondenceCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.setup_letter_data()
        Partner = cls.env["res.partner"]
        cls.mail_town = "Prüfhausen"
        # fails for a contact without a reference (False has no upper())
        cls.template = cls.env["mail.template"].create(
            {
                "name": "Prüfung",
                "model_id": cls.env.ref("base.model_res_partner").id,
                "body_html": "<p>Hallo <t t-out='object.name'/> "
                "(<t t-out='object.ref.upper()'/>)</p>",
            }
        )

        def contact(name, **values):
            return Partner.create(
                {
                    "name": name,
                    "city": cls.mail_town,
                    "ref": f"nr-{name[:3].lower()}",
                    **values,
                }
            )

        cls.allowed = contact(
            "Alma Erlaubt",
            email="alma@example.com",
            email_advertising_consent="granted",
        ) | contact(
            "Arno Erlaubt",
            email="arno@example.com",
            email_advertising_consent="granted",
        )
        cls.blacklisted = contact(
            "Gesa Gesperrt",
            email="gesa@example.com",
            email_advertising_consent="granted",
        )
        cls.env["mail.blacklist"].sudo()._add("gesa@example.com")
        cls.no_consent = contact("Otto Ohne", email="otto@example.com")
        cls.no_email = contact("Nina Nichts", email_advertising_consent="granted")
        cls.bad_email = contact(
            "Karl Kaputt",
            email="karl@example",
            email_advertising_consent="granted",
        )
        cls.no_ref = contact(
            "Rita Ohneref",
            email="rita@example.com",
            email_advertising_consent="granted",
            ref=False,
        )
        cls.mail_domain = repr([("city", "=", cls.mail_town)])

    # -- helpers --------------------------------------------------------------

    def ready_email(self, user=None, **vals):
        vals.setdefault("subject", "Hallo {{ object.name }}")
        vals.setdefault("template_id", self.template.id)
        vals.setdefault("purpose", "advertising")
        record = self.create_correspondence(
            user=user,
            kind="email",
            email_from="Verein <verein@example.com>",
            partner_domain=self.mail_domain,
            **vals,
        )
        self.run_jobs(record)
        self.assertEqual(record.state, "ready")
        return record

    def check(self, record, user=None):
        record.with_user(user or self.user).action_check_recipients()
        record.invalidate_recordset()
        return {
            r.partner_id: (r.check_state, r.check_reason) for r in record.recipient_ids
        }

    def assertSameAsProcessing(self, record, checked, done_state):
        """Recipient by recipient: OK exactly when processing gave it the
        correspondence, otherwise the same state and reason."""
        record.invalidate_recordset()
        self.assertEqual(set(checked), set(record.recipient_ids.partner_id))
        for recipient in record.recipient_ids:
            check_state, check_reason = checked[recipient.partner_id]
            with self.subTest(contact=recipient.partner_id.name):
                self.assertEqual(check_state == "ok", recipient.state == done_state)
                if check_state != "ok":
                    self.assertEqual(
                        (check_state, check_reason), (recipient.state, recipient.reason)
                    )

    def outgoing_messages(self):
        return self.env["mail.message"].search_count(
            [("message_type", "=", "email_outgoing")]
        )

    # -- e-mails ----------------------------------------------------------------

    def test_email_check_gives_the_states_and_reasons_sending_then_gives(self):
        record = self.ready_email()
        checked = self.check(record)
        self.assertEqual(checked[self.allowed[0]], ("ok", False))
        self.assertEqual(checked[self.blacklisted][0], "excluded")
        self.assertIn("blacklisted", checked[self.blacklisted][1])
        self.assertIn("not consented", checked[self.no_consent][1])
        self.assertIn("no e-mail address", checked[self.no_email][1])
        self.assertIn("'karl@example' is not valid", checked[self.bad_email][1])
        # the template fails for this contact only
        self.assertEqual(checked[self.no_ref][0], "error")
        self.assertIn(
            "The template cannot be rendered for this contact", checked[self.no_ref][1]
        )
        self.assertEqual(
            (
                record.check_ok_count,
                record.check_excluded_count,
                record.check_error_count,
            ),
            (2, 2, 3),
        )
        self.assertEqual(record.check_summary, "2 OK, 2 excluded, 3 with errors")
        self.assertTrue(record.checked_at)

        record.with_user(self.user).action_send()
        self.run_jobs(record)
        self.assertEqual(record.state, "send_failed")
        self.assertSameAsProcessing(record, checked, "sent")

    def test_email_check_after_sending_reports_sent_as_ok_and_never_resends(self):
        record = self.ready_email()
        record.with_user(self.user).action_send()
        self.run_jobs(record)
        messages = self.outgoing_messages()
        checked = self.check(record)
        for partner in self.allowed:
            self.assertEqual(
                checked[partner], ("ok", "Already sent: it is not sent again.")
            )
        self.assertEqual(checked[self.no_consent][0], "excluded")
        self.assertEqual(record.state, "send_failed")
        self.assertEqual(self.outgoing_messages(), messages)
        # a contact fixed meanwhile is found OK, and then sent to
        self.no_consent.email_advertising_consent = "granted"
        checked = self.check(record)
        self.assertEqual(checked[self.no_consent], ("ok", False))
        record.with_user(self.user).action_send()
        self.run_jobs(record)
        self.assertEqual(
            record.recipient_ids.filtered(
                lambda r: r.partner_id == self.no_consent
            ).state,
            "sent",
        )

    def test_check_sends_prints_and_queues_nothing(self):
        record = self.ready_email(purpose="information")
        jobs = self.env["queue.job"].sudo().search_count([])
        messages = self.outgoing_messages()
        mails = self.env["mail.mail"].sudo().search_count([])
        self.check(record)
        self.assertEqual(self.env["queue.job"].sudo().search_count([]), jobs)
        self.assertEqual(self.outgoing_messages(), messages)
        self.assertEqual(self.env["mail.mail"].sudo().search_count([]), mails)
        self.assertEqual(record.state, "ready")
        self.assertEqual(set(record.recipient_ids.mapped("state")), {"pending"})
        self.assertFalse(any(record.recipient_ids.mapped("processed_at")))

        letter = self.letter(purpose="advertising")
        jobs = self.env["queue.job"].sudo().search_count([])
        attachments = self.env["ir.attachment"].sudo().search_count([])
        self.check(letter)
        self.assertEqual(self.env["queue.job"].sudo().search_count([]), jobs)
        self.assertEqual(self.env["ir.attachment"].sudo().search_count([]), attachments)
        self.assertFalse(letter.document_attachment_id)
        self.assertFalse(letter.sudo().letter_part_ids)
        self.assertEqual(set(letter.recipient_ids.mapped("state")), {"pending"})
        self.assertFalse(any(letter.recipient_ids.mapped("letter_body")))

    # -- letters ----------------------------------------------------------------

    def test_letter_check_gives_the_states_and_reasons_generating_then_gives(self):
        broken_for_one = self.letter_template.copy(
            {
                "body_html": "<p>Liebe(r) <t t-out='object.name'/></p>"
                "<p t-if=\"object.name == 'Clara Müller'\">"
                "<t t-out='object.no_such_field'/></p>"
            }
        )
        record = self.letter(purpose="advertising", template_id=broken_for_one.id)
        checked = self.check(record)
        expected = {
            self.no_letters: ("excluded", "No letters"),
            self.refuses_ads: ("excluded", "refused advertising by letter"),
            self.no_street: ("error", "missing: street"),
            self.no_zip_country: ("error", "missing: postal code, country"),
            self.clara: ("error", "cannot be rendered for this contact"),
        }
        for partner, (state, reason) in expected.items():
            self.assertEqual(checked[partner][0], state, partner.name)
            self.assertIn(reason, checked[partner][1], partner.name)
        for partner in self.printable - self.clara:
            self.assertEqual(checked[partner], ("ok", False), partner.name)
        self.generate(record)
        self.assertEqual(record.state, "create_failed")
        self.assertSameAsProcessing(record, checked, "created")
        # after the outcome, the check can run again and agrees
        self.assertEqual(self.check(record), checked)

    def test_labels_need_no_rendering_only_the_address(self):
        broken = self.letter_template.copy(
            {"body_html": "<p><t t-out='object.no_such_field'/></p>"}
        )
        record = self.letter(output="labels", template_id=broken.id)
        checked = self.check(record)
        for partner in self.printable | self.refuses_ads:
            self.assertEqual(checked[partner], ("ok", False), partner.name)
        self.assertEqual(checked[self.no_letters][0], "excluded")
        self.assertEqual(checked[self.no_street][0], "error")

    # -- when, and who ------------------------------------------------------------

    def test_check_is_refused_while_processing_and_once_done(self):
        record = self.ready_email(purpose="information")
        record.with_user(self.user).action_send()
        self.assertEqual(record.state, "in_progress")
        with self.assertRaisesRegex(UserError, "can be checked when it is ready"):
            record.with_user(self.user).action_check_recipients()
        self.assertFalse(record.checked_at)
        self.run_jobs(record)
        self.assertEqual(record.state, "send_failed")
        record.with_user(self.user).action_check_recipients()
        record.with_user(self.user).action_finalize()
        self.assertEqual(record.state, "done")
        with self.assertRaisesRegex(UserError, "can be checked when it is ready"):
            record.with_user(self.user).action_check_recipients()
        importing = self.create_correspondence(
            subject="x", template_id=self.template.id
        )
        self.assertEqual(importing.state, "importing")
        with self.assertRaisesRegex(UserError, "can be checked when it is ready"):
            importing.with_user(self.user).action_check_recipients()

    def test_check_needs_subject_and_template(self):
        record = self.ready_email(template_id=False)
        with self.assertRaisesRegex(UserError, "give .* a template"):
            record.with_user(self.user).action_check_recipients()

    def test_check_renders_with_the_users_rights(self):
        self.env["ir.config_parameter"].sudo().set_param(
            "mail.restrict.template.rendering", True
        )
        editor_group = self.env.ref("mail.group_mail_template_editor")
        self.env.ref("base.group_user").implied_ids -= editor_group
        editor_group.users -= self.user
        self.assertFalse(self.user.has_group("mail.group_mail_template_editor"))
        record = self.ready_email(
            purpose="information", subject="{{ object.name.upper() }}"
        )
        checked = self.check(record)
        # what processing says: the subject with code does not render for a
        # user who is not a template editor
        for partner in self.allowed | self.no_consent:
            self.assertEqual(checked[partner][0], "error", partner.name)
            self.assertIn(
                "The template cannot be rendered for this contact",
                checked[partner][1],
            )
        self.assertEqual(checked[self.blacklisted][0], "excluded")
        with self.assertRaisesRegex(UserError, "template cannot be rendered"):
            record.with_user(self.user).action_send()
        # an editor (the administrator) renders it
        checked = self.check(record, user=self.env.ref("base.user_admin"))
        self.assertEqual(checked[self.allowed[0]], ("ok", False))

    def test_clients_cannot_write_the_check_result(self):
        record = self.ready_email()
        self.check(record)
        recipient = record.recipient_ids[0].with_user(self.user)
        for values in (
            {"check_state": "ok"},
            {"check_reason": "Gefälscht"},
        ):
            with self.subTest(values=values), self.assertRaises(AccessError):
                recipient.write(values)
        with self.assertRaises(AccessError):
            record.with_user(self.user).write({"checked_at": "2020-01-01 00:00:00"})

    def test_only_users_who_may_change_the_correspondence_check_it(self):
        record = self.ready_email()
        other = self.env["res.users"].create(
            {
                "name": "Olga Other",
                "login": "sc_check_other",
                "groups_id": [
                    (
                        6,
                        0,
                        [
                            self.env.ref("base.group_user").id,
                            self.env.ref(
                                "serial_correspondence.group_serial_correspondence_user"
                            ).id,
                        ],
                    )
                ],
            }
        )
        with self.assertRaises(AccessError):
            record.with_user(other).action_check_recipients()
        self.assertFalse(record.checked_at)

    def test_check_opens_the_recipients_grouped_by_result(self):
        record = self.ready_email()
        action = record.with_user(self.user).action_check_recipients()
        self.assertEqual(action["res_model"], "serial.correspondence.recipient")
        self.assertIn(("check_state", "!=", False), action["domain"])
        self.assertEqual(action["context"]["search_default_group_check_state"], 1)
        self.assertEqual(action["context"]["search_default_group_check_reason"], 2)

    def test_batches_give_the_same_result_as_one(self):
        record = self.ready_email()
        one = self.check(record)
        self.env["ir.config_parameter"].sudo().set_param(
            "serial_correspondence.check_batch_size", "2"
        )
        self.assertEqual(self.check(record), one)

    def test_compiling_once_keeps_the_restriction_of_non_editors(self):
        """The compiled template is reused only for the same rendering: a
        restricted rendering never gets the unrestricted compilation."""
        QWeb = self.env["ir.qweb"]
        source = "<div><p t-if='object.name'><t t-out='object.name'/></p></div>"
        partner = self.allowed[0]
        with compiled_once():
            for other in (partner, self.blacklisted):
                rendered = QWeb._render(etree.fromstring(source), {"object": other})
                self.assertIn(other.name, rendered)
            with self.assertRaises(Exception) as caught:
                QWeb._render(
                    etree.fromstring(source),
                    {"object": partner},
                    raise_on_forbidden_code_for_model="res.partner",
                )
        self.assertIsInstance(caught.exception, (PermissionError, QWebException))

    def test_batch_rendering_of_placeholders_gives_odoos_texts(self):
        """A template of plain placeholders, its HTML normalized once per
        batch (``models/mail_render_mixin.py``): every contact gets the text
        Odoo's own rendering gives, defaults and escaping included."""
        template = self.env["mail.template"].create(
            {
                "name": "Placeholders",
                "model_id": self.env.ref("base.model_res_partner").id,
                "subject": "Hallo {{ object.name }}",
                "body_html": "<div><p>Hallo <t t-out='object.name'/>,"
                "<br>Ort: <span t-out='object.city'>unbekannt</span></p>"
                "<table><tr><td t-out='object.email'/></tr></table></div>",
            }
        )
        partners = self.env["res.partner"].create(
            [
                {"name": "Anna <b>&</b> Söhne", "city": "Köln"},
                {"name": "Bernd", "email": "bernd@example.com"},
                {"name": "Carla"},
                {"name": "Dora", "city": "Berlin"},
            ]
        )
        odoo_bodies = template._render_field(
            "body_html", partners.ids, compute_lang=True
        )
        with compiled_once():
            ours = template._render_field("body_html", partners.ids, compute_lang=True)
        self.assertEqual(ours, odoo_bodies)
        self.assertIn("Anna &lt;b&gt;&amp;&lt;/b&gt; Söhne", ours[partners[0].id])
        self.assertIn("Ort: <span>unbekannt</span>", ours[partners[2].id])

    def test_batch_rendering_makes_local_links_absolute_as_odoo_does(self):
        """The base URL read once per batch (``models/mail_render_mixin.py``)
        gives every contact the text Odoo's own rendering gives."""
        self.env["ir.config_parameter"].sudo().set_param(
            "web.base.url", "https://verein.example.org"
        )
        template = self.env["mail.template"].create(
            {
                "name": "Links",
                "model_id": self.env.ref("base.model_res_partner").id,
                "subject": "Hallo {{ object.name }}",
                "body_html": "<p><t t-out='object.name'/>: "
                "<a href='/event/7'>Programm</a> <img src='/web/image/1'/></p>",
            }
        )
        record = self.ready_email()
        record.template_id = template
        partners = self.allowed | self.blacklisted
        odoo_bodies = template._render_field(
            "body_html", partners.ids, compute_lang=True
        )
        ours = record._render_messages_batch(partners)
        for partner in partners:
            with self.subTest(partner=partner.name):
                body = ours[partner.id][1]
                self.assertEqual(body, odoo_bodies[partner.id])
                self.assertIn('href="https://verein.example.org/event/7"', body)
                self.assertIn(partner.name, body)
