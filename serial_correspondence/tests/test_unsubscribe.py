# Copyright 2026 serial_correspondence authors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).

import time

from odoo.tests import HttpCase, tagged
from odoo.tools.misc import hmac

DAY = 86400


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

    def url_open(self, url, *args, **kwargs):
        # the server reads the database: what the test wrote must be there,
        # and what the server wrote must be read afresh
        self.env.flush_all()
        response = super().url_open(url, *args, **kwargs)
        self.env.invalidate_all()
        return response

    def _path(self, url):
        return url.split("://", 1)[1].split("/", 1)[1]

    def _url_parts(self, url):
        """``(partner id, expiry, signature)`` of an unsubscribe link
        ``.../<partner id>/<expiry>.<signature>``."""
        partner_id, token = self._path(url).split("/")[-2:]
        expiry, signature = token.split(".")
        return int(partner_id), int(expiry), signature

    def assertRefused(self, path):
        """GET, one-click POST and form POST of ``path`` all get 403."""
        self.assertEqual(self.url_open(f"/{path}").status_code, 403)
        for data in ({"List-Unsubscribe": "One-Click"}, {"blacklist": "1"}):
            response = self.url_open(f"/{path}", data=data)
            self.assertEqual(response.status_code, 403, data)

    def assertUnchanged(self):
        self.assertEqual(self.partner.email_advertising_consent, "granted")
        self.assertFalse(self._blacklisted())

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

    def test_link_is_bound_to_contact_address_and_expiry(self):
        partner_id, expiry, token = self._url_parts(self.url)
        self.assertEqual(partner_id, self.partner.id)
        # valid for 365 days by default
        self.assertAlmostEqual(expiry, time.time() + 365 * DAY, delta=600)
        self.assertTrue(
            self.partner._serial_check_unsubscribe_token(f"{expiry}.{token}")
        )
        self.assertEqual(
            token,
            hmac(
                self.env(su=True),
                "serial_correspondence.unsubscribe.v2",
                (self.partner.id, "werbung.ja@example.com", expiry),
            ),
        )

    def test_validity_follows_the_system_parameter(self):
        self.env["ir.config_parameter"].sudo().set_param(
            "serial_correspondence.unsubscribe_token_days", "2"
        )
        url = self.env["res.partner"]._serial_unsubscribe_url(self.partner)
        _partner_id, expiry, _token = self._url_parts(url)
        self.assertAlmostEqual(expiry, time.time() + 2 * DAY, delta=600)
        self.assertEqual(self.url_open(f"/{self._path(url)}").status_code, 200)

    def test_valid_link_shows_page_then_one_click_unsubscribes(self):
        page = self.url_open(f"/{self.path}")
        self.assertEqual(page.status_code, 200)
        self.assertIn("werbung.ja@example.com", page.text)
        self.assertEqual(self.partner.email_advertising_consent, "granted")
        response = self.url_open(
            f"/{self.path}", data={"List-Unsubscribe": "One-Click"}
        )
        self.assertEqual(response.status_code, 200)
        self.assertEqual(self.partner.email_advertising_consent, "refused")
        self.assertFalse(self._blacklisted())

    def test_tampered_token_expiry_or_contact_changes_nothing(self):
        partner_id, expiry, token = self._url_parts(self.url)
        base = "serial_correspondence/unsubscribe"
        other = self.env["res.partner"].create(
            {
                "name": "Andere",
                "email": "andere@example.com",
                "email_advertising_consent": "granted",
            }
        )
        flipped = token[:-1] + ("0" if token[-1] != "0" else "1")
        for path in (
            f"{base}/{partner_id}/{expiry}.{flipped}",
            f"{base}/{partner_id}/{expiry}.{token[:-2]}",
            f"{base}/{partner_id}/{expiry}.{token}00",
            f"{base}/{partner_id}/{expiry}.",
            f"{base}/{partner_id}/{expiry}",
            f"{base}/{partner_id}/{token}",
            f"{base}/{partner_id}/{expiry + 1}.{token}",
            f"{base}/{partner_id}/{expiry + 365 * DAY}.{token}",
            f"{base}/{partner_id}/0{expiry}.{token}",
            f"{base}/{partner_id}/{'9' * 5000}.{token}",
            f"{base}/{other.id}/{expiry}.{token}",
            f"{base}/{partner_id + 1000000}/{expiry}.{token}",
        ):
            with self.subTest(path=path):
                self.assertRefused(path)
        self.assertUnchanged()
        self.assertEqual(other.email_advertising_consent, "granted")

    def test_foreign_contacts_token_changes_nothing(self):
        other = self.env["res.partner"].create(
            {"name": "Andere", "email": "andere@example.com"}
        )
        other_url = self.env["res.partner"]._serial_unsubscribe_url(other)
        _other_id, expiry, token = self._url_parts(other_url)
        # the other contact's own link works for the other contact only
        self.assertEqual(self.url_open(f"/{self._path(other_url)}").status_code, 200)
        self.assertRefused(
            f"serial_correspondence/unsubscribe/{self.partner.id}/{expiry}.{token}"
        )
        self.assertUnchanged()

    def test_link_for_a_former_address_changes_nothing(self):
        # the same address written differently is the same address
        self.partner.email = "Werbung.Ja@EXAMPLE.com"
        self.assertEqual(self.url_open(f"/{self.path}").status_code, 200)
        self.partner.email = "neu@example.com"
        self.assertRefused(self.path)
        self.partner.email = False
        self.assertRefused(self.path)
        self.assertUnchanged()
        # a link sent to the new address works
        self.partner.email = "neu@example.com"
        new_url = self.env["res.partner"]._serial_unsubscribe_url(self.partner)
        response = self.url_open(
            f"/{self._path(new_url)}", data={"List-Unsubscribe": "One-Click"}
        )
        self.assertEqual(response.status_code, 200)
        self.assertEqual(self.partner.email_advertising_consent, "refused")

    def test_expired_link_changes_nothing(self):
        expired = self.env["res.partner"]._serial_unsubscribe_url(
            self.partner, expiry=time.time() - 60
        )
        _partner_id, expiry, token = self._url_parts(expired)
        self.assertFalse(
            self.partner._serial_check_unsubscribe_token(f"{expiry}.{token}")
        )
        self.assertRefused(self._path(expired))
        self.assertUnchanged()

    def test_link_of_the_first_scheme_changes_nothing(self):
        """The first links signed the contact id only: no address, no expiry."""
        old_token = hmac(
            self.env(su=True), "serial_correspondence.unsubscribe", self.partner.id
        )
        self.assertRefused(
            f"serial_correspondence/unsubscribe/{self.partner.id}/{old_token}"
        )
        self.assertUnchanged()
