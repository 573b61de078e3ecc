# Copyright 2026 serial_correspondence authors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""Replies to a serial e-mail: in the contact's history, counted on the
correspondence.

Nothing new routes them: a serial e-mail goes out with the Message-Id of its
copy in the contact's history, so Odoo's mail gateway (``message_process``)
files a reply (``In-Reply-To``/``References``) on that contact as an answer
to the copy, as it does for any reply to a chatter e-mail. This file only
notices it, after Odoo posted it (``_message_post_after_hook`` of the
contact, the least intrusive hook: one indexed lookup per incoming e-mail
that answers a message of a contact): the recipient whose history copy is
the parent gets ``replied_at`` (the first reply), and the correspondence's
chatter a short note linking the contact.

An answer sent by a machine (an out-of-office notice: ``Auto-Submitted``
of RFC 3834, or the older ``X-Autoreply`` and ``Precedence``) is filed in
the history as Odoo files it, but is no reply of the contact: not counted.
"""

import contextvars

from markupsafe import Markup

from odoo import _, api, fields, models
from odoo.tools import SQL

# while the mail gateway files an incoming e-mail: whether a machine sent it
_AUTOMATIC = contextvars.ContextVar(
    "serial_correspondence_automatic_answer", default=False
)


def is_automatic(message):
    """Whether the e-mail ``message`` was sent by a machine (RFC 3834)."""
    submitted = str(message.get("Auto-Submitted") or "").strip().lower()
    if submitted and submitted != "no":
        return True
    if message.get("X-Autoreply") or message.get("X-Autorespond"):
        return True
    precedence = str(message.get("Precedence") or "").strip().lower()
    return precedence in ("auto_reply", "bulk", "junk")


class MailThread(models.AbstractModel):
    _inherit = "mail.thread"

    def _message_route_process(self, message, message_dict, routes):
        token = _AUTOMATIC.set(is_automatic(message))
        try:
            return super()._message_route_process(message, message_dict, routes)
        finally:
            _AUTOMATIC.reset(token)


class ResPartner(models.Model):
    _inherit = "res.partner"

    def _message_post_after_hook(self, message, msg_values):
        result = super()._message_post_after_hook(message, msg_values)
        parent_id = msg_values.get("parent_id")
        if (
            parent_id
            and msg_values.get("message_type") == "email"
            and not _AUTOMATIC.get()
            # a reply comes in through the mail gateway, which runs as an
            # administrator; a user posting an "email" over RPC counts nothing
            and self.env.is_system()
        ):
            self.env["serial.correspondence.recipient"]._record_reply(parent_id)
        return result


class SerialCorrespondenceRecipient(models.Model):
    _inherit = "serial.correspondence.recipient"

    @api.model
    def _record_reply(self, parent_id):
        """An incoming e-mail answers the message ``parent_id``: if that is
        the copy of a serial e-mail, record the reply on its recipient (the
        first one dates it) and note it on the correspondence. sudo: the recipient is
        the one whose e-mail was answered (found by the copy), whoever runs
        the mail gateway. Return that recipient, or no record."""
        recipient = self.sudo().search([("message_id", "=", parent_id)], limit=1)
        if not recipient:
            return recipient
        self.env.cr.execute(
            SQL(
                "UPDATE serial_correspondence_recipient"
                "   SET replied_at = %s"
                " WHERE id = %s AND replied_at IS NULL",
                fields.Datetime.now(),
                recipient.id,
            )
        )
        recipient.invalidate_recordset(["replied_at"])
        recipient.correspondence_id._note_reply(recipient.partner_id)
        return recipient


class SerialCorrespondence(models.Model):
    _inherit = "serial.correspondence"

    def _note_reply(self, partner):
        """Say on the chatter that ``partner`` replied (the reply itself is
        in the contact's history)."""
        self.ensure_one()
        link = Markup(
            '<a href="/odoo/res.partner/%s" data-oe-model="res.partner" '
            'data-oe-id="%s">%s</a>'
        ) % (partner.id, partner.id, partner.display_name)
        self.message_post(
            body=_("Reply from %(contact)s", contact=link),
            subtype_xmlid="mail.mt_note",
        )
