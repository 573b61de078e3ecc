# Copyright 2026 serial_correspondence authors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""Bounces of serial e-mails, through Odoo's own mail gateway.

Serial e-mails go out as Odoo's mail queue sends its mails: with the
company's bounce address (``res.company.bounce_email``, of its alias domain)
as Return-Path and envelope sender (``tools/smtp_delivery.py``). Bounces
therefore come back to Odoo's bounce alias, are fetched like any incoming
mail (fetchmail, or the mailgate script) and recognised by the gateway
(``message_process`` -> ``message_route`` -> ``_routing_handle_bounce``).
Odoo 18 no longer uses VERP addresses (``bounce+<id>-<model>-<id>@``): the
Message-Id in the returned headers is what identifies the e-mail, for Odoo
as for us.

Why not Odoo's way alone: Odoo attributes a bounce to the record the
returned message belongs to (for a serial e-mail, its copy in the contact's
history, so the contact) and counts it on every contact with the address.
It keeps doing exactly that (``super``): the contact's bounce counter moves
as for any e-mail Odoo sends. What a serial e-mail adds is the recipient:
bounced with the server's answer, counted on the correspondence, and soft
bounces for the storm brake (``serial_correspondence_recipient_bounce.py``).
"""

from odoo import api, models

from ..tools.dsn import read_delivery_report


class MailThread(models.AbstractModel):
    _inherit = "mail.thread"

    @api.model
    def _routing_handle_bounce(self, email_message, message_dict):
        if not self.env.is_system():
            # the mail gateway runs as an administrator (fetchmail's cron, the
            # mailgate script); a user calling message_process over RPC with a
            # forged report marks nobody bounced (Odoo's own handling runs)
            return super()._routing_handle_bounce(email_message, message_dict)
        recipients = self.env["serial.correspondence.recipient"]._find_bounced(
            message_dict.get("bounced_msg_ids"), message_dict.get("bounced_message")
        )
        if recipients and not message_dict.get("bounced_email"):
            # a report without Final-Recipient: Odoo falls back on the
            # partner notified of the message; a serial e-mail's copy has
            # none, its recipient is that partner
            email = recipients[0].partner_id.email_normalized
            if email:
                message_dict["bounced_email"] = email
                message_dict["bounced_partner"] = (
                    self.env["res.partner"]
                    .sudo()
                    .search([("email_normalized", "=", email)])
                )
        result = super()._routing_handle_bounce(email_message, message_dict)
        if recipients:
            recipients._receive_bounce(
                read_delivery_report(email_message),
                message_dict.get("bounced_email"),
                message_dict.get("bounced_partner"),
            )
        return result
