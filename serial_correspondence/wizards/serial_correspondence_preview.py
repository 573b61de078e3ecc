# Copyright 2026 serial_correspondence authors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""Preview: the subject and text of a serial correspondence as one of its
recipients gets it (an e-mail's body, or the letter page as it prints),
rendered with the user's rights exactly as processing renders it; and the
test e-mail of a serial e-mail."""

import types

from odoo import _, api, fields, models
from odoo.exceptions import ValidationError


class SerialCorrespondencePreview(models.TransientModel):
    _name = "serial.correspondence.preview"
    _description = "Serial Correspondence Preview"

    correspondence_id = fields.Many2one(
        "serial.correspondence", required=True, readonly=True, ondelete="cascade"
    )
    kind = fields.Selection(related="correspondence_id.kind")
    recipient_id = fields.Many2one(
        "serial.correspondence.recipient",
        domain="[('correspondence_id', '=', correspondence_id)]",
        help="The recipient the preview is rendered for; without one, your "
        "own contact.",
    )
    preview_subject = fields.Char(string="Subject", compute="_compute_preview")
    # sanitized before it is assigned (see _compute_preview): the letter is
    # a whole HTML document with its own styles, shown in a sandboxed frame
    preview_body = fields.Html(
        string="Text", sanitize=False, compute="_compute_preview"
    )
    preview_error = fields.Text(string="Error", compute="_compute_preview")
    email_to = fields.Char(
        string="Send test e-mail to",
        default=lambda self: self.env.user.email,
        help="One or more e-mail addresses, separated by commas.",
    )

    @api.constrains("correspondence_id", "recipient_id")
    def _check_recipient(self):
        """Only a recipient of the correspondence (the view's domain is no
        server rule)."""
        for wizard in self:
            recipient = wizard.recipient_id
            if recipient and recipient.correspondence_id != wizard.correspondence_id:
                raise ValidationError(_("Choose a recipient of this correspondence."))

    @api.depends("correspondence_id", "recipient_id")
    def _compute_preview(self):
        for wizard in self:
            wizard.preview_subject = False
            wizard.preview_body = False
            wizard.preview_error = False
            correspondence = wizard.correspondence_id
            if not correspondence:
                continue
            # with the user's rights: a correspondence they may not read
            # shows nothing
            correspondence.check_access("read")
            if not correspondence.template_id:
                wizard.preview_error = _("Choose a template to see the preview.")
                continue
            recipient = wizard.recipient_id
            if recipient and recipient.correspondence_id != correspondence:
                wizard.preview_error = _("Choose a recipient of this correspondence.")
                continue
            partner = recipient.partner_id or self.env.user.partner_id
            rendered, failures = correspondence._render_messages(partner)
            if partner.id in failures:
                wizard.preview_error = _(
                    "The template cannot be rendered for this contact: %(error)s",
                    error=failures[partner.id],
                )
                continue
            subject, body = rendered[partner.id]
            wizard.preview_subject = subject
            if correspondence.kind == "letter":
                wizard.preview_body = wizard._letter_preview(recipient, subject, body)
            else:
                # sanitized as the contact's copy of the e-mail is
                wizard.preview_body = correspondence._sanitized_body(body)

    def _letter_preview(self, recipient, subject, body):
        """The letter page as it prints (``_letters_html``), for
        ``recipient`` with the text just rendered; the text is sanitized as
        the stored letter text is (``letter_body``), the rest is the letter
        layout's own QWeb output."""
        Recipient = self.env["serial.correspondence.recipient"]
        letter = types.SimpleNamespace(
            id=recipient.id or 0,
            partner_id=recipient.partner_id or self.env.user.partner_id,
            letter_subject=subject,
            letter_body=Recipient._fields["letter_body"].convert_to_cache(
                body or "", Recipient
            ),
        )
        return self.correspondence_id._letters_html([letter])

    def action_send_test(self):
        """Send the test e-mail (``serial.correspondence.action_send_test``,
        which checks everything) and close the dialog with a notice."""
        self.ensure_one()
        self.correspondence_id.action_send_test(
            self.email_to or "", recipient_id=self.recipient_id.id
        )
        return {
            "type": "ir.actions.client",
            "tag": "display_notification",
            "params": {
                "type": "success",
                "message": _(
                    "Test e-mail sent to %(addresses)s.", addresses=self.email_to
                ),
                "next": {"type": "ir.actions.act_window_close"},
            },
        }
