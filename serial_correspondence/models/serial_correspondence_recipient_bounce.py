# Copyright 2026 serial_correspondence authors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""A serial e-mail that came back: the recipient's side of a bounce.

Found by the Message-Id only: every serial e-mail goes out with a Message-Id
of its own, kept on its copy in the contact's history (``mail.message``,
``tools/send_run.py``), and the recipient points to that copy. Odoo's mail
gateway finds the Message-Id in the returned headers
(``bounced_msg_ids``, ``bounced_message``); the recipient is the one whose
copy has it. Nothing else of the bounce chooses a record.

What becomes of the recipient (``tools/dsn.py`` reads the report):

- failed (the server gave up): state ``bounced``, ``bounce_type`` hard
  (``5.x.x``: for good) or soft (``4.x.x``: e.g. mailbox full), the server's
  answer as the reason. Never sent again ("Send e-mails" only takes pending,
  excluded and error recipients back).
- delayed (the server keeps trying): the recipient stays ``sent`` (the
  e-mail may still arrive), ``bounce_type`` soft and the answer as the
  reason; a later failure makes it bounced.
- a recipient already bounced, or not sent: nothing changes.

Soft ones (delayed, or failed with ``4.x.x``) count for the storm brake of
the serial e-mail (``serial_correspondence_storm_brake.py``).

The contact's bounce counter (``message_bounce``) is Odoo's: the gateway
counts every bounce of a known address, delayed ones too, exactly as for any
other e-mail of Odoo. The blacklist after repeated bounces follows Odoo's
own rule (mass_mailing's ``_routing_handle_bounce``): at least
``BLACKLIST_MAX_BOUNCED_LIMIT`` returned serial e-mails to the address in 13
weeks, spread over more than a week, and the contact's counter as high.
"""

import datetime

from markupsafe import Markup

from odoo import _, api, fields, models
from odoo.tools.translate import LazyTranslate

from ..tools.texts import in_all_languages

_lt = LazyTranslate(__name__)

# as Odoo's mass_mailing (addons/mass_mailing/models/mail_thread.py)
BLACKLIST_MAX_BOUNCED_LIMIT = 5
BLACKLIST_PERIOD = datetime.timedelta(weeks=13)
BLACKLIST_MIN_SPREAD = datetime.timedelta(weeks=1)


class SerialCorrespondenceRecipient(models.Model):
    _inherit = "serial.correspondence.recipient"

    @api.model
    def _find_bounced(self, bounced_msg_ids, bounced_message):
        """The recipients whose e-mail went out with one of the Message-Ids
        ``bounced_msg_ids`` or whose history copy is ``bounced_message`` (as
        the mail gateway found them). Sudo: the gateway runs as whoever
        fetches the mail; the Message-Id alone chooses them."""
        references = [reference for reference in bounced_msg_ids or () if reference]
        message_ids = list(bounced_message.ids) if bounced_message else []
        if references:
            message_ids += (
                self.env["mail.message"]
                .sudo()
                .search(
                    [
                        ("message_id", "in", references),
                        ("model", "=", "res.partner"),
                        ("message_type", "=", "email_outgoing"),
                    ]
                )
                .ids
            )
        if not message_ids:
            return self.browse()
        return self.sudo().search([("message_id", "in", message_ids)])

    def _receive_bounce(self, report, bounced_email=False, bounced_partner=None):
        """Record the bounce ``report`` (``tools/dsn.py``) for these
        recipients (see the module docstring)."""
        if not report.is_bounce:
            return
        sent = self.filtered(lambda recipient: recipient.state == "sent")
        if not sent:
            return
        if report.delayed:
            sent._internal_write({"bounce_type": "soft"})
            reason = _lt(
                "The addressee's mail server has not delivered the e-mail yet "
                "and keeps trying: %(answer)s",
                answer=report.answer,
            )
        else:
            sent._internal_write(
                {"state": "bounced", "bounce_type": report.bounce_type}
            )
            reason = _lt(
                "The addressee's mail server returned the e-mail: %(answer)s",
                answer=report.answer,
            )
        sent._write_reason(in_all_languages(self.env, reason))
        if report.bounce_type == "soft":
            for recipient in sent:
                recipient.correspondence_id._storm_brake_on_soft_bounce(recipient)
        if not report.delayed and bounced_email:
            self._blacklist_after_repeated_bounces(bounced_email, bounced_partner)

    @api.model
    def _blacklist_after_repeated_bounces(self, email, partners):
        """Odoo's rule (mass_mailing): an address whose e-mails came back
        too often, over more than a week, goes on the blacklist."""
        bounced_on = (
            self.sudo()
            .search(
                [
                    ("state", "=", "bounced"),
                    ("write_date", ">", fields.Datetime.now() - BLACKLIST_PERIOD),
                    ("partner_id.email_normalized", "=", email),
                ]
            )
            .mapped("write_date")
        )
        if len(bounced_on) < BLACKLIST_MAX_BOUNCED_LIMIT:
            return
        if partners and not any(
            partner.message_bounce >= BLACKLIST_MAX_BOUNCED_LIMIT
            for partner in partners
        ):
            return
        if max(bounced_on) > min(bounced_on) + BLACKLIST_MIN_SPREAD:
            self.env["mail.blacklist"].sudo()._add(
                email,
                message=Markup("<p>%s</p>")
                % _(
                    "This e-mail address was added to the blacklist automatically: "
                    "serial e-mails to it were returned too often."
                ),
            )
