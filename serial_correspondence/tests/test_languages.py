# Copyright 2026 serial_correspondence authors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""What processing stores for people to read (reasons, why sending waits,
the check's findings, the document's file name) is read in each viewer's
language, whoever ran the job (issue 10, point 7)."""

import datetime

from freezegun import freeze_time

from odoo.tests import new_test_user, tagged

from .common import SerialCorrespondenceCase
from .letter_common import LetterDataMixin

T0 = datetime.datetime(2026, 12, 1, 9, 0, 0)


@tagged("post_install", "-at_install")
class TestViewerLanguage(LetterDataMixin, SerialCorrespondenceCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.env["res.lang"]._activate_lang("de_DE")
        cls.setup_letter_data()
        # the job runs as this English-speaking user ...
        cls.user.lang = "en_US"
        # ... and a German colleague reads the results
        cls.colleague = new_test_user(
            cls.env,
            login="sc_kollegin",
            name="Karla Kollegin",
            groups="base.group_user,serial_correspondence.group_serial_correspondence_user",
            lang="de_DE",
        )
        cls.template = cls.env["mail.template"].create(
            {
                "name": "Rundschreiben",
                "model_id": cls.env.ref("base.model_res_partner").id,
                "body_html": "<p>Hallo <t t-out='object.name'/></p>",
            }
        )
        Partner = cls.env["res.partner"]
        cls.town = "Sprachhausen"
        cls.reader = Partner.create(
            {"name": "Lea Leserin", "email": "lea@example.com", "city": cls.town}
        )
        cls.blocked = Partner.create(
            {"name": "Bea Gesperrt", "email": "bea@example.com", "city": cls.town}
        )
        cls.env["mail.blacklist"].sudo()._add("bea@example.com")
        cls.no_email = Partner.create({"name": "Ole Ohne", "city": cls.town})

    def ready_email(self):
        record = self.create_correspondence(
            subject="Rundschreiben",
            template_id=self.template.id,
            email_from="verein@example.com",
            partner_domain=repr([("city", "=", self.town)]),
            shared_user_ids=[(4, self.colleague.id)],
        )
        record.message_follower_ids.unlink()
        self.run_jobs(record)
        self.assertEqual(record.state, "ready")
        return record

    def as_user(self, records, user):
        """``records`` as ``user``'s web client reads them (their language)."""
        records.invalidate_recordset()
        return records.with_user(user).with_context(lang=user.lang)

    def read_as(self, user, records, field_name):
        """``{partner name: value}`` of ``records`` as ``user`` reads them."""
        return {
            record.partner_id.name: record[field_name]
            for record in self.as_user(records, user)
        }

    def test_reasons_of_sending_in_each_viewers_language(self):
        record = self.ready_email()
        record.with_user(self.user).action_send()
        self.run_jobs(record)
        recipients = record.recipient_ids
        english = self.read_as(self.user, recipients, "reason")
        german = self.read_as(self.colleague, recipients, "reason")
        self.assertEqual(
            english["Bea Gesperrt"],
            "The e-mail address bea@example.com is blacklisted.",
        )
        self.assertEqual(
            german["Bea Gesperrt"],
            "Die E-Mail-Adresse bea@example.com steht auf der Sperrliste.",
        )
        self.assertEqual(english["Ole Ohne"], "The contact has no e-mail address.")
        self.assertEqual(german["Ole Ohne"], "Der Kontakt hat keine E-Mail-Adresse.")
        self.assertFalse(english["Lea Leserin"])
        # grouping by reason (the recipients list offers it) groups by the
        # reader's text
        groups = (
            self.env["serial.correspondence.recipient"]
            .with_user(self.colleague)
            .with_context(lang="de_DE")
            .read_group([("id", "in", recipients.ids)], ["reason"], ["reason"])
        )
        self.assertIn(
            "Die E-Mail-Adresse bea@example.com steht auf der Sperrliste.",
            [group["reason"] for group in groups],
        )

    def test_delivery_unknown_in_each_viewers_language(self):
        record = self.ready_email()
        record.with_user(self.user).action_send()
        # a run died after claiming Lea: the next run settles her delivery
        lea = record.recipient_ids.filtered(lambda r: r.partner_id == self.reader)
        lea._internal_write({"send_started_at": datetime.datetime(2026, 12, 1, 8)})
        self.run_jobs(record)
        self.assertEqual(lea.state, "error")
        german = self.read_as(self.colleague, lea, "reason")["Lea Leserin"]
        english = self.read_as(self.user, lea, "reason")["Lea Leserin"]
        self.assertTrue(english.startswith("Delivery unknown after an interruption"))
        self.assertTrue(
            german.startswith("Zustellung nach einer Unterbrechung"), german
        )

    def test_check_reasons_in_each_viewers_language(self):
        record = self.ready_email()
        record.with_user(self.user).action_check_recipients()
        recipients = record.recipient_ids
        german = self.read_as(self.colleague, recipients, "check_reason")
        english = self.read_as(self.user, recipients, "check_reason")
        self.assertEqual(english["Ole Ohne"], "The contact has no e-mail address.")
        self.assertEqual(german["Ole Ohne"], "Der Kontakt hat keine E-Mail-Adresse.")
        # after sending, the check copies the unknown delivery's reason in
        # every language
        record.with_user(self.user).action_send()
        self.run_jobs(record)
        record.with_user(self.user).action_check_recipients()
        german = self.read_as(self.colleague, recipients, "check_reason")
        self.assertEqual(
            german["Bea Gesperrt"],
            "Die E-Mail-Adresse bea@example.com steht auf der Sperrliste.",
        )
        self.assertEqual(
            german["Lea Leserin"], "Bereits versandt: wird nicht erneut versandt."
        )

    def test_waiting_reason_in_each_viewers_language(self):
        params = self.env["ir.config_parameter"].sudo()
        params.set_param("serial_correspondence.throttle_max_emails", "1")
        params.set_param("serial_correspondence.throttle_window_minutes", "60")
        self.reader.copy({"name": "Lea Zwei", "email": "lea2@example.com"})
        record = self.ready_email()
        with freeze_time(T0):
            record.with_user(self.user).action_send()
            self.run_jobs(record)
        self.assertEqual(record.state, "waiting")
        self.assertEqual(
            self.as_user(record, self.user).waiting_reason,
            "The sending limit is reached.",
        )
        self.assertEqual(
            self.as_user(record, self.colleague).waiting_reason,
            "Das Versandlimit ist erreicht.",
        )

    def test_label_reasons_and_file_name_in_each_viewers_language(self):
        record = self.letter(output="labels", shared_user_ids=[(4, self.colleague.id)])
        self.generate(record)
        recipients = record.recipient_ids
        german = self.read_as(self.colleague, recipients, "reason")
        english = self.read_as(self.user, recipients, "reason")
        self.assertEqual(
            english["Hans Ohnestraße"],
            "The postal address is incomplete, missing: street.",
        )
        self.assertEqual(
            german["Hans Ohnestraße"],
            "Die Postanschrift ist unvollständig, es fehlt: Straße.",
        )
        self.assertEqual(
            german["Frida Keinbrief"],
            "Der Kontakt ist mit „Keine Briefe“ gekennzeichnet.",
        )
        date = record.letter_date
        self.assertEqual(
            self.as_user(record, self.user).document_name,
            f"Einladung zur Versammlung - labels {date}.pdf",
        )
        german = self.as_user(record, self.colleague)
        self.assertEqual(
            german.document_name, f"Einladung zur Versammlung - Etiketten {date}.pdf"
        )
        action = german.action_open_document()
        self.assertIn(
            f"filename=Einladung+zur+Versammlung+-+Etiketten+{date}.pdf", action["url"]
        )
