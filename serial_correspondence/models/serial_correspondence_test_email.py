# Copyright 2026 serial_correspondence authors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""Preview and test e-mail.

The preview (``wizards/serial_correspondence_preview.py``) shows the
correspondence as one recipient gets it. The test e-mail sends the serial
e-mail as one recipient gets it to addresses the user types, through the
outgoing path of real sending and counted in the sending limits. The
recipients are not touched."""

import smtplib

from markupsafe import Markup

from odoo import _, models
from odoo.exceptions import UserError
from odoo.tools import SQL, email_normalize, format_datetime, formataddr

from odoo.addons.base.models.ir_mail_server import MailDeliveryException

from ..tools import workflow
from ..tools.smtp_delivery import (
    OutgoingEmail,
    SmtpDelivery,
    TemporaryDeliveryFailure,
    email_domain,
    smtp_answer,
)
from .serial_correspondence_sending import one_line


class SerialCorrespondence(models.Model):
    _inherit = "serial.correspondence"

    def action_preview(self):
        """Open the preview for the first recipient (or the user's own
        contact while there is none)."""
        self.ensure_one()
        self.check_access("read")
        first = self.env["serial.correspondence.recipient"].search(
            [("correspondence_id", "=", self.id)], order="id", limit=1
        )
        wizard = self.env["serial.correspondence.preview"].create(
            {"correspondence_id": self.id, "recipient_id": first.id}
        )
        return {
            "type": "ir.actions.act_window",
            "name": _("Preview"),
            "res_model": wizard._name,
            "res_id": wizard.id,
            "views": [(False, "form")],
            "target": "new",
        }

    def action_send_test(self, email_to, recipient_id=False):
        """Send the e-mail of one recipient (``recipient_id``, one of this
        correspondence's; by default the first, or the user's own contact
        when there is none) to ``email_to``, a comma-separated list of
        addresses, with "[Test] " before the subject.

        Allowed to whoever may write the correspondence, in every state but
        the final ones, also while it is being sent (it changes nothing of
        the correspondence or its recipients). Each address takes one
        e-mail of the sending limits."""
        self.ensure_one()
        self.check_access("write")
        if self.kind != workflow.EMAIL:
            raise UserError(_("Only a serial e-mail can be sent as a test e-mail."))
        if self.state in workflow.FINAL_STATES:
            raise UserError(
                _(
                    "%(name)s is finalized: no test e-mail can be sent any more.",
                    name=self.display_name,
                )
            )
        addresses = self._test_email_addresses(email_to)
        self._check_content_and_sender(
            lambda missing: _(
                "Before sending a test e-mail, give %(name)s %(missing)s.",
                name=self.display_name,
                missing=missing,
            )
        )
        partner = self._test_email_partner(recipient_id)
        rendered, failures = self._render_messages(partner)
        if failures:
            raise UserError(
                _(
                    "The template cannot be rendered: %(error)s",
                    error=failures[partner.id],
                )
            )
        subject, body = rendered[partner.id]
        emails = [
            self._test_outgoing_email(partner, address, subject, body)
            for address in addresses
        ]
        delivery = SmtpDelivery(
            self.env["ir.mail_server"],
            self.email_from,
            company=self.company_id or self.env.company,
            attachments=self._email_attachments(),
        )
        log_ids = self._reserve_test_emails(delivery, emails)
        try:
            self._deliver_test_emails(delivery, emails)
        except Exception:
            # nothing of it is recorded: give back what did not go out
            self._release_test_emails(
                [
                    log_id
                    for email, log_id in zip(emails, log_ids, strict=True)
                    if not email.outcome
                ]
            )
            raise
        finally:
            delivery.close()
        self.message_post(
            body=_(
                "Test e-mail sent to %(addresses)s (as for %(contact)s).",
                addresses=", ".join(addresses),
                contact=partner.display_name,
            ),
            subtype_xmlid="mail.mt_note",
        )
        return True

    def _test_email_addresses(self, email_to):
        """The normalized addresses of ``email_to`` (a comma-separated list,
        from the client), each once; a clear error for a bad one."""
        if not isinstance(email_to, str):
            email_to = ""
        addresses = []
        for part in email_to.replace(";", ",").split(","):
            part = part.strip()
            if not part:
                continue
            address = email_normalize(part)
            local, _at, domain = (address or "").rpartition("@")
            if not (local and domain):
                raise UserError(
                    _("'%(address)s' is not a valid e-mail address.", address=part)
                )
            if address not in addresses:
                addresses.append(address)
        if not addresses:
            raise UserError(_("Enter at least one e-mail address for the test e-mail."))
        return addresses

    def _test_email_partner(self, recipient_id):
        """The contact the test e-mail is rendered for: one of this
        correspondence's recipients (a client names any id it likes: only
        this correspondence's, as far as the user may read them), else the
        user's own contact."""
        Recipient = self.env["serial.correspondence.recipient"]
        domain = [("correspondence_id", "=", self.id)]
        if recipient_id:
            if not isinstance(recipient_id, int):
                raise UserError(_("Choose a recipient of this correspondence."))
            recipient = Recipient.search([*domain, ("id", "=", recipient_id)])
            if not recipient:
                raise UserError(_("Choose a recipient of this correspondence."))
            return recipient.partner_id
        recipient = Recipient.search(domain, order="id", limit=1)
        return recipient.partner_id or self.env.user.partner_id

    def _test_outgoing_email(self, partner, address, subject, body):
        """The e-mail of ``partner`` to the test ``address``, as sending
        builds it (``_outgoing_email``). The unsubscribe link of an
        advertising e-mail is the user's own: whoever receives the test and
        clicks it must not unsubscribe the contact."""
        headers = {}
        if self.purpose == "advertising":
            footer, unsubscribe_headers = self._unsubscribe_parts(
                self.env.user.partner_id
            )
            body = Markup(body or "") + footer
            headers.update(unsubscribe_headers)
        return OutgoingEmail(
            recipient_id=0,
            partner_id=partner.id,
            record_name=partner.display_name,
            email_to=formataddr(("", address)),
            domain=email_domain(address),
            subject=_("[Test] %(subject)s", subject=one_line(subject)),
            body=str(body or ""),
            headers={key: value for key, value in headers.items() if value},
        )

    def _reserve_test_emails(self, delivery, emails):
        """One e-mail of the sending limits per address, as the send run
        reserves them (``SendRun._claim``): counted and committed in a
        transaction of its own that reads what other senders committed, so
        that they see it at once and the budget lock is not held while the
        mail server talks. A clear error when the limits allow no more."""
        registry = self.env.registry
        with registry.cursor() as cr:
            if not registry.in_test_mode():
                cr.execute(SQL("SET TRANSACTION ISOLATION LEVEL READ COMMITTED"))
            Log = self.env(cr=cr)["serial.correspondence.send.log"]
            limits = Log._limits(delivery.mail_server_id)
            log_ids = []
            for email in emails:
                reserved = Log._reserve(
                    self, delivery.mail_server_id, email.domain, limits=limits
                )
                if isinstance(reserved, tuple):
                    cr.rollback()
                    resume_at, _scope = reserved
                    raise UserError(
                        _(
                            "The sending limit is reached: a test e-mail can be "
                            "sent again from %(time)s.",
                            time=format_datetime(self.env, resume_at),
                        )
                    )
                log_ids.append(reserved)
        return log_ids

    def _release_test_emails(self, log_ids):
        """Give back the e-mails of the limits that did not go out."""
        if not log_ids:
            return
        with self.env.registry.cursor() as cr:
            Log = self.env(cr=cr)["serial.correspondence.send.log"]
            for log_id in log_ids:
                Log._release(log_id)

    def _deliver_test_emails(self, delivery, emails):
        """Hand the test e-mails to the mail server; a clear error with the
        server's answer when it does not take one."""
        for email in emails:
            try:
                delivery.session()
                delivery.prepare(email)
                delivery.hand_over(email)
                delivery.finish(email)
            except TemporaryDeliveryFailure as failure:
                # what the administrator can do, when the failure knows it
                # (a login, the connection, the sender: tools/smtp_delivery.py)
                error = self.env._(failure.reason) if failure.reason else failure
                raise UserError(
                    _("The test e-mail was not sent: %(error)s", error=error)
                ) from failure
            except smtplib.SMTPServerDisconnected as error:
                raise UserError(
                    _("The test e-mail was not sent: %(error)s", error=error)
                ) from error
            except MailDeliveryException as error:
                raise UserError(
                    _(
                        "The mail server refused the test e-mail to %(address)s: "
                        "%(answer)s",
                        address=email.email_to,
                        answer=smtp_answer(error)[1],
                    )
                ) from error
            email.outcome = ("sent", False)
