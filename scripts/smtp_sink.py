#!/usr/bin/env python3
# Copyright 2026 serial_correspondence authors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""A real SMTP server on loopback that keeps every message it receives.

Each delivery is stored as one ``.eml`` file per message *and recipient*
(``RCPT TO``), so counting the files counts the deliveries. The file holds
the message as received, preceded by ``Return-Path`` (envelope sender) and
``Delivered-To`` (envelope recipient). Files appear atomically: a reader
never sees half a message.

As a script (the demo and manual tests)::

    scripts/smtp_sink.py [--host 127.0.0.1] [--port 2525] [--dir var/mail]
                         [--refuse ADDR ...] [--clear]

From Python (tests)::

    sink = smtp_sink.start("127.0.0.1", 2525, "/tmp/mail", refuse=["x@example.com"])
    ...
    sink.count(), sink.messages()
    sink.stop()

Addresses given to ``refuse`` are rejected at ``RCPT TO`` with
``550 5.1.1`` (a permanent failure), as a real server does for an unknown
mailbox.
"""

import argparse
import email.parser
import email.policy
import itertools
import os
import re
import signal
import socket
import sys
import threading
import time
from pathlib import Path

from aiosmtpd.controller import Controller

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 2525
DEFAULT_DIRECTORY = Path(__file__).resolve().parent.parent / "var" / "mail"


def _bare_address(address):
    """``Anna <anna@example.com>``, ``<ANNA@example.com>`` -> ``anna@example.com``"""
    address = address.strip()
    match = re.search(r"<([^>]*)>", address)
    return (match.group(1) if match else address).strip().lower()


class SinkHandler:
    """aiosmtpd handler: refuses some recipients, stores the rest."""

    def __init__(self, directory, refuse=(), log=None):
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.refuse = {_bare_address(address) for address in refuse}
        self.log = log
        self._sequence = itertools.count(1)
        self._lock = threading.Lock()

    def _say(self, line):
        if self.log:
            self.log(line)

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if _bare_address(address) in self.refuse:
            self._say(f"{time.strftime('%H:%M:%S')} refused to=<{address}>")
            return f"550 5.1.1 <{address}>: recipient refused by the SMTP sink"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        content = envelope.original_content or envelope.content
        if isinstance(content, str):
            content = content.encode("utf-8", "surrogateescape")
        newline = b"\r\n" if b"\r\n" in content[:2000] else b"\n"
        headers = email.parser.BytesHeaderParser(
            policy=email.policy.default
        ).parsebytes(content)
        subject = str(headers.get("Subject", ""))
        mail_from = envelope.mail_from or ""
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
        return path


class SinkController(Controller):
    """A running sink; ``stop()`` ends it."""

    def __init__(self, handler, host, port):
        super().__init__(
            handler,
            hostname=host,
            port=port,
            enable_SMTPUTF8=True,
            decode_data=False,
            ident="serial_correspondence SMTP sink",
        )
        self.host = host
        self.directory = handler.directory

    def paths(self):
        """The stored deliveries, oldest first."""
        return sorted(self.directory.glob("*.eml"))

    def count(self):
        return len(self.paths())

    def messages(self):
        """The stored deliveries as ``email.message.EmailMessage``, oldest first."""
        parser = email.parser.BytesParser(policy=email.policy.default)
        return [parser.parsebytes(path.read_bytes()) for path in self.paths()]

    def clear(self):
        for path in self.paths():
            path.unlink(missing_ok=True)


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
):
    """Start a sink in a background thread and return its controller.

    ``port=0`` picks a free port (read it back from ``controller.port``).
    ``log`` is called with one line per message (e.g. ``print``).
    """
    if not port:
        port = free_port(host)
    controller = SinkController(SinkHandler(directory, refuse, log), host, port)
    try:
        controller.start()
    except BaseException:
        if not controller.loop.is_closed():
            controller.loop.close()
        raise
    return controller


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
        "--clear", action="store_true", help="delete the stored .eml files first"
    )
    args = parser.parse_args(argv)

    def say(line):
        print(line, flush=True)

    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, lambda *_: stop.set())

    try:
        controller = start(args.host, args.port, args.directory, args.refuse, say)
    except (OSError, RuntimeError) as error:
        print(
            f"smtp_sink: cannot listen on {args.host}:{args.port}: {error}",
            file=sys.stderr,
        )
        return 1
    if args.clear:
        controller.clear()
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
