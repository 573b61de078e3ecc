# Copyright 2026 serial_correspondence authors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
from psycopg2.errors import UniqueViolation

from odoo.exceptions import UserError, ValidationError
from odoo.tests import tagged
from odoo.tools import mute_logger

from .common import SerialCorrespondenceCase


@tagged("post_install", "-at_install")
class TestCreate(SerialCorrespondenceCase):
    def _run_partner_action(self, xmlid, partners, **context):
        action = self.env.ref(xmlid).with_user(self.user)
        return action.with_context(
            active_model="res.partner",
            active_ids=partners.ids,
            active_id=partners[:1].id,
            **context,
        ).run()

    def test_create_serial_email_from_selected_contacts(self):
        selected = self.partners[:3]
        result = self._run_partner_action(
            "serial_correspondence.res_partner_action_create_serial_email", selected
        )
        # the new correspondence opens at once, already saved
        self.assertEqual(result["res_model"], "serial.correspondence")
        record = self.Correspondence.browse(result["res_id"])
        self.assertEqual(record.kind, "email")
        self.assertEqual(record.state, "importing")
        self.assertEqual(record.create_uid, self.user)
        self.assertEqual(len(self.queued_jobs(record)), 1)

        self.run_jobs()
        self.assertEqual(record.state, "ready")
        self.assertEqual(record.recipient_ids.partner_id, selected)
        self.assertEqual(set(record.recipient_ids.mapped("state")), {"pending"})

    def test_create_serial_letter_from_selected_contacts(self):
        selected = self.partners[3:5]
        result = self._run_partner_action(
            "serial_correspondence.res_partner_action_create_serial_letter", selected
        )
        record = self.Correspondence.browse(result["res_id"])
        self.assertEqual(record.kind, "letter")
        self.run_jobs()
        self.assertEqual(record.recipient_ids.partner_id, selected)

    def test_select_all_keeps_the_list_filter(self):
        domain = [("city", "=", self.town)]
        result = self._run_partner_action(
            "serial_correspondence.res_partner_action_create_serial_email",
            self.partners,
            active_domain=domain,
        )
        record = self.Correspondence.browse(result["res_id"])
        self.assertEqual(record.partner_domain, repr(domain))
        self.run_jobs()
        self.assertEqual(record.recipient_count, len(self.partners))

    def test_create_from_form_with_filter_and_contact_tags(self):
        tag = self.env["res.partner.category"].create({"name": "Vorstand"})
        self.partners[:4].category_id = tag
        other_town = self.Partner.create({"name": "Woanders", "city": "Anderswo"})
        other_town.category_id = tag
        record = self.create_correspondence(
            kind="letter",
            subject="Einladung",
            partner_category_ids=[(6, 0, tag.ids)],
        )
        self.assertEqual(record.state, "importing")
        self.assertEqual(record.import_total, 4)
        self.run_jobs()
        self.assertEqual(record.state, "ready")
        self.assertEqual(record.recipient_ids.partner_id, self.partners[:4])

    def test_contact_tags_alone_select_recipients(self):
        tag = self.env["res.partner.category"].create({"name": "Mitglieder"})
        self.partners[5:7].category_id = tag
        record = self.Correspondence.with_user(self.user).create(
            {"kind": "email", "partner_category_ids": [(6, 0, tag.ids)]}
        )
        self.run_jobs()
        self.assertEqual(record.recipient_ids.partner_id, self.partners[5:7])

    def test_settings_stay_editable_while_recipients_are_read(self):
        record = self.create_correspondence()
        template = self.env["mail.template"].create(
            {
                "name": "Rundschreiben",
                "model_id": self.env.ref("base.model_res_partner").id,
            }
        )
        tag = self.env["serial.correspondence.tag"].create({"name": "Frühjahr"})
        record.write(
            {
                "subject": "Neue Öffnungszeiten",
                "template_id": template.id,
                "tag_ids": [(4, tag.id)],
                "email_from": "verein@example.com",
                "purpose": "advertising",
            }
        )
        self.assertEqual(record.state, "importing")
        self.run_jobs()
        self.assertEqual(record.state, "ready")
        self.assertEqual(record.subject, "Neue Öffnungszeiten")
        self.assertEqual(record.tag_ids, tag)

    def test_recipients_cannot_be_reselected_after_creation(self):
        record = self.create_correspondence()
        with self.assertRaisesRegex(UserError, "create a new one"):
            record.write({"partner_domain": "[]"})

    def test_invalid_filter_gets_clear_error_and_creates_nothing(self):
        before = self.Correspondence.search_count([])
        jobs_before = self.env["queue.job"].sudo().search_count([])
        bad_filters = {
            "[('city', '=', 'Testhausen'": "not valid",
            "[('no_such_field', '=', 1)]": "no_such_field",
            "'city'": "list of conditions",
            "[('city', 'bogus', 'x')]": "bogus",
        }
        for bad, mentioned in bad_filters.items():
            with self.subTest(domain=bad), self.assertRaises(ValidationError) as caught:
                self.create_correspondence(partner_domain=bad)
            message = str(caught.exception)
            self.assertIn("contact filter is not valid", message)
            self.assertIn(mentioned, message)
        self.assertEqual(self.Correspondence.search_count([]), before)
        self.assertEqual(self.env["queue.job"].sudo().search_count([]), jobs_before)

    def test_without_any_selection_is_refused(self):
        with self.assertRaisesRegex(UserError, "Choose the recipients"):
            self.Correspondence.with_user(self.user).create({"kind": "letter"})

    def test_no_contacts_selected_in_list_is_refused(self):
        with self.assertRaisesRegex(UserError, "at least one contact"):
            self.Correspondence.with_user(self.user).action_create_from_partners(
                "email", self.Partner
            )

    def test_contact_is_recipient_at_most_once(self):
        record = self.create_correspondence()
        self.run_jobs()
        recipient = record.recipient_ids[0]
        with (
            mute_logger("odoo.sql_db"),
            self.assertRaises(UniqueViolation),
            self.env.cr.savepoint(),
        ):
            self.env["serial.correspondence.recipient"].create(
                {"correspondence_id": record.id, "partner_id": recipient.partner_id.id}
            )
        self.assertEqual(record.recipient_count, len(self.partners))
