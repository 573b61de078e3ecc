# Copyright 2026 serial_correspondence authors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
from odoo import fields, models

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
