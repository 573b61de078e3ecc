# Copyright 2026 serial_correspondence authors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).

from odoo.tests import HttpCase, tagged


@tagged("post_install", "-at_install")
class TestUnsubscribe(HttpCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.partner = cls.env["res.partner"].create(
            {
                "name": "Werbung Ja",
                "email": "werbung.ja@example.com",
                "email_advertising_consent": "granted",
            }
        )
        cls.url = cls.env["res.partner"]._serial_unsubscribe_url(cls.partner)
        cls.path = cls.url.split("://", 1)[1].split("/", 1)[1]

    def _blacklisted(self):
        return bool(
            self.env["mail.blacklist"].search(
                [("email", "=", "werbung.ja@example.com")]
            )
        )

    def test_advertising_mail_carries_link_and_one_click_headers(self):
        template = self.env["mail.template"].create(
            {"name": "Werbung", "model_id": self.env.ref("base.model_res_partner").id}
        )
        correspondence = self.env["serial.correspondence"].create(
            {
                "kind": "email",
                "purpose": "advertising",
                "subject": "Angebot",
                "template_id": template.id,
                "partner_domain": repr([("id", "=", self.partner.id)]),
            }
        )
        footer, headers = correspondence._unsubscribe_parts(self.partner)
        self.assertEqual(headers["List-Unsubscribe"], f"<{self.url}>")
        self.assertEqual(headers["List-Unsubscribe-Post"], "List-Unsubscribe=One-Click")
        self.assertIn(self.url, footer)

    def test_one_click_unsubscribe_records_refusal(self):
        response = self.url_open(
            f"/{self.path}", data={"List-Unsubscribe": "One-Click"}
        )
        self.assertEqual(response.status_code, 200)
        self.assertEqual(self.partner.email_advertising_consent, "refused")
        self.assertFalse(self._blacklisted())
        # the refusal is tracked in the contact's history
        self.env.cr.precommit.run()
        trackings = self.env["mail.tracking.value"].search(
            [
                ("mail_message_id.model", "=", "res.partner"),
                ("mail_message_id.res_id", "=", self.partner.id),
                ("field_id.name", "=", "email_advertising_consent"),
            ]
        )
        self.assertEqual(trackings.new_value_char, "Refused")

    def test_page_asks_then_also_blacklists_on_request(self):
        page = self.url_open(f"/{self.path}")
        self.assertEqual(page.status_code, 200)
        self.assertIn("werbung.ja@example.com", page.text)
        self.assertIn("Block all e-mails", page.text)
        self.assertEqual(self.partner.email_advertising_consent, "granted")
        done = self.url_open(f"/{self.path}", data={"blacklist": "1"})
        self.assertEqual(done.status_code, 200)
        self.assertIn("You are unsubscribed", done.text)
        self.assertEqual(self.partner.email_advertising_consent, "refused")
        self.assertTrue(self._blacklisted())

    def test_tampered_token_changes_nothing(self):
        tampered = self.path[:-4] + (
            "0000" if not self.path.endswith("0000") else "1111"
        )
        other = self.env["res.partner"].create(
            {"name": "Andere", "email": "a@example.com"}
        )
        wrong_partner = self.path.replace(f"/{self.partner.id}/", f"/{other.id}/")
        for path in (tampered, wrong_partner):
            with self.subTest(path=path):
                self.assertEqual(self.url_open(f"/{path}").status_code, 403)
                response = self.url_open(
                    f"/{path}", data={"List-Unsubscribe": "One-Click"}
                )
                self.assertEqual(response.status_code, 403)
        self.assertEqual(self.partner.email_advertising_consent, "granted")
        self.assertEqual(other.email_advertising_consent, "unknown")
        self.assertFalse(self._blacklisted())
