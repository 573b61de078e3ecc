# Copyright 2026 serial_correspondence authors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""The demo a new user sees: the Contacts app the workflow starts from, a
German club as the sender, German contacts with every communication status,
templates that write German to German contacts, and serial correspondences in
telling states made by the real workflow (``testing/demo_correspondences.py``,
which ``scripts/setup-and-run.sh`` runs on a new demo database)."""

from odoo import fields
from odoo.tests import tagged

from ..testing import demo_correspondences
from .common import SerialCorrespondenceCase
from .letter_common import pdf_text


@tagged("post_install", "-at_install")
class TestDemo(SerialCorrespondenceCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        addon = cls.env["ir.module.module"].search(
            [("name", "=", "serial_correspondence")]
        )
        if not addon.demo:
            raise AssertionError(
                "The test database has no demo data: install the addon with its "
                "demo data (odoo-bin without --without-demo; note that Odoo 18 "
                "reads --without-demo=False as the word 'False', i.e. as "
                "'without demo')."
            )
        ref = cls.env.ref
        cls.anna = ref("serial_correspondence.demo_partner_anna_becker")
        cls.emily = ref("serial_correspondence.demo_partner_emily_clarke")
        cls.bookshop = ref(
            "serial_correspondence.demo_partner_buchhandlung_seitenweise"
        )
        cls.invitation = ref("serial_correspondence.mail_template_demo_invitation")
        cls.demo_partners = (
            cls.env["ir.model.data"]
            .search(
                [
                    ("module", "=", "serial_correspondence"),
                    ("model", "=", "res.partner"),
                    ("name", "=like", "demo_partner_%"),
                ]
            )
            .mapped(lambda data: cls.Partner.browse(data.res_id))
        )
        cls.today = fields.Date.today()

    def _correspondence(self, kind, template, partners):
        return self.create_correspondence(
            kind=kind,
            template_id=template.id,
            partner_domain=repr([("id", "in", partners.ids)]),
        )

    # -- where the workflow starts ----------------------------------------

    def test_contacts_app_is_installed_with_the_create_actions(self):
        contacts = self.env["ir.module.module"].search([("name", "=", "contacts")])
        self.assertEqual(contacts.state, "installed")
        self.assertTrue(self.env.ref("contacts.menu_contacts").active)
        for action in ("create_serial_letter", "create_serial_email"):
            binding = self.env.ref(f"serial_correspondence.res_partner_action_{action}")
            self.assertEqual(binding.binding_model_id.model, "res.partner")

    # -- the sender ----------------------------------------------------------

    def test_demo_company_is_a_german_club_with_a_letterhead(self):
        company = self.env.ref("base.main_company")
        self.assertEqual(company.country_id, self.env.ref("base.de"))
        self.assertEqual((company.zip, company.city), ("10243", "Berlin"))
        self.assertTrue(company.street)
        self.assertNotIn("YourCompany", company.name)
        for field in ("phone", "email", "website", "vat", "logo"):
            self.assertTrue(company[field], f"the demo company has no {field}")
        letter = self._correspondence("letter", self.invitation, self.anna)
        letterhead = letter._letterhead_values()
        self.assertEqual(letterhead["name"], company.name)
        self.assertEqual(letterhead["address"], [company.street, "10243 Berlin"])
        self.assertTrue(letterhead["logo"].startswith("data:image/png;base64,"))

    # -- the contacts ------------------------------------------------------------

    def test_german_is_active_and_the_demo_contacts_speak_german(self):
        self.assertIn("de_DE", dict(self.env["res.lang"].get_installed()))
        self.assertGreaterEqual(len(self.demo_partners), 12)
        english = self.demo_partners.filtered(lambda p: p.lang == "en_US")
        self.assertEqual(english, self.emily)
        self.assertEqual(set((self.demo_partners - english).mapped("lang")), {"de_DE"})

    def test_demo_contacts_show_every_communication_status(self):
        """Through the addon's own rules: who is excluded or in error for an
        e-mail or a letter, for information and for advertising."""
        partners = self.demo_partners
        for field in ("email_advertising_consent", "letter_advertising_consent"):
            self.assertEqual(
                set(partners.mapped(field)), {"granted", "refused", "unknown"}, field
            )
        self.assertEqual(
            set(partners.country_id.mapped("code")), {"DE", "AT", "CH", "US"}
        )

        def outcomes(kind, purpose):
            record = self._correspondence(kind, self.invitation, partners)
            self.run_jobs(record)
            self.assertEqual(record.recipient_count, len(partners))
            recipients = record.recipient_ids
            if kind == "email":
                outcome = recipients._email_outcome_before_sending(purpose)
            else:
                outcome = recipients._letter_outcome_before_rendering(purpose)
            return {
                recipient.partner_id.name: state
                for recipient, (state, _reason) in outcome.items()
            }

        email_information = {
            "Dieter Hoffmann": "error",  # no e-mail address
            "Eva Fischer": "error",  # invalid e-mail address
            "Lukas Schwarz": "excluded",  # blacklisted
        }
        self.assertEqual(outcomes("email", "information"), email_information)
        no_email_consent = (
            "Bernd Schulz",
            "Clara Wagner",
            "Greta Koch",
            "Jonas Klein",
            "Buchhandlung Seitenweise GmbH",
        )
        self.assertEqual(
            outcomes("email", "advertising"),
            email_information | dict.fromkeys(no_email_consent, "excluded"),
        )
        letter_information = {
            "Frank Meyer": "excluded",  # no letters
            "Jonas Klein": "error",  # incomplete postal address
        }
        self.assertEqual(outcomes("letter", "information"), letter_information)
        self.assertEqual(
            outcomes("letter", "advertising"),
            letter_information
            | {"Clara Wagner": "excluded", "Greta Koch": "excluded"},  # refused
        )

    # -- templates in the contact's language ---------------------------------------

    def test_template_writes_german_to_german_contacts_and_english_to_english_ones(
        self,
    ):
        partners = self.anna | self.emily | self.bookshop
        letter = self._correspondence("letter", self.invitation, partners)
        rendered, failures = letter._render_messages(partners)
        self.assertFalse(failures)
        subject, body = rendered[self.anna.id]
        self.assertEqual(subject, "Einladung zur Mitgliederversammlung")
        self.assertIn("Guten Tag Anna Becker,", body)
        self.assertIn("laden wir Sie herzlich zu unserer ordentlichen", body)
        self.assertIn("Mit freundlichen Grüßen", body)
        self.assertIn("Freitag, ", body, "the meeting's date in German")
        subject, body = rendered[self.emily.id]
        self.assertEqual(subject, "Invitation to our general meeting")
        self.assertIn("Dear Emily Clarke,", body)
        self.assertIn("Friday, ", body)
        self.assertNotIn("Mitgliederversammlung", body)
        _subject, body = rendered[self.bookshop.id]
        self.assertIn("Sehr geehrte Damen und Herren,", body)

    def test_letter_to_a_german_contact_shows_a_german_date(self):
        letter = self._correspondence("letter", self.invitation, self.anna | self.emily)
        self.run_jobs(letter)
        by_partner = {r.partner_id: r for r in letter.recipient_ids}
        german = str(letter._letter_pages_html(by_partner[self.anna]))
        self.assertIn(self.today.strftime("%d.%m.%Y"), german)
        self.assertIn("Datum", german)
        english = str(letter._letter_pages_html(by_partner[self.emily]))
        self.assertIn(self.today.strftime("%m/%d/%Y"), english)
        self.assertNotIn("Datum", english)

    # -- the correspondences of the first screen ---------------------------------

    def test_demo_correspondences_show_the_workflow_made_by_its_actions_and_jobs(self):
        demo = demo_correspondences
        demo.configure_mail_servers(self.env, self.sink.host, self.sink.port)
        demo.set_general_sending_limits(self.env)
        self.assertIsNone(demo.reason_not_to_make(self.env))
        made = demo.create_demo_correspondences(self.env, self.perform_job)
        self.assertEqual(
            {key: record.state for key, record in made.items()},
            {
                "ready": "ready",
                "created": "created",
                "done": "done",
                "sent_incomplete": "sent_incomplete",
                "done_auto": "done_auto",
                "waiting": "waiting",
            },
        )
        admin = self.env.ref("base.user_admin")
        for record in made.values():
            self.assertEqual(record.create_uid, admin)
            self.assertEqual(record.user_id, admin)

        # serial letters: German letters dated the German way, one English
        created = made["created"]
        self.assertEqual((created.recipient_count, created.created_count), (5, 5))
        text = pdf_text(created.document_attachment_id.raw)
        self.assertIn("Guten Tag Bernd Schulz,", text)
        self.assertIn("Neue Öffnungszeiten unserer Geschäftsstelle", text)
        self.assertIn(self.today.strftime("%d.%m.%Y"), text)
        self.assertIn("Dear Emily Clarke,", text)
        self.assertIn("Sehr geehrte Damen und Herren,", text)
        done = made["done"]
        self.assertEqual((done.created_count, done.excluded_count), (5, 3))
        self.assertTrue(
            all(
                done.recipient_ids.filtered(lambda r: r.state == "excluded").mapped(
                    "reason"
                )
            )
        )
        self.assertTrue(done.document_archived)

        # serial e-mails: exclusions with reasons, German e-mails to Germans
        sent_incomplete = made["sent_incomplete"]
        self.assertEqual(
            (sent_incomplete.sent_count, sent_incomplete.excluded_count), (5, 3)
        )
        mail_to_anna = self.env["mail.message"].search(
            [
                ("model", "=", "res.partner"),
                ("res_id", "=", self.anna.id),
                ("message_type", "=", "email_outgoing"),
            ]
        )
        self.assertIn(
            "Unsere Frühjahrskurse: 15 % Rabatt für Mitglieder",
            mail_to_anna.mapped("subject"),
        )
        # tracking on, and what came back through the real paths
        done_auto = made["done_auto"]
        self.assertTrue(done_auto.tracking_enabled)
        self.assertEqual(
            (
                done_auto.sent_count,
                done_auto.bounced_count,
                done_auto.opened_count,
                done_auto.clicked_count,
                done_auto.replied_count,
            ),
            (4, 1, 3, 1, 1),
        )
        bounced = done_auto.recipient_ids.filtered(lambda r: r.state == "bounced")
        self.assertIn("User unknown", bounced.reason)
        self.assertEqual(bounced.partner_id.message_bounce, 1)

        # waiting: the newsletter server's limit let two e-mails go; sending
        # continues by itself when the window moves on
        waiting = made["waiting"]
        self.assertEqual(
            (waiting.sent_count, waiting.excluded_count, waiting.pending_count),
            (2, 1, 5),  # the blacklisted address is excluded at once
        )
        self.assertGreater(waiting.resume_at, fields.Datetime.now())
        self.assertEqual(waiting.processing_status, "scheduled")
        planned = self.queued_jobs(waiting, include_planned=True)
        self.assertEqual(len(planned), 1)
        self.assertGreater(planned.eta, fields.Datetime.now())

        # once per database
        self.assertIn("exist already", demo.reason_not_to_make(self.env))
