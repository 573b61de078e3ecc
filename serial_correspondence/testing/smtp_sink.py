#!/usr/bin/env python3
# Copyright 2026 serial_correspondence authors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""A real SMTP server on loopback that keeps every message it receives.

Each delivery is stored as one ``.eml`` file per message *and recipient*
(``RCPT TO``), so counting the files counts the deliveries. The file holds
the message as received, preceded by ``Return-Path`` (envelope sender) and
``Delivered-To`` (envelope recipient). Files appear atomically: a reader
never sees half a message.

Only the standard library and aiosmtpd: it runs without Odoo.

As a script (the demo and manual tests)::

    python3 serial_correspondence/testing/smtp_sink.py
        [--host 127.0.0.1] [--port 2525] [--dir var/mail]
        [--refuse ADDR ...] [--clear] [--quiet]
        [--tempfail SECONDS [--tempfail-code 421|451]
                            [--tempfail-at mail|rcpt|data]]

``--dir`` defaults to ``var/mail`` in the current directory.

From Python (tests, the send benchmark)::

    from odoo.addons.serial_correspondence.testing import smtp_sink

    sink = smtp_sink.start("127.0.0.1", 2525, "/tmp/mail", refuse=["x@example.com"])
    ...
    sink.count(), sink.messages()
    sink.arrivals()         # [(time.time() of receipt, recipient)], oldest first
    sink.tempfail(5)        # answer 451 at RCPT TO for the next 5 seconds
    sink.refuse("y@example.com", at="data")  # from now on: 554 after DATA
    sink.accept("y@example.com")             # and accept it again
    sink.refuse_sender("z@example.com")      # 553 at MAIL FROM (accept undoes)
    sink.envelopes()        # what each accepted message came with (below)
    sink.stop()

    # a server without SMTPUTF8, and one that wants a login (530 without,
    # 535 for a wrong one)
    smtp_sink.start("127.0.0.1", 0, "/tmp/mail2", smtputf8=False)
    smtp_sink.start("127.0.0.1", 0, "/tmp/mail3", auth=("user", "password"))

A server that resets or stalls mid-message: ``testing/smtp_faults.py``.

