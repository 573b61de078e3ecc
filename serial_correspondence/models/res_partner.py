# Copyright 2026 serial_correspondence authors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
from odoo import _, fields, models
from odoo.tools import consteq, email_normalize
from odoo.tools.misc import hmac

UNSUBSCRIBE_SCOPE = "serial_correspondence.unsubscribe"

CONSENT_STATES = [
    ("unknown", "Unknown"),
    ("granted", "Granted"),
    ("refused", "Refused"),
]


class ResPartner(models.Model):
    _inherit = "res.partner"

    email_advertising_consent = fields.Selection(
        CONSENT_STATES,
        string="Advertising by e-mail",
        default="unknown",
        tracking=True,
        help="Advertising e-mails go only to contacts who granted their consent "
        "(opt-in).",
    )
    letter_advertising_consent = fields.Selection(
        CONSENT_STATES,
        string="Advertising by letter",
        default="unknown",
        tracking=True,
        help="Advertising letters go to every contact who has not refused them.",
    )
    no_letters = fields.Boolean(
        string="No letters",
        tracking=True,
        help="This contact gets no serial letters at all.",
    )
    serial_correspondence_recipient_ids = fields.One2many(
        "serial.correspondence.recipient", "partner_id", string="Serial correspondence"
    )

    # ------------------------------------------------------------------
    # unsubscribing from advertising e-mails (signed links, RFC 8058)
    # ------------------------------------------------------------------

    def _serial_unsubscribe_token(self):
        self.ensure_one()
        return hmac(self.env(su=True), UNSUBSCRIBE_SCOPE, self.id)

    def _serial_unsubscribe_url(self, partner):
        return (
            f"{partner.get_base_url()}/serial_correspondence/unsubscribe/"
            f"{partner.id}/{partner._serial_unsubscribe_token()}"
        )

    def _serial_check_unsubscribe_token(self, token):
        self.ensure_one()
        return bool(token) and consteq(self._serial_unsubscribe_token(), str(token))

    def _serial_unsubscribe(self, blacklist=False):
        """Record the refusal of advertising e-mails (tracked), and optionally
        block every e-mail to the address."""
        self.ensure_one()
        partner = self.sudo()
        if partner.email_advertising_consent != "refused":
            partner.email_advertising_consent = "refused"
            partner.message_post(
                body=_(
                    "Unsubscribed from advertising e-mails through the link in an "
                    "e-mail."
                ),
                subtype_xmlid="mail.mt_note",
            )
        email = email_normalize(partner.email or "")
        if blacklist and email:
            self.env["mail.blacklist"].sudo()._add(
                email, message=_("Blocked all e-mails through the unsubscribe link.")
            )
