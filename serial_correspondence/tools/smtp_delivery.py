# Copyright 2026 serial_correspondence authors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""SMTP delivery in two halves: the server's work and ours overlap.

:class:`SmtpDelivery` keeps one SMTP connection for a whole send run, opened
on first use. It builds each message exactly as Odoo's mail queue builds its
mails (``build_email``, ``_prepare_email_message`` of the ``ir.mail_server``
it is given, on the session of Odoo's ``connect``) and hands it over as
smtplib's ``sendmail`` does, cut in two: :meth:`SmtpDelivery.hand_over`
sends the message up to its last line, :meth:`SmtpDelivery.finish` waits for
the server's answer. In between, the caller builds the next message
(:meth:`SmtpDelivery.prepare`).

Errors are those of Odoo's ``send_email``: a refusal raises
``MailDeliveryException`` caused by smtplib's error (:func:`smtp_answer`
reads the server's code and text back), a dropped connection
``smtplib.SMTPServerDisconnected``, a connection that cannot be opened
:class:`TemporaryDeliveryFailure`. After a ``421`` (the server is going
away) the connection is closed and the next use opens a new one.

No model of this addon is used here: only the ``ir.mail_server`` given.
"""

import contextlib
import contextvars
import copy
import dataclasses
import datetime
import io
import logging
import re
import smtplib
from email.generator import BytesGenerator

from odoo.tools import email_normalize, html2plaintext
from odoo.tools.mail import generate_tracking_message_id

from odoo.addons.base.models.ir_mail_server import MailDeliveryException

_logger = logging.getLogger(__name__)


class TemporaryDeliveryFailure(Exception):
    """The mail server asked to try again later (4xx, dropped connection)."""


@dataclasses.dataclass
class OutgoingEmail:
    """One recipient's e-mail, as plain values, and what became of it."""

    recipient_id: int
    partner_id: int
    record_name: str
    email_to: str
    domain: str
    subject: str
    body: str
    headers: dict
    message_id: str = ""
    history_body: str = ""
    envelope: tuple = None
    log_id: int = 0
    outcome: tuple = ()
    handed_over_at: datetime.datetime = None


class SmtpDelivery:
    """One SMTP connection for a whole send run, opened on first use.

    ``mail_server``: Odoo's ``ir.mail_server`` (model or record, with the
    environment to work in); the server used is the one Odoo finds for
    ``email_from``. ``company``: whose bounce address and notifications
    address the messages use. ``attachments``: the ``ir.attachment`` files
    that go with every message (read here once, with their environment's
    rights)."""

    def __init__(self, mail_server, email_from, company=None, attachments=None):
        self.env = mail_server.env
        self.email_from = email_from
        server, smtp_from = mail_server.sudo()._find_mail_server(email_from)
        self.mail_server_id = server.id if server else False
        self.smtp_from = smtp_from
        self._session = None
        self._connected = False
        # what Odoo would look up again for every e-mail, once per run: the
        # bounce address (Return-Path) and the notifications address of the
        # company (ir_mail_server.py)
        company = company or self.env.company
        mail_server = self.env["ir.mail_server"].sudo().with_company(company)
        self.headers = {}
        if company.bounce_email:
            self.headers["Return-Path"] = company.bounce_email
        # replies go where Odoo sends the replies to its mails on a record
        # without an alias of its own: the company's catchall, from which the
        # mail gateway files them on the contact (In-Reply-To); without a
        # catchall, to the sender
        self.reply_to = company.catchall_formatted or email_from
        self.mail_server = mail_server
        self.defaults = (
            mail_server._get_default_bounce_address(),
            mail_server._get_default_from_address(),
        )
        # the files that go with every e-mail
        attachments = attachments if attachments is not None else []
        self.attachment_ids = [attachment.id for attachment in attachments]
        self.attachments = [
            (attachment.name, attachment.raw, attachment.mimetype)
            for attachment in attachments
        ]

    def prepare(self, email, quiet=False):
        """Build ``email``'s message as Odoo builds its mails, with the
        envelope Odoo would use, as the bytes to send (no I/O). With
        ``quiet``, a failure leaves it to be built (and raise) in its turn."""
        try:
            with run_mail_defaults(*self.defaults):
                self._build(email)
        except Exception:
            if not quiet:
                raise
            email.envelope = None

    def _build(self, email):
        email.message_id = generate_tracking_message_id(
            f"{email.partner_id}-res.partner"
        )
        message = self.mail_server.build_email(
            email_from=self.email_from,
            email_to=[email.email_to],
            reply_to=self.reply_to,
            subject=email.subject,
            body=email.body,
            body_alternative=html2plaintext(email.body),
            message_id=email.message_id,
            subtype="html",
            headers=self.headers | email.headers,
            attachments=self.attachments or None,
        )
        smtp_from, smtp_to_list, message = self.mail_server._prepare_email_message(
            message, self._session
        )
        email.envelope = _envelope(smtp_from, smtp_to_list, message)

    def hand_over(self, email):
        """Send ``email``'s message up to its last line, without waiting for
        the server's answer (``finish``). What smtplib's ``sendmail`` does,
        in two halves; errors as Odoo's ``send_email`` raises them."""
        smtp = self.session()
        smtp_from, smtp_to_list, data, options = email.envelope
        try:
            smtp.ehlo_or_helo_if_needed()
            if "SMTPUTF8" in options and not smtp.has_extn("smtputf8"):
                raise smtplib.SMTPNotSupportedError(
                    "The mail server does not accept internationalised addresses "
                    "(SMTPUTF8)."
                )
            if smtp.has_extn("size"):
                options = [f"size={len(data)}", *options]
            code, answer = smtp.mail(smtp_from, options)
            if code != 250:
                self._refused(code)
                raise smtplib.SMTPSenderRefused(code, answer, smtp_from)
            refused = {}
            for address in smtp_to_list:
                code, answer = smtp.rcpt(address)
                if code not in (250, 251):
                    refused[address] = (code, answer)
                if code == 421:
                    self._drop()
                    raise smtplib.SMTPRecipientsRefused(refused)
            if len(refused) == len(smtp_to_list):
                self._refused(code)
                raise smtplib.SMTPRecipientsRefused(refused)
            smtp.putcmd("data")
            code, answer = smtp.getreply()
            if code != 354:
                self._refused(code)
                raise smtplib.SMTPDataError(code, answer)
            # Odoo's session wraps smtplib's, without its ``send``
            getattr(smtp, "__obj__", smtp).send(_dot_stuffed(data))
        except smtplib.SMTPServerDisconnected:
            self._drop()
            raise
        except Exception as error:
            raise _delivery_failed(self.env, error) from error

    def finish(self, email):
        """The server's answer to the message sent by ``hand_over``."""
        smtp = self._session
        try:
            if smtp is None:
                raise smtplib.SMTPServerDisconnected("the connection was closed")
            code, answer = smtp.getreply()
            if code != 250:
                self._refused(code)
                raise smtplib.SMTPDataError(code, answer)
        except smtplib.SMTPServerDisconnected:
            self._drop()
            raise
        except Exception as error:
            raise _delivery_failed(self.env, error) from error

    def session(self):
        """The SMTP session, opened on first use (and again after it was
        closed)."""
        if not self._connected:
            try:
                self._session = (
                    self.env["ir.mail_server"]
                    .sudo()
                    .connect(
                        mail_server_id=self.mail_server_id or None,
                        smtp_from=self.smtp_from,
                    )
                )
            except Exception as error:
                raise TemporaryDeliveryFailure(
                    self.env._(
                        "cannot connect to the mail server: %(error)s", error=error
                    )
                ) from error
            self._connected = True
        return self._session

    def reset(self):
        self.close()

    def close(self):
        """Say goodbye to the server (QUIT) and forget the session."""
        if self._session is not None:
            try:
                self._session.quit()
            except (smtplib.SMTPException, OSError) as error:
                _logger.debug("SMTP session closed uncleanly: %s", error)
        self._session = None
        self._connected = False

    def _drop(self):
        """Close the connection without a word (the server is going away or
        gone) and forget the session: the next use opens a new one."""
        if self._session is not None:
            try:
                self._session.close()
            except OSError as error:
                _logger.debug("SMTP session closed uncleanly: %s", error)
        self._session = None
        self._connected = False

    def _refused(self, code):
        """After a refusal: close on 421 (the server is going away), else RSET."""
        if code == 421:
            self._drop()
            return
        try:
            self._session.rset()
        except smtplib.SMTPServerDisconnected as error:
            _logger.debug("SMTP session gone while resetting: %s", error)
            self._drop()


def email_domain(email):
    """The domain of ``email``, normalized (None without one)."""
    normalized = email_normalize(email or "") or ""
    return normalized.rpartition("@")[2] or None


def smtp_answer(error):
    """The SMTP code and answer behind a MailDeliveryException, if any."""
    cause = error.__cause__ or error.__context__
    if isinstance(cause, smtplib.SMTPRecipientsRefused):
        code, answer = next(iter(cause.recipients.values()))
        return code, f"{code} {_decode(answer)}"
    if isinstance(cause, smtplib.SMTPResponseException):
        return cause.smtp_code, f"{cause.smtp_code} {_decode(cause.smtp_error)}"
    message = error.args[-1] if error.args else str(error)
    return None, str(message)


def _envelope(smtp_from, smtp_to_list, message):
    """``(from, to_list, bytes, mail options)`` of ``message`` as smtplib's
    ``send_message`` would send it (UTF-8 addresses need SMTPUTF8)."""
    message = copy.copy(message)
    del message["Bcc"]
    options = []
    # fold header lines at RFC 5322's hard limit only: at the default 78 a
    # header of one long word (the List-Unsubscribe URL) is turned into
    # RFC 2047 encoded-words, which mailbox providers ignore there
    policy = message.policy.clone(max_line_length=998)
    if not "".join([smtp_from, *smtp_to_list]).isascii():
        policy = policy.clone(utf8=True)
        options = ["SMTPUTF8", "BODY=8BITMIME"]
    with io.BytesIO() as buffer:
        BytesGenerator(buffer, policy=policy).flatten(message, linesep="\r\n")
        return smtp_from, smtp_to_list, buffer.getvalue(), options


def _dot_stuffed(data):
    """The message as the DATA command sends it (RFC 5321 4.5.2)."""
    data = re.sub(rb"(?m)^\.", b"..", data)
    if not data.endswith(b"\r\n"):
        data += b"\r\n"
    return data + b".\r\n"


def _delivery_failed(env, error):
    """The error Odoo's ``send_email`` raises, caused by ``error``."""
    return MailDeliveryException(
        env._("Mail Delivery Failed"),
        f"{error.__class__.__name__}: {error}",
    )


def _decode(answer):
    if isinstance(answer, bytes):
        return answer.decode("utf-8", "replace")
    return str(answer)


# a send run passes the defaults it looked up once per run: otherwise each
# e-mail reads the company again (every commit empties the cache). Passed in a
# context variable of the running call, never in the ORM context: a client's
# context key must not choose a bounce or sender address.
_RUN_DEFAULTS = contextvars.ContextVar(
    "serial_correspondence_mail_defaults", default=None
)


@contextlib.contextmanager
def run_mail_defaults(bounce_address, from_address):
    """Inside this block, the outgoing mail server answers with these
    defaults (looked up once by a send run) instead of reading them again."""
    token = _RUN_DEFAULTS.set({"bounce": bounce_address, "from": from_address})
    try:
        yield
    finally:
        _RUN_DEFAULTS.reset(token)


def current_run_defaults():
    """``{"bounce": ..., "from": ...}`` inside ``run_mail_defaults``, else
    None (``ir.mail_server`` then looks them up as usual)."""
    return _RUN_DEFAULTS.get()
