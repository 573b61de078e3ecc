# Copyright 2026 serial_correspondence authors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""Contacts: consent to advertising per channel, and unsubscribing.

An unsubscribe link is bound to the address it was sent to and expires:
``/serial_correspondence/unsubscribe/<contact id>/<expiry>.<signature>``,
where the signature is the HMAC (database secret) of (contact id, normalized
e-mail address, expiry). It is checked against the contact's *current*
address, so a link stops working when the contact's address changes, and a
link for one contact is worthless for another. Links work 365 days, or as
many as the system parameter ``serial_correspondence.unsubscribe_token_days``
says.
"""

import time

from odoo import _, api, fields, models
from odoo.tools import consteq, email_normalize
from odoo.tools.misc import hmac

from ..tools.settings import setting

# v2: (partner id, e-mail, expiry); tokens of the first scheme (partner id
# only, bound to no address, never expiring) are no longer accepted
UNSUBSCRIBE_SCOPE = "serial_correspondence.unsubscribe.v2"
UNSUBSCRIBE_TOKEN_DAYS = 365

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

    def _serial_unsubscribe_token(self, email, expiry):
        """The signature of (this contact, the normalized ``email``, the
        ``expiry`` timestamp)."""
        self.ensure_one()
        return hmac(
            self.env(su=True), UNSUBSCRIBE_SCOPE, (self.id, email or "", int(expiry))
        )

    @api.model
    def _serial_unsubscribe_token_days(self):
        """How many days an unsubscribe link works (system parameter
        ``serial_correspondence.unsubscribe_token_days``, 365 by default)."""
        days = setting(
            self.env, "unsubscribe_token_days", UNSUBSCRIBE_TOKEN_DAYS, cast=float
        )
        return days if days > 0 else UNSUBSCRIBE_TOKEN_DAYS

    @api.model
    def _serial_unsubscribe_url(self, partner, expiry=None):
        """The unsubscribe link for an e-mail to ``partner``'s current
        address: ``.../unsubscribe/<partner id>/<expiry>.<signature>``,
        valid until ``expiry`` (a UNIX timestamp; by default in
        :meth:`_serial_unsubscribe_token_days` days)."""
        if expiry is None:
            expiry = time.time() + self._serial_unsubscribe_token_days() * 86400
        expiry = int(expiry)
        email = email_normalize(partner.email or "") or ""
        signature = partner._serial_unsubscribe_token(email, expiry)
        return (
            f"{partner.get_base_url()}/serial_correspondence/unsubscribe/"
            f"{partner.id}/{expiry}.{signature}"
        )

    def _serial_check_unsubscribe_token(self, token):
        """Whether ``token`` (``<expiry>.<signature>``) is this contact's for
        its current address and its expiry has not passed (the signature is
        compared in constant time)."""
        self.ensure_one()
        email = email_normalize(self.email or "")
        expiry, _dot, signature = str(token or "").partition(".")
        # the expiry as it was signed: digits only, no leading zero, no sign
        if not (email and signature and expiry.isascii() and expiry.isdigit()):
            return False
        if len(expiry) > 16 or str(int(expiry)) != expiry:
            return False
        if int(expiry) < time.time():
            return False
        return consteq(self._serial_unsubscribe_token(email, int(expiry)), signature)

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
