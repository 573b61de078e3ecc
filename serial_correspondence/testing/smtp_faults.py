# Copyright 2026 serial_correspondence authors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""A small SMTP server on loopback that misbehaves on purpose.

aiosmtpd (``smtp_sink.py``) is a well-behaved server: it cannot reset a
connection in the middle of a message, stay silent after the final dot or
stall at the greeting. This one speaks just enough SMTP (EHLO/HELO, MAIL,
RCPT, DATA, RSET, NOOP, QUIT) on raw sockets to deliver normally, and fails
the way a broken server or network does when told to (``fault``):

- ``"reset_in_data"``: after ``354``, reads ``fault_after`` bytes of the
  message, stops reading for ``pause`` seconds and resets the connection
  (TCP RST): the final dot never arrived, nothing is delivered.
- ``"reset_after_dot"``: reads the whole message up to the final dot, keeps
  it as delivered and resets the connection instead of answering: the
  client cannot know that the message arrived.
- ``"stall_greeting"``: accepts the connection and never says a word.
- ``"stall_in_data"``: after ``354``, reads ``fault_after`` bytes and then
  stops reading, keeping the connection open (until ``stop``).
- ``"stall_after_dot"``: reads the whole message, keeps it as delivered and
  never answers.

``faults`` is how many connections fail that way (``None``: all); the
others are served normally. Only the standard library: it runs without
Odoo. ::

    server = FaultySmtpServer(fault="reset_after_dot", faults=1)
    server.start()            # server.port
    ...
    server.delivered          # [Delivery(mail_from, rcpt_tos, data)]
    server.partial            # bytes of messages cut off before the final dot
    server.stop()
