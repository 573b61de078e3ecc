# Copyright 2026 serial_correspondence authors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""What a bounce says: the delivery status notification, read.

Odoo's mail gateway decides *that* an incoming message is a bounce and which
e-mail it is about (``mail.thread._message_parse_extract_bounce``: the
Message-Id in the returned headers). This module reads *what* it says, from
the ``message/delivery-status`` part of an RFC 3464 report (Postfix, Exim,
Exchange, Gmail and most servers send one), else from the text of the
notification (older servers, qmail):

- ``Action: failed``: the e-mail was not delivered and will not be. Its
  ``Status`` class says why: ``5.x.x`` for good (hard bounce: no such
  mailbox, refused), ``4.x.x`` a temporary cause the server gave up on
  (soft bounce: mailbox full, expired).
- ``Action: delayed``: not delivered yet, the server keeps trying (always a
  soft bounce): a warning, not a failure.
- ``delivered``, ``relayed``, ``expanded``: not a bounce at all.

The answer kept for the user is the server's own (``Diagnostic-Code`` without
its type, e.g. ``550 5.1.1 User unknown``), else the status, else the first
lines of the notification's text. No database, no model: unit-tested with
real reports in ``tests/test_bounces.py``.
"""

import dataclasses
import re

from odoo.tools import html2plaintext

FAILED = "failed"
DELAYED = "delayed"
# actions of a report that is no bounce (RFC 3464, 2.3.3)
NOT_BOUNCES = frozenset({"delivered", "relayed", "expanded"})
# RFC 3463 enhanced status codes, and the plain SMTP reply codes
ENHANCED_STATUS = re.compile(r"(?<![\d.])([245])\.(\d{1,3})\.(\d{1,3})(?![\d.])")
REPLY_CODE = re.compile(r"(?<![\d.])([45])\d\d(?![\d.])")
# the type in front of a diagnostic code: "smtp; 550 ...", "X-Postfix; ..."
DIAGNOSTIC_TYPE = re.compile(r"^\s*[\w.-]+\s*;\s*")
# notifications without a report that say the server keeps trying
DELAY_WORDS = re.compile(
    r"\b(delay(ed)?|still (being )?(re)?tr(y|ied|ying)|will (be )?retr(y|ied)|"
    r"not (yet )?been delivered|verz.gert)\b",
    re.IGNORECASE,
)
# how much of the server's answer is kept
MAX_ANSWER = 500


@dataclasses.dataclass(frozen=True)
class DeliveryReport:
    """What a bounce says about the e-mail it returns."""

    action: str  # "failed", "delayed", or an action that is no bounce
    status: str  # the enhanced status code, e.g. "5.1.1", or ""
    answer: str  # the server's answer for people to read

    @property
    def is_bounce(self):
        return self.action not in NOT_BOUNCES

    @property
    def delayed(self):
        """Not delivered yet; the server keeps trying."""
        return self.action == DELAYED

    @property
    def bounce_type(self):
        """``hard`` (for good) or ``soft`` (a temporary cause)."""
        if self.delayed or self.status.startswith("4"):
            return "soft"
        return "hard"


def read_delivery_report(message):
    """The ``DeliveryReport`` of the bounce ``message`` (an
    ``email.message.Message``)."""
    text = _notification_text(message)
    fields = _recipient_fields(message)
    if fields is not None:
        action = fields.get("action", "").lower()
        diagnostic = DIAGNOSTIC_TYPE.sub("", fields.get("diagnostic-code", ""))
        status = _status(fields.get("status", "")) or _status_in(diagnostic)
        if not action:
            action = DELAYED if status.startswith("4") else FAILED
        answer = diagnostic or _status_answer(status, text)
        return DeliveryReport(action, status, _short(answer))
    # no report: what the text says
    subject = _one_line(str(message.get("Subject", "")))
    status = _status_in(text)
    delayed = DELAY_WORDS.search(subject) or DELAY_WORDS.search(text[:2000])
    return DeliveryReport(
        DELAYED if delayed and not status.startswith("5") else FAILED,
        status,
        _short(_server_line(text) or text or subject),
    )


def _recipient_fields(message):
    """The per-recipient fields of the report (lower-cased names), the
    first failed recipient first, else the first delayed, else the first
    one; None without a ``message/delivery-status`` part."""
    part = next(
        (
            part
            for part in message.walk()
            if part.get_content_type() == "message/delivery-status"
        ),
        None,
    )
    if part is None:
        return None
    payload = part.get_payload()
    blocks = payload[1:] if isinstance(payload, list) else []
    if not blocks:
        blocks = _blocks_of(payload if isinstance(payload, str) else "")[1:]
    recipients = []
    for block in blocks:
        if not isinstance(block, dict):
            block = {name.lower(): _one_line(value) for name, value in block.items()}
        if block:
            recipients.append(block)
    recipients = recipients or [{}]
    for wanted in (FAILED, DELAYED):
        for fields in recipients:
            if fields.get("action", "").lower() == wanted:
                return fields
    return recipients[0]


def _blocks_of(text):
    """A delivery-status body that was not parsed into blocks: its blocks
    of ``Name: value`` lines (continuation lines unfolded)."""
    blocks = []
    for chunk in re.split(r"\r?\n\s*\r?\n", text.strip()):
        fields = {}
        name = None
        for line in chunk.splitlines():
            if line[:1].isspace() and name:
                fields[name] += " " + line.strip()
            elif ":" in line:
                name, _sep, value = line.partition(":")
                name = name.strip().lower()
                fields[name] = value.strip()
        blocks.append(fields)
    return blocks


def _notification_text(message):
    """The text of the notification for people (not the returned e-mail)."""
    plain = html = None
    for part in _own_parts(message):
        content_type = part.get_content_type()
        if content_type == "text/plain" and plain is None:
            plain = _content(part)
        elif content_type == "text/html" and html is None:
            html = html2plaintext(_content(part))
    return (plain or html or "").strip()


def _own_parts(message):
    """The parts of ``message`` that are its own: not inside a returned
    e-mail (``message/*``, ``text/rfc822-headers``)."""
    if not message.is_multipart():
        yield message
        return
    for part in message.get_payload():
        content_type = part.get_content_type()
        if content_type.startswith("message/") or content_type == (
            "text/rfc822-headers"
        ):
            continue
        yield from _own_parts(part)


def _content(part):
    try:
        content = part.get_content()
    except (LookupError, KeyError, AttributeError):
        content = part.get_payload(decode=True) or b""
    if isinstance(content, bytes):
        content = content.decode(part.get_content_charset() or "utf-8", "replace")
    return content if isinstance(content, str) else ""


def _status(value):
    match = ENHANCED_STATUS.search(value or "")
    return ".".join(match.groups()) if match else ""


def _status_in(text):
    """The enhanced status code in ``text``, else one made from its SMTP
    reply code (``550`` -> ``5.0.0``), else ""."""
    status = _status(text)
    if not status and (match := REPLY_CODE.search(text or "")):
        status = f"{match.group(1)}.0.0"
    return status


def _status_answer(status, text):
    line = _server_line(text)
    if status and line:
        return line if status in line else f"{status} {line}"
    return status or line or text


def _server_line(text):
    """The sentence of the notification that quotes the server (the one
    with a reply or status code), else its first line with words."""
    lines = [line.strip() for line in (text or "").splitlines()]
    paragraphs = " ".join(line or "\n" for line in lines).split("\n")
    for paragraph in paragraphs:
        if ENHANCED_STATUS.search(paragraph) or REPLY_CODE.search(paragraph):
            return _one_line(paragraph)
    return next((_one_line(p) for p in paragraphs if p.strip()), "")


def _one_line(value):
    return " ".join(str(value or "").split())


def _short(text):
    text = _one_line(text)
    return text if len(text) <= MAX_ANSWER else text[: MAX_ANSWER - 1] + "…"