In a process of its own (the send benchmark: the sink's work does not share
the measuring process's interpreter)::

    sink = smtp_sink.spawn("127.0.0.1", 2525, "/tmp/mail", logfile="/tmp/sink.log")
    sink.count(), sink.paths(), sink.clear()
    sink.stop()

Addresses given to ``refuse`` are rejected at ``RCPT TO`` with
``550 5.1.1`` (a permanent failure), as a real server does for an unknown
mailbox; messages to addresses given to ``refuse_data`` are rejected after
``DATA`` with ``554 5.6.0``, as a content filter does.

``tempfail(seconds, code=451, stage="rcpt")`` makes the sink refuse every
message *temporarily* for a while, as a greylisting or overloaded server
does: ``451 4.7.1`` (or ``421 4.7.0``, "closing channel", after which the
client drops the connection) at ``MAIL FROM``, ``RCPT TO`` or after ``DATA``;
nothing is stored meanwhile, and ``tempfailed`` counts the refusals. After
that time it accepts again.

``refuse(address, at="rcpt"|"data")`` and ``accept(address)`` change the
refused addresses of a running sink. ``envelopes()`` lists every accepted
message as the sink saw it on the wire: a :class:`Received` with the
envelope (``MAIL FROM`` and its options, the ``RCPT TO`` addresses), the
message bytes after the transparent dots were removed, and the client's
address and port (``peer``: one per connection).
"""

import argparse
import dataclasses
import email.parser
import email.policy
import itertools
import os
import re
import signal
import smtplib
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 2525
DEFAULT_DIRECTORY = Path("var") / "mail"


def _bare_address(address):
    """``Anna <anna@example.com>``, ``<ANNA@example.com>`` -> ``anna@example.com``"""
    address = address.strip()
    match = re.search(r"<([^>]*)>", address)
    return (match.group(1) if match else address).strip().lower()


@dataclasses.dataclass(frozen=True)
class Received:
    """One accepted message, as the sink saw it (``envelopes()``)."""

    mail_from: str
    rcpt_tos: tuple
    mail_options: tuple
    content: bytes
    peer: tuple
    received_at: float


class SinkHandler:
    """aiosmtpd handler: refuses some recipients, stores the rest."""

    def __init__(self, directory, refuse=(), log=None, refuse_data=()):
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.refuse = {_bare_address(address) for address in refuse}
        self.refuse_data = {_bare_address(address) for address in refuse_data}
        self.log = log
        self._sequence = itertools.count(1)
        self._lock = threading.Lock()
        # [(time.time() when stored, envelope recipient)]
        self.arrivals = []
        # temporary refusals: until when (time.time()), which code, where
        self.tempfail_until = 0.0
        self.tempfail_code = 451
        self.tempfail_stage = "rcpt"
        self.tempfailed = 0
        # [Received] of every accepted message, oldest first
        self.received = []
        # a login before MAIL FROM (``start(auth=...)``)
        self.auth_required = False
        # senders refused at MAIL FROM (``refuse_sender``)
        self.refuse_senders = set()

    def _tempfail_answer(self, stage, what):
        """The temporary refusal to give at ``stage`` now, or None."""
        if stage != self.tempfail_stage or time.time() >= self.tempfail_until:
            return None
        with self._lock:
            self.tempfailed += 1
        self._say(
            f"{time.strftime('%H:%M:%S')} temporarily refused {what} "
            f"({self.tempfail_code} at {stage})"
        )
        if self.tempfail_code == 421:
            return "421 4.7.0 serial_correspondence SMTP sink: try again later, closing"
        return f"{self.tempfail_code} 4.7.1 {what}: try again later (SMTP sink)"

    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        if self.auth_required and not session.authenticated:
            return "530 5.7.0 Authentication required"
        if _bare_address(address) in self.refuse_senders:
            self._say(f"{time.strftime('%H:%M:%S')} refused from=<{address}>")
            return f"553 5.7.1 <{address}>: sender refused by the SMTP sink"
        answer = self._tempfail_answer("mail", f"from=<{address}>")
        if answer:
            return answer
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    def _say(self, line):
        if self.log:
            self.log(line)

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if _bare_address(address) in self.refuse:
            self._say(f"{time.strftime('%H:%M:%S')} refused to=<{address}>")
            return f"550 5.1.1 <{address}>: recipient refused by the SMTP sink"
        answer = self._tempfail_answer("rcpt", f"<{address}>")
        if answer:
            return answer
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        answer = self._tempfail_answer("data", "message")
        if answer:
            return answer
        refused = [
            address
            for address in envelope.rcpt_tos
            if _bare_address(address) in self.refuse_data
        ]
        if refused:
            self._say(f"{time.strftime('%H:%M:%S')} refused the message to {refused}")
            return "554 5.6.0 message refused by the SMTP sink"
        content = envelope.original_content or envelope.content
        if isinstance(content, str):
            content = content.encode("utf-8", "surrogateescape")
        newline = b"\r\n" if b"\r\n" in content[:2000] else b"\n"
        headers = email.parser.BytesHeaderParser(
            policy=email.policy.default
        ).parsebytes(content)
        subject = str(headers.get("Subject", ""))
        mail_from = envelope.mail_from or ""
        with self._lock:
            self.received.append(
                Received(
                    mail_from=mail_from,
                    rcpt_tos=tuple(envelope.rcpt_tos),
                    mail_options=tuple(envelope.mail_options),
                    content=content,
                    peer=tuple(session.peer or ()),
                    received_at=time.time(),
                )
            )
        for rcpt in envelope.rcpt_tos:
            prefix = (
                f"Return-Path: <{mail_from}>".encode()
                + newline
                + f"Delivered-To: {rcpt}".encode()
                + newline
            )
            path = self._store(rcpt, prefix + content)
            self._say(
                f"{time.strftime('%H:%M:%S')} delivered from=<{mail_from}> "
                f"to=<{rcpt}> subject={subject!r} file={path}"
            )
        return "250 Message accepted for delivery"

    def _store(self, rcpt, data):
        with self._lock:
            sequence = next(self._sequence)
        safe_rcpt = re.sub(r"[^A-Za-z0-9@._+-]", "_", _bare_address(rcpt))[:100]
        name = (
            f"{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}-{sequence:06d}-"
            f"{safe_rcpt}.eml"
        )
        path = self.directory / name
        temporary = self.directory / f".{name}.tmp"
        temporary.write_bytes(data)
        os.replace(temporary, path)
        with self._lock:
            self.arrivals.append((time.time(), _bare_address(rcpt)))
        return path


class _Authenticator:
    """aiosmtpd authenticator accepting one user and password."""

    def __init__(self, user, password):
        self.user = user.encode()
        self.password = password.encode()
        self.refused = 0

    def __call__(self, server, session, envelope, mechanism, auth_data):
        login = getattr(auth_data, "login", None)
        password = getattr(auth_data, "password", None)
        if (login, password) == (self.user, self.password):
            return AuthResult(success=True)
        self.refused += 1
        return AuthResult(success=False, handled=False)


class MailDirectory:
    """The deliveries a sink stored in ``self.directory``."""

    directory: Path

    def paths(self):
        """The stored deliveries, oldest first."""
        return sorted(self.directory.glob("*.eml"))

    def count(self):
        with os.scandir(self.directory) as entries:
            return sum(
                1
                for entry in entries
                if entry.name.endswith(".eml") and not entry.name.startswith(".")
            )

    def messages(self):
        """The stored deliveries as ``email.message.EmailMessage``, oldest first."""
        parser = email.parser.BytesParser(policy=email.policy.default)
        return [parser.parsebytes(path.read_bytes()) for path in self.paths()]


class SinkController(MailDirectory, Controller):
    """A running sink; ``stop()`` ends it."""

    def __init__(self, handler, host, port, smtputf8=True, auth=None):
        options = {}
        if auth:
            # a login offered without TLS, and required (530 without it) by
            # the handler: aiosmtpd's own ``auth_required`` warns without TLS
            options = {
                "auth_require_tls": False,
                "authenticator": _Authenticator(*auth),
            }
            handler.auth_required = True
        super().__init__(
            handler,
            hostname=host,
            port=port,
            enable_SMTPUTF8=smtputf8,
            decode_data=False,
            ident="serial_correspondence SMTP sink",
            **options,
        )
        self.host = host
        self.directory = handler.directory

    def clear(self):
        for path in self.paths():
            path.unlink(missing_ok=True)
        with self.handler._lock:
            self.handler.arrivals.clear()
            self.handler.received.clear()

    def arrivals(self):
        """``[(time.time() when stored, recipient address)]`` of the
        deliveries since the sink started (or was cleared), oldest first."""
        with self.handler._lock:
            return sorted(self.handler.arrivals)

    def tempfail(self, seconds, code=451, stage="rcpt"):
        """Refuse every message temporarily for ``seconds`` from now: answer
        ``code`` (451, or 421 which closes the channel) at ``stage``
        ("mail", "rcpt" or "data"). ``tempfail(0)`` accepts again at once."""
        if stage not in ("mail", "rcpt", "data") or code // 100 != 4:
            raise ValueError(f"cannot refuse temporarily with {code} at {stage}")
        handler = self.handler
        handler.tempfail_code = code
        handler.tempfail_stage = stage
        # accepting again holds whatever the clock says (a test may freeze it)
        handler.tempfail_until = time.time() + seconds if seconds > 0 else 0.0

    @property
    def tempfailed(self):
        """How many temporary refusals the sink gave."""
        return self.handler.tempfailed

    def refuse(self, address, at="rcpt"):
        """From now on refuse ``address`` for good: ``550 5.1.1`` at
        ``RCPT TO`` (``at="rcpt"``) or messages to it with ``554 5.6.0``
        after ``DATA`` (``at="data"``)."""
        if at not in ("rcpt", "data"):
            raise ValueError(f"cannot refuse at {at}")
        refused = self.handler.refuse if at == "rcpt" else self.handler.refuse_data
        refused.add(_bare_address(address))

    def accept(self, address):
        """Accept ``address`` again (undo ``refuse`` and ``refuse_sender``)."""
        self.handler.refuse.discard(_bare_address(address))
        self.handler.refuse_data.discard(_bare_address(address))
        self.handler.refuse_senders.discard(_bare_address(address))

    def refuse_sender(self, address):
        """From now on refuse messages from ``address`` for good:
        ``553 5.7.1`` at ``MAIL FROM``."""
        self.handler.refuse_senders.add(_bare_address(address))

    def envelopes(self):
        """The accepted messages since the sink started (or was cleared), as
        :class:`Received`, oldest first."""
        with self.handler._lock:
            return list(self.handler.received)


def free_port(host=DEFAULT_HOST):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]


def start(
    host=DEFAULT_HOST,
    port=DEFAULT_PORT,
    directory=DEFAULT_DIRECTORY,
    refuse=(),
    log=None,
    refuse_data=(),
    smtputf8=True,
    auth=None,
):
    """Start a sink in a background thread and return its controller.

    ``port=0`` picks a free port (read it back from ``controller.port``).
    ``log`` is called with one line per message (e.g. ``print``).
    ``smtputf8=False``: a server without SMTPUTF8 (internationalised
    addresses are refused). ``auth=(user, password)``: a server that wants
    that login (``AUTH PLAIN``/``LOGIN`` without TLS): a wrong one is
    refused with ``535``, a message without one with ``530``.
    """
    if not port:
        port = free_port(host)
    controller = SinkController(
        SinkHandler(directory, refuse, log, refuse_data),
        host,
        port,
        smtputf8=smtputf8,
        auth=auth,
    )
    try:
        controller.start()
    except BaseException:
        if not controller.loop.is_closed():
            controller.loop.close()
        raise
    return controller


class SinkProcess(MailDirectory):
    """A sink running as this file in a process of its own (:func:`spawn`)."""

    def __init__(self, host, port, directory, logfile, timeout=30):
        self.host = host
        self.port = port
        self.directory = Path(directory)
        self.logfile = Path(logfile)
        with open(self.logfile, "w") as out:
            self.process = subprocess.Popen(
                [
                    sys.executable,
                    str(Path(__file__).resolve()),
                    *("--host", host, "--port", str(port)),
                    *("--dir", str(self.directory), "--clear", "--quiet"),
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"the SMTP sink exited; see {self.logfile}")
            try:
                with smtplib.SMTP(host, port, timeout=2) as probe:
                    probe.noop()
                return
            except OSError:
                if time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(
                        f"the SMTP sink did not answer; see {self.logfile}"
                    ) from None
                time.sleep(0.2)

    def clear(self):
        for path in self.directory.iterdir():
            path.unlink(missing_ok=True)

    def stop(self):
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def spawn(
    host=DEFAULT_HOST, port=DEFAULT_PORT, directory=DEFAULT_DIRECTORY, logfile=None
):
    """Start a sink in a process of its own (no line per message); return a
    :class:`SinkProcess` once it answers. Its output goes to ``logfile``
    (default: ``smtp_sink.log`` next to ``directory``)."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    logfile = logfile or directory.parent / "smtp_sink.log"
    return SinkProcess(host, port, directory, logfile)


def main(argv=None):
    parser = argparse.ArgumentParser(
        description="SMTP server on loopback that stores every delivery as a "
        ".eml file (one file per message and recipient)."
    )
    parser.add_argument("--host", default=DEFAULT_HOST, help="default: %(default)s")
    parser.add_argument(
        "--port", type=int, default=DEFAULT_PORT, help="default: %(default)s"
    )
    parser.add_argument(
        "--dir",
        dest="directory",
        default=str(DEFAULT_DIRECTORY),
        help="where the .eml files go (default: %(default)s)",
    )
    parser.add_argument(
        "--refuse",
        action="append",
        default=[],
        metavar="ADDR",
        help="reject this recipient with 550 (may be given several times)",
    )
    parser.add_argument(
        "--refuse-data",
        action="append",
        default=[],
        metavar="ADDR",
        help="reject messages to this recipient with 554 after DATA "
        "(may be given several times)",
    )
    parser.add_argument(
        "--clear", action="store_true", help="delete the stored .eml files first"
    )
    parser.add_argument(
        "--quiet", action="store_true", help="no line per message on stdout"
    )
    parser.add_argument(
        "--tempfail",
        type=float,
        default=0,
        metavar="SECONDS",
        help="refuse every message temporarily for the first SECONDS "
        "(then accept), like a greylisting server",
    )
    parser.add_argument(
        "--tempfail-code",
        type=int,
        choices=(421, 450, 451, 452),
        default=451,
        help="the temporary refusal (default: %(default)s)",
    )
    parser.add_argument(
        "--tempfail-at",
        choices=("mail", "rcpt", "data"),
        default="rcpt",
        help="where to refuse: MAIL FROM, RCPT TO or after DATA (default: %(default)s)",
    )
    args = parser.parse_args(argv)

    def say(line):
        # a line per event on stdout, at once (the demo's log follows it)
        sys.stdout.write(f"{line}\n")
        sys.stdout.flush()

    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, lambda *_: stop.set())

    try:
        controller = start(
            args.host,
            args.port,
            args.directory,
            args.refuse,
            None if args.quiet else say,
            args.refuse_data,
        )
    except (OSError, RuntimeError) as error:
        sys.stderr.write(
            f"smtp_sink: cannot listen on {args.host}:{args.port}: {error}\n"
        )
        return 1
    if args.clear:
        controller.clear()
    if args.tempfail > 0:
        controller.tempfail(args.tempfail, args.tempfail_code, args.tempfail_at)
        say(
            f"smtp_sink: refusing with {args.tempfail_code} at {args.tempfail_at} "
            f"for {args.tempfail:g}s"
        )
    refusing = ", ".join(sorted(controller.handler.refuse))
    say(
        f"smtp_sink: listening on {args.host}:{args.port}, storing mail in "
        f"{controller.directory}" + (f", refusing {refusing}" if refusing else "")
    )
    try:
        while not stop.wait(1):
            pass
    finally:
        controller.stop()
        say(f"smtp_sink: stopped ({controller.count()} deliveries stored)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