"""

import contextlib
import dataclasses
import socket
import struct
import threading
import time

FAULTS = (
    "reset_in_data",
    "reset_after_dot",
    "stall_greeting",
    "stall_in_data",
    "stall_after_dot",
)


@dataclasses.dataclass(frozen=True)
class Delivery:
    """A message the server received up to its final dot."""

    mail_from: str
    rcpt_tos: tuple
    data: bytes
    answered: bool


class _Hangup(Exception):
    """The client went away, or the fault ended the connection."""


class FaultySmtpServer:
    def __init__(
        self,
        host="127.0.0.1",
        fault=None,
        faults=None,
        fault_after=4096,
        pause=0.5,
        receive_buffer=16384,
    ):
        if fault is not None and fault not in FAULTS:
            raise ValueError(f"unknown fault {fault!r}")
        self.host = host
        self.fault = fault
        self.faults = faults
        self.fault_after = fault_after
        self.pause = pause
        self.receive_buffer = receive_buffer
        self.delivered = []
        self.partial = []
        self.connections = 0
        self._lock = threading.Lock()
        self._stopped = threading.Event()
        self._threads = []
        self._sockets = set()
        self._listener = None
        self.port = None

    # -- control ---------------------------------------------------------

    def start(self):
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        # a small, fixed receive window (inherited by accepted connections):
        # a server that stops reading makes a large message block the client
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, self.receive_buffer)
        listener.bind((self.host, 0))
        listener.listen(16)
        listener.settimeout(0.2)
        self._listener = listener
        self.port = listener.getsockname()[1]
        thread = threading.Thread(target=self._accept_loop, daemon=True)
        thread.start()
        self._threads.append(thread)
        return self

    def stop(self):
        self._stopped.set()
        with self._lock:
            sockets = list(self._sockets)
        for connection in sockets:
            _close(connection)
        for thread in self._threads:
            thread.join(timeout=5)
        if self._listener is not None:
            self._listener.close()

    def serve_normally(self):
        """From now on, no more faults."""
        with self._lock:
            self.fault = None

    def recipients(self):
        """The recipients of the delivered messages, in order."""
        with self._lock:
            return [rcpt for delivery in self.delivered for rcpt in delivery.rcpt_tos]

    # -- the server ------------------------------------------------------

    def _accept_loop(self):
        while not self._stopped.is_set():
            try:
                connection, _peer = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with self._lock:
                self.connections += 1
                fault = self.fault
                if fault is not None and self.faults is not None:
                    if self.faults <= 0:
                        fault = None
                    else:
                        self.faults -= 1
                self._sockets.add(connection)
            thread = threading.Thread(
                target=self._serve, args=(connection, fault), daemon=True
            )
            thread.start()
            self._threads.append(thread)

    def _serve(self, connection, fault):
        connection.settimeout(0.2)
        session = _Session(self, connection, fault)
        try:
            with contextlib.suppress(_Hangup):
                session.run()
        finally:
            with self._lock:
                self._sockets.discard(connection)
            _close(connection)

    def _stall(self):
        while not self._stopped.wait(0.1):
            pass
        raise _Hangup()


class _Session:
    def __init__(self, server, connection, fault):
        self.server = server
        self.connection = connection
        self.fault = fault
        self.buffer = b""
        self.mail_from = None
        self.rcpt_tos = []

    def send(self, line):
        try:
            self.connection.sendall(line.encode() + b"\r\n")
        except OSError as error:
            raise _Hangup() from error

    def receive(self):
        while True:
            if self.server._stopped.is_set():
                raise _Hangup()
            try:
                chunk = self.connection.recv(65536)
            except TimeoutError:
                continue
            except OSError as error:
                raise _Hangup() from error
            if not chunk:
                raise _Hangup()
            return chunk

    def readline(self):
        while b"\r\n" not in self.buffer:
            self.buffer += self.receive()
        line, self.buffer = self.buffer.split(b"\r\n", 1)
        return line.decode("utf-8", "replace")

    def run(self):
        if self.fault == "stall_greeting":
            self.server._stall()
        self.send("220 faulty SMTP server (serial_correspondence tests)")
        while True:
            line = self.readline()
            verb = line.split(" ", 1)[0].upper()
            if verb == "EHLO":
                self.send("250-faulty SMTP server")
                self.send("250-8BITMIME")
                self.send("250 SIZE 104857600")
            elif verb == "HELO":
                self.send("250 faulty SMTP server")
            elif verb == "MAIL":
                self.mail_from = _path(line)
                self.rcpt_tos = []
                self.send("250 2.1.0 OK")
            elif verb == "RCPT":
                self.rcpt_tos.append(_path(line))
                self.send("250 2.1.5 OK")
            elif verb == "DATA":
                self.data()
            elif verb in ("RSET", "NOOP"):
                self.mail_from, self.rcpt_tos = None, []
                self.send("250 2.0.0 OK")
            elif verb == "QUIT":
                self.send("221 2.0.0 Bye")
                raise _Hangup()
            else:
                self.send("502 5.5.2 command not implemented")

    def data(self):
        self.send("354 End data with <CR><LF>.<CR><LF>")
        server = self.server
        if self.fault in ("reset_in_data", "stall_in_data"):
            while len(self.buffer) < server.fault_after:
                self.buffer += self.receive()
            with server._lock:
                server.partial.append(self.buffer)
            if self.fault == "stall_in_data":
                server._stall()
            # stop reading for a while: the client fills the buffers
            time.sleep(server.pause)
            _reset(self.connection)
            raise _Hangup()
        # the message ends with a line of one dot (after the separator of
        # the previous line, or at once for an empty message)
        buffer = bytearray(self.buffer)
        searched = 0
        while not buffer.startswith(b".\r\n"):
            end = buffer.find(b"\r\n.\r\n", max(searched - 4, 0))
            if end >= 0:
                break
            searched = len(buffer)
            buffer += self.receive()
        if buffer.startswith(b".\r\n"):
            data, self.buffer = b"", bytes(buffer[3:])
        else:
            data, self.buffer = bytes(buffer[: end + 2]), bytes(buffer[end + 5 :])
        data = b"\r\n".join(
            line[1:] if line.startswith(b".") else line for line in data.split(b"\r\n")
        )
        answered = self.fault not in ("reset_after_dot", "stall_after_dot")
        with server._lock:
            server.delivered.append(
                Delivery(self.mail_from, tuple(self.rcpt_tos), data, answered)
            )
        self.mail_from, self.rcpt_tos = None, []
        if self.fault == "reset_after_dot":
            _reset(self.connection)
            raise _Hangup()
        if self.fault == "stall_after_dot":
            server._stall()
        self.send("250 2.0.0 message accepted")


def _path(line):
    """``MAIL FROM:<a@b> SIZE=1`` -> ``a@b``"""
    _verb, _colon, rest = line.partition(":")
    rest = rest.strip()
    if rest.startswith("<"):
        return rest[1 : rest.find(">")]
    return rest.split(" ", 1)[0]


def _reset(connection):
    """Close ``connection`` with a TCP reset (RST), not a goodbye (FIN)."""
    with contextlib.suppress(OSError):
        connection.setsockopt(
            socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
        )
    _close(connection)


def _close(connection):
    with contextlib.suppress(OSError):
        connection.close()
