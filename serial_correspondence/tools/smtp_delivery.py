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

Odoo's way of building costs about 2.8 ms of CPU per message (Python's
``email`` package parses and folds every header and part again), more than
all the rest of sending one e-mail. So the first messages of a connection are
built by Odoo, and :class:`MessageSkeleton` learns from them what stays the
same for every recipient (the headers but Message-Id, Subject, To, Date and
the e-mail's own headers such as List-Unsubscribe; the attachments, encoded
once) and writes the others from it: per recipient only those headers and
the two bodies (text and HTML) are encoded, by the same functions of the
``email`` package and with the same choices, into the bytes Odoo's message
would give (boundaries are random anyway). It is trusted only after the
second message, built both ways, came out the same; a message of another
shape is always built by Odoo.

Errors are those of Odoo's ``send_email``: a refusal raises
``MailDeliveryException`` caused by smtplib's error (:func:`smtp_answer`
reads the server's code and text back), a dropped connection
``smtplib.SMTPServerDisconnected``, a connection that cannot be opened
:class:`TemporaryDeliveryFailure` with the reason to show the
administrator (a server that does not answer, refuses the login, does not
offer the STARTTLS it is configured for). After a ``421`` (the server is
going away) the connection is closed and the next use opens a new one.

Every socket operation waits at most ``serial_correspondence.
smtp_timeout_seconds`` (default: Odoo's ``SMTP_TIMEOUT``, 60 s), connecting
included: a server that accepts the connection and then stalls ends the
run, it does not hang a worker. Odoo reads its timeout from a module
constant when it opens the connection; :class:`_TimedSMTPConnection` lets a
send run choose its own (``smtp_timeout``), and leaves every other
connection to Odoo's constant.

No model of this addon is used here: only the ``ir.mail_server`` given.
"""

import contextlib
import contextvars
import copy
import dataclasses
import datetime
import io
import logging
import random
import re
import smtplib
import sys
from email.contentmanager import _encode_text
from email.generator import NLCRE, BytesGenerator
from email.utils import parseaddr

import idna

from odoo.tools import email_normalize, formataddr, html2plaintext
from odoo.tools.mail import generate_tracking_message_id
from odoo.tools.misc import unique
from odoo.tools.translate import LazyTranslate

from odoo.addons.base.models import ir_mail_server
from odoo.addons.base.models.ir_mail_server import (
    MailDeliveryException,
    extract_rfc2822_addresses,
)

from .settings import setting

_logger = logging.getLogger(__name__)
_lt = LazyTranslate(__name__)

# SMTP answers that mean "log in first" or "your login is wrong", at any
# stage: a problem of the mail server's settings, not of a recipient
LOGIN_CODES = (530, 534, 535, 538)
# the longest wait for the mail server a setting may ask for (seconds): a
# larger one is as good as waiting forever
MAX_SMTP_TIMEOUT = 3600.0


class TemporaryDeliveryFailure(Exception):
    """The mail server asked to try again later (4xx, dropped connection),
    or cannot be used as it is configured. ``reason``: what to tell the
    administrator (a lazy translation), if more than the server's answer."""

    def __init__(self, message, reason=None):
        super().__init__(message)
        self.reason = reason


class AddressNotSupported(smtplib.SMTPNotSupportedError):
    """The recipient's address needs SMTPUTF8, which the server lacks."""


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
    # the whole message was sent but the server's answer was lost: the
    # recipient keeps its claim (never sent again)
    delivery_unknown: bool = False


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
        # what stays the same in every message of the connection, once the
        # second message confirmed it (MessageSkeleton); ``_checked``: the
        # skeleton learnt from the first message, waiting for that check
        self._skeleton = None
        self._checked = None
        self._last_message = None
        # the session in which the skeleton failed its check
        self._odoo_only = None
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
        skeleton = self._skeleton
        if (
            skeleton is not None
            and skeleton.session is self._session
            # a list of recipients Odoo keeps to: not in a send run's context
            and not self.env.context.get("send_validated_to")
        ):
            envelope = skeleton.envelope(self._write_args(email))
            if envelope is not None:
                email.envelope = envelope
                return
        email.envelope = self._odoo_envelope(email)
        self._learn(email)

    def _write_args(self, email):
        """What ``MessageSkeleton.envelope`` needs of ``email``: the values
        Odoo's ``build_email`` is given per recipient."""
        return {
            "message_id": email.message_id,
            "subject": email.subject,
            "to": _idna_domain(email.email_to),
            "headers": email.headers,
            "body": email.body,
            "body_alternative": html2plaintext(email.body),
        }

    def _learn(self, email):
        """After Odoo built ``email``: learn the skeleton from the first
        message of the session, trust it once it writes the second one as
        Odoo did (else Odoo builds every message of the session)."""
        checked = self._checked
        if checked is None or checked.session is not self._session:
            self._skeleton = None
            if self._odoo_only is not self._session:
                self._checked = MessageSkeleton.learn(
                    self._last_message, self._session, email.headers
                )
            return
        self._checked = None
        written = checked.envelope(self._write_args(email))
        if written is None:
            return  # this e-mail has other headers: learn again
        if _same_message(written, email.envelope):
            self._skeleton = checked
        else:
            # e.g. an override of build_email that changes more per recipient
            self._odoo_only = self._session
            _logger.info(
                "Odoo builds every message of this session: a skeleton of the "
                "first message does not write the second as Odoo does"
            )

    def _odoo_envelope(self, email):
        """``email``'s envelope, the message built by Odoo itself."""
        message = self.mail_server.build_email(
            email_from=self.email_from,
            email_to=[_idna_domain(email.email_to)],
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
        self._last_message = (smtp_from, message)
        return _envelope(smtp_from, smtp_to_list, message)

    def hand_over(self, email):
        """Send ``email``'s message up to its last line, without waiting for
        the server's answer (``finish``). What smtplib's ``sendmail`` does,
        in two halves; errors as Odoo's ``send_email`` raises them."""
        smtp = self.session()
        smtp_from, smtp_to_list, data, options = email.envelope
        try:
            smtp.ehlo_or_helo_if_needed()
            if "SMTPUTF8" in options and not smtp.has_extn("smtputf8"):
                if not smtp_from.isascii():
                    raise TemporaryDeliveryFailure(
                        "SMTPUTF8 needed for the sender",
                        reason=_lt(
                            "The sender address %(sender)s has characters other "
                            "than ASCII before the @, and the mail server "
                            "%(server)s does not accept such addresses (it does "
                            "not offer SMTPUTF8). Stop sending and choose a "
                            "sender address in plain ASCII, or send through a "
                            "mail server that offers SMTPUTF8; sending is tried "
                            "again later.",
                            sender=smtp_from,
                            server=self.server_label(),
                        ),
                    )
                raise AddressNotSupported(
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
        except TemporaryDeliveryFailure:
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
                with smtp_timeout(self.timeout()):
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
                    ),
                    reason=self._connect_problem(error),
                ) from error
            self._connected = True
        return self._session

    def timeout(self):
        """Seconds any socket operation may wait (setting
        ``smtp_timeout_seconds``, default Odoo's ``SMTP_TIMEOUT``, at most
        an hour)."""
        return setting(
            self.env,
            "smtp_timeout_seconds",
            float(ir_mail_server.SMTP_TIMEOUT),
            float,
            minimum=0.1,
            maximum=MAX_SMTP_TIMEOUT,
        )

    def server_label(self):
        """The mail server as an administrator finds it: the name of the
        outgoing mail server, or the option of Odoo's configuration file.
        Never its host or port: the reasons that name it are read by every
        user who may read the correspondence, and only administrators may
        read the mail servers' settings."""
        server = self.env["ir.mail_server"].sudo().browse(self.mail_server_id)
        if server.exists():
            return f"'{server.name}'"
        return "'smtp_server'"

    def _connect_problem(self, error):
        """Why the connection could not be opened, and the fix, for the
        administrator (a lazy translation)."""
        server = self.server_label()
        if isinstance(error, smtplib.SMTPAuthenticationError):
            return _lt(
                "The mail server %(server)s refused the login: %(answer)s. Check "
                "the user name and password of this outgoing mail server "
                "(Settings > Technical > Outgoing Mail Servers); sending is "
                "tried again later.",
                server=server,
                answer=f"{error.smtp_code} {_decode(error.smtp_error)}",
            )
        if isinstance(error, smtplib.SMTPNotSupportedError):
            if "STARTTLS" in str(error).upper():
                return _lt(
                    "The mail server %(server)s does not offer an encrypted "
                    "connection (STARTTLS), but this outgoing mail server is set "
                    "to use one; nothing was sent without it. Check its port and "
                    "connection encryption (Settings > Technical > Outgoing Mail "
                    "Servers) or ask the mail provider to enable STARTTLS; "
                    "sending is tried again later.",
                    server=server,
                )
            if "AUTH" in str(error).upper():
                return _lt(
                    "The mail server %(server)s does not offer a login (SMTP "
                    "AUTH), but this outgoing mail server has a user name. Check "
                    "its port and connection encryption (many servers offer the "
                    "login only over TLS), or remove the user name (Settings > "
                    "Technical > Outgoing Mail Servers); sending is tried again "
                    "later.",
                    server=server,
                )
        if timed_out(error):
            return self._timeout_problem(error)
        return _lt(
            "Cannot connect to the mail server %(server)s: %(error)s. Check the "
            "host, port and connection encryption of the outgoing mail server "
            "(Settings > Technical > Outgoing Mail Servers); sending is tried "
            "again later.",
            server=server,
            error=str(error) or error.__class__.__name__,
        )

    def _timeout_problem(self, error):
        return _lt(
            "The mail server %(server)s did not answer within %(seconds)s "
            "seconds (%(error)s). Sending is tried again later; nothing was "
            "lost. If this keeps happening, check the host and port of the "
            "outgoing mail server, or raise the system parameter "
            "serial_correspondence.smtp_timeout_seconds.",
            server=self.server_label(),
            seconds=f"{self.timeout():g}",
            error=str(error) or error.__class__.__name__,
        )

    def connection_lost(self, error):
        """The failure to wait on when the connection broke before the
        message was complete (the server cannot have taken it)."""
        if timed_out(error):
            reason = self._timeout_problem(error)
        else:
            reason = _lt(
                "The connection to the mail server %(server)s was lost before "
                "an e-mail was complete (%(error)s); nothing was lost, sending "
                "is tried again later.",
                server=self.server_label(),
                error=str(error),
            )
        return TemporaryDeliveryFailure(
            self.env._("the connection was closed: %(error)s", error=error),
            reason=reason,
        )

    def answer_lost(self, error):
        """The failure to wait on when the whole message was sent and the
        connection broke (or timed out) before the server's answer."""
        return TemporaryDeliveryFailure(
            self.env._("no answer after the message: %(error)s", error=error),
            reason=_lt(
                "The mail server %(server)s did not confirm an e-mail that was "
                "handed over completely (%(error)s). Whether it was delivered is "
                "unknown, so it is not sent again (see the recipient with "
                "'Delivery unknown'). Sending to the others is tried again "
                "later; if this keeps happening, check the mail server or raise "
                "the system parameter serial_correspondence.smtp_timeout_seconds.",
                server=self.server_label(),
                error=str(error),
            ),
        )

    def configuration_problem(self, error):
        """For a refusal (``MailDeliveryException``) that no recipient can
        help: the sender refused, or a login wanted or refused. What to tell
        the administrator (a lazy translation), else None."""
        cause = error.__cause__ or error.__context__
        code, answer = smtp_answer(error)
        if code in LOGIN_CODES:
            return _lt(
                "The mail server %(server)s requires a login it has not got: "
                "%(answer)s. Enter or correct the user name and password of this "
                "outgoing mail server (Settings > Technical > Outgoing Mail "
                "Servers); sending is tried again later.",
                server=self.server_label(),
                answer=answer,
            )
        # a temporary refusal of MAIL FROM (421, 451: greylisting, overload)
        # is just that
        if isinstance(cause, smtplib.SMTPSenderRefused) and code and code >= 500:
            return _lt(
                "The mail server %(server)s refused to take e-mails from "
                "%(sender)s: %(answer)s. Use a sender address this mail server "
                "may send for, or check the server's answer and the outgoing mail "
                "server's settings (Settings > Technical > Outgoing Mail "
                "Servers); sending is tried again later.",
                server=self.server_label(),
                sender=_decode(cause.sender),
                answer=answer,
            )
        return None

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


def _idna_domain(formatted):
    """``formatted`` (``Name <local@domain>``) with the domain of its
    address in IDNA ("punycode", as in the envelope): Python's e-mail
    package would otherwise write a non-ASCII domain of the To header as an
    encoded-word, which is no address at all. A non-ASCII local part stays
    (it needs SMTPUTF8, and then the header is sent in UTF-8)."""
    name, address = parseaddr(formatted)
    local, at, domain = address.rpartition("@")
    if not at or domain.isascii():
        return formatted
    try:
        domain = idna.encode(domain).decode("ascii")
    except (idna.IDNAError, UnicodeError):
        return formatted
    return formataddr((name, f"{local}@{domain}"))


def timed_out(error):
    """Whether ``error`` (or what caused it) is a socket timeout."""
    seen = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        if isinstance(error, TimeoutError) or "timed out" in str(error):
            return True
        error = error.__cause__ or error.__context__
    return False


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


# the headers Odoo's ``build_email`` sets from its arguments per recipient
# (the e-mail's own headers come on top); every other header is the same in
# every message of a session
PER_EMAIL_HEADERS = ("message-id", "subject", "to", "date")
# a multipart boundary as Python's e-mail package makes it: the placeholders
# of the skeleton have the same length and characters, so they fold alike
BOUNDARY_FORMAT = "===============%019d=="
BOUNDARY = re.compile(rb"={15}\d{19}==(?:\.\d+)?")
DATE_LINE = re.compile(rb"(?m)^Date: [^\r\n]*\r\n")


class MessageSkeleton:
    """What stays the same in every message of a session, learnt from one
    message built by Odoo; writes the message of another recipient.

    The message must have the shape Odoo's ``build_email`` gives an HTML
    body with its text version: a multipart/alternative of a text/plain and
    a text/html part, alone or first in a multipart/mixed whose other parts
    are the attachments. Each header and part is kept as the envelope's
    generator (``_envelope``) would write it; per recipient, the headers
    of ``PER_EMAIL_HEADERS`` and the e-mail's own headers are made as
    ``build_email`` makes them (``header_store_parse`` of the message's
    policy), folded as the generator folds them, and both bodies encoded as
    ``set_content`` encodes them."""

    def __init__(self, session, smtp_from, policy, root, extra_headers):
        self.session = session
        self.smtp_from = smtp_from
        self.policy = policy
        self.root = root
        self.extra_headers = extra_headers
        # the constant headers and parts, folded once per envelope policy
        self._folded = {}
        # (policy, second, the Date line) of the last message
        self._date_line = (None, None, b"")

    @classmethod
    def learn(cls, last_message, session, extra_headers):
        """The skeleton of ``last_message`` (``(smtp_from, message)``, as
        ``_prepare_email_message`` returned them), or None if the message
        has another shape."""
        if last_message is None:
            return None
        smtp_from, message = last_message
        if message.get_content_type() == "multipart/mixed":
            parts = message.get_payload()
            if not parts or any(part.is_multipart() for part in parts[1:]):
                return None
            alternative = parts[0]
            children = [("alternative", alternative), *(("part", p) for p in parts[1:])]
        else:
            alternative = message
            children = None
        texts = alternative.get_payload() if alternative.is_multipart() else []
        if alternative.get_content_type() != "multipart/alternative" or [
            part.get_content_type() for part in texts
        ] != ["text/plain", "text/html"]:
            return None
        extra = tuple(extra_headers)
        dynamic = set(PER_EMAIL_HEADERS) | {name.lower() for name in extra}

        def headers(part, per_email=()):
            return [
                (name, None if name.lower() in per_email else value)
                for name, value in part.raw_items()
                if name.lower() != "bcc"
            ]

        def multipart(part, number, parts, per_email=()):
            placeholder = BOUNDARY_FORMAT % number
            part = copy.copy(part)
            part.set_boundary(placeholder)
            return ("multipart", headers(part, per_email), placeholder, parts)

        text_parts = [
            ("text", headers(part, ("content-transfer-encoding",)), subtype)
            for part, subtype in zip(texts, ("body_alternative", "body"), strict=True)
        ]
        if children is None:
            root = multipart(message, 1, text_parts, dynamic)
        else:
            root = multipart(
                message,
                1,
                [
                    multipart(alternative, 2, text_parts)
                    if kind == "alternative"
                    else ("part", part)
                    for kind, part in children
                ],
                dynamic,
            )
        return cls(session, smtp_from, message.policy, root, extra)

    def envelope(self, values):
        """``(from, to_list, bytes, mail options)`` of the message with
        ``values`` (``SmtpDelivery._write_args``), as ``_envelope`` gives
        Odoo's; None if the e-mail's own headers differ from the learnt
        ones (then Odoo builds it)."""
        if tuple(values["headers"]) != self.extra_headers:
            return None
        store = self.policy.header_store_parse
        per_email = {
            "message-id": store("Message-Id", values["message_id"])[1],
            "subject": store("Subject", values["subject"])[1],
            "to": store("To", [values["to"]])[1],
            # to the second, as the Date header gives it
            "date": datetime.datetime.utcnow().replace(microsecond=0),
        }
        for name, value in values["headers"].items():
            per_email[name.lower()] = store(name, value)[1]
        # as _prepare_email_message reads the recipients from the To header
        smtp_to_list = [
            address
            for address in unique(extract_rfc2822_addresses(str(per_email["to"])))
            if address
        ]
        if not smtp_to_list:
            return None
        options = []
        utf8 = not "".join([self.smtp_from, *smtp_to_list]).isascii()
        if utf8:
            options = ["SMTPUTF8", "BODY=8BITMIME"]
        policy, folded = self._envelope_policy(utf8)
        data = self._write(self.root, values, per_email, policy, folded)
        return self.smtp_from, smtp_to_list, data, options

    def _envelope_policy(self, utf8):
        """The policy ``_envelope`` flattens with, and the cache of what is
        folded with it."""
        if utf8 not in self._folded:
            policy = self.policy.clone(max_line_length=998)
            if utf8:
                policy = policy.clone(utf8=True)
            self._folded[utf8] = (policy, {})
        return self._folded[utf8]

    def _write(self, node, values, per_email, policy, folded):
        kind = node[0]
        if kind == "part":
            # an attachment: the same bytes in every message
            key = id(node)
            if key not in folded:
                with io.BytesIO() as buffer:
                    BytesGenerator(buffer, policy=policy).flatten(
                        node[1], linesep="\r\n"
                    )
                    folded[key] = buffer.getvalue()
            return folded[key]
        if kind == "text":
            # as set_content and the generator write it: the encoding
            # chosen by the same function of the e-mail package
            cte, payload = _encode_text(values[node[2]], "utf-8", None, self.policy)
            key = (id(node), cte)
            if key not in folded:
                encoding = self.policy.header_store_parse(
                    "Content-Transfer-Encoding", cte
                )[1]
                folded[key] = self._headers(
                    node[1], {"content-transfer-encoding": encoding}, policy, folded
                )
            header = folded[key]
            body = NLCRE.sub("\r\n", payload).encode("ascii", "surrogateescape")
            return header + b"\r\n" + body
        _kind, headers, placeholder, children = node
        parts = [
            self._write(child, values, per_email, policy, folded) for child in children
        ]
        boundary = _boundary(parts)
        header = self._headers(headers, per_email, policy, folded).replace(
            placeholder.encode("ascii"), boundary
        )
        delimiter = b"\r\n--" + boundary + b"\r\n"
        return b"".join(
            [
                header,
                b"\r\n--",
                boundary,
                b"\r\n",
                delimiter.join(parts),
                b"\r\n--",
                boundary,
                b"--\r\n",
            ]
        )

    def _headers(self, headers, per_email, policy, folded):
        """The header lines of ``headers`` (constant ones folded once per
        policy, the others from ``per_email``)."""
        lines = []
        for name, value in headers:
            if value is None:
                value = per_email[name.lower()]
                if isinstance(value, datetime.datetime):
                    # the same line for every message of the same second
                    if self._date_line[:2] != (policy, value):
                        date = self.policy.header_store_parse(name, value)[1]
                        line = policy.fold_binary(name, date)
                        self._date_line = (policy, value, line)
                    lines.append(self._date_line[2])
                    continue
                lines.append(policy.fold_binary(name, value))
                continue
            key = id(value)
            if key not in folded:
                folded[key] = policy.fold_binary(name, value)
            lines.append(folded[key])
        return b"".join(lines)


def _boundary(parts):
    """A random boundary as the e-mail package makes it, that appears in
    none of ``parts``."""
    while True:
        boundary = (BOUNDARY_FORMAT % random.randrange(sys.maxsize)).encode("ascii")
        if not any(b"--" + boundary in part for part in parts):
            return boundary


def _same_message(written, built):
    """Whether the envelopes ``written`` (by a skeleton) and ``built`` (by
    Odoo) carry the same message: the same bytes but the random boundaries
    and the date (the second may have turned)."""

    def normal(envelope):
        smtp_from, smtp_to_list, data, options = envelope
        data = DATE_LINE.sub(b"", BOUNDARY.sub(b"=", data))
        return smtp_from, smtp_to_list, data, options

    return normal(written) == normal(built)


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


_RUN_TIMEOUT = contextvars.ContextVar(
    "serial_correspondence_smtp_timeout", default=None
)


@contextlib.contextmanager
def smtp_timeout(seconds):
    """Inside this block, a connection Odoo opens waits at most ``seconds``
    for each socket operation (instead of its ``SMTP_TIMEOUT``)."""
    token = _RUN_TIMEOUT.set(seconds)
    try:
        yield
    finally:
        _RUN_TIMEOUT.reset(token)


class _TimedSMTPConnection(ir_mail_server.SMTPConnection):
    """Odoo's ``SMTPConnection`` with the timeout of ``smtp_timeout`` (the
    one of a send run), else Odoo's own: the same connection otherwise."""

    def __init__(self, server, port, encryption, context=None):
        timeout = _RUN_TIMEOUT.get()
        if timeout is None:
            super().__init__(server, port, encryption, context=context)
        elif encryption == "ssl":
            self.__obj__ = smtplib.SMTP_SSL(
                server, port, timeout=timeout, context=context
            )
        else:
            self.__obj__ = smtplib.SMTP(server, port, timeout=timeout)


# ``ir.mail_server.connect`` builds the class found under this name in its
# module: ours, whose only difference is the timeout chosen above
if not issubclass(ir_mail_server.SMTPConnection, _TimedSMTPConnection):
    ir_mail_server.SMTPConnection = _TimedSMTPConnection


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
