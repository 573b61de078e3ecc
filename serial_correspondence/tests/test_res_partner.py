# Copyright 2026 serial_correspondence authors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
from odoo.tests import new_test_user, tagged

from .common import SerialCorrespondenceCase


@tagged("post_install", "-at_install")
class TestPartnerCommunicationStatus(SerialCorrespondenceCase):
    def test_new_contact_has_unknown_consent(self):
        partner = self.Partner.create({"name": "Neu"})
        self.assertEqual(partner.email_advertising_consent, "unknown")
        self.assertEqual(partner.letter_advertising_consent, "unknown")
        self.assertFalse(partner.no_letters)

    def test_consent_changes_are_tracked_with_who_and_when(self):
        clerk = new_test_user(
            self.env,
            login="sc_clerk",
            groups="base.group_user,base.group_partner_manager",
        )
        partner = self.partners[0].with_context(tracking_disable=False)
        partner.with_user(clerk).write(
            {
                "email_advertising_consent": "granted",
                "letter_advertising_consent": "refused",
                "no_letters": True,
            }
        )
        # Odoo writes tracking values when the transaction commits
        self.env.cr.precommit.run()
        trackings = self.env["mail.tracking.value"].search(
            [
                ("mail_message_id.model", "=", "res.partner"),
                ("mail_message_id.res_id", "=", partner.id),
            ]
        )
        changed = {t.field_id.name: t for t in trackings}
        self.assertEqual(
            set(changed),
            {"email_advertising_consent", "letter_advertising_consent", "no_letters"},
        )
        message = changed["email_advertising_consent"].mail_message_id
        self.assertEqual(message.author_id, clerk.partner_id)
        self.assertTrue(message.date)
        self.assertEqual(changed["email_advertising_consent"].old_value_char, "Unknown")
        self.assertEqual(changed["email_advertising_consent"].new_value_char, "Granted")
