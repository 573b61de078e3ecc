# Copyright 2026 serial_correspondence authors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""A load balancer for queue_job's runner, in front of several Odoo servers.

As in a multi-node deployment where queue_job's ``[queue_job] host/port``
points at the load balancer: with one server it only forwards, with two it
is what makes both servers run jobs (see ``tests/test_e2e_sending_limits.py``).
"""

import contextlib
import logging
import re
import socket
import threading
import time

_logger = logging.getLogger(__name__)


class RoundRobinBalancer:
    """A TCP load balancer on loopback: each connection goes to the next of
    ``backends`` (running :class:`OdooServer`), in turn.

    queue_job's runner asks for each job with one HTTP request
    (``GET /queue_job/runjob?db=..&job_uuid=..``) on a connection of its
    own, and the server answers once the job is done. ``routed`` notes, per
    request: the job's uuid, the server it went to, when it was forwarded and
    when the server answered (the job had ended by then).
    """

    def __init__(self):
        self.backends = []
        self.routed = []
        self._turn = 0
        self._lock = threading.Lock()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._closed = False
        self._thread = threading.Thread(
            target=self._accept, name="e2e-balancer", daemon=True
        )
        self._thread.start()

    def close(self):
        self._closed = True
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)
        self._listener.close()
        self._thread.join(5)

    def _next_backend(self):
        with self._lock:
            running = [server for server in self.backends if server.running]
            if not running:
                return None
            backend = running[self._turn % len(running)]
            self._turn += 1
            return backend

    def _accept(self):
        while not self._closed:
            try:
                client, _address = self._listener.accept()
            except OSError:
                return
            threading.Thread(
                target=self._forward,
                args=(client,),
                name="e2e-balancer-conn",
                daemon=True,
            ).start()

    def _forward(self, client):
        backend = self._next_backend()
        upstream = None
        try:
            if backend is None:
                return
            upstream = socket.create_connection(("127.0.0.1", backend.port), timeout=5)
            upstream.settimeout(None)
            client.settimeout(None)
            head = client.recv(65536)
            match = re.search(rb"job_uuid=([0-9a-f-]+)", head)
            route = {
                "uuid": match.group(1).decode() if match else None,
                "server": backend.name,
                "forwarded": time.time(),
                "answered": None,
            }
            with self._lock:
                self.routed.append(route)
            upstream.sendall(head)
            pump = threading.Thread(
                target=self._pipe, args=(client, upstream), daemon=True
            )
            pump.start()
            # the answer comes when the job is done
            first = True
            while True:
                try:
                    data = upstream.recv(65536)
                except OSError:
                    data = b""
                if first:
                    route["answered"] = time.time()
                    first = False
                if not data:
                    break
                # the runner does not wait for the answer (1 s timeout)
                with contextlib.suppress(OSError):
                    client.sendall(data)
            pump.join(1)
        except OSError:
            _logger.debug(
                "e2e balancer: connection to %s failed", backend, exc_info=True
            )
        finally:
            for sock in (client, upstream):
                if sock is not None:
                    with contextlib.suppress(OSError):
                        sock.close()

    @staticmethod
    def _pipe(source, target):
        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                target.sendall(data)
        with contextlib.suppress(OSError):
            target.shutdown(socket.SHUT_WR)
