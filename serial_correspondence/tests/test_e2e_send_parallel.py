# Copyright 2026 serial_correspondence authors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""Sending one serial e-mail over four senders on two servers, killed.

Two real Odoo servers serve one database (``OdooServer(attach_to=...)``, as
in ``test_e2e_load.py``); the job runner of the first one dispatches the
send jobs through a round-robin balancer to both, channel
``root.serial_correspondence:4``, and the setting ``send_connections`` is 4:
one serial e-mail is sent by four senders (slots 0..3, ``tools/senders.py``)
spread over both servers, into the real SMTP sink, paced so that a kill hits
senders in the middle of a delivery.

1. While senders of both servers are at work, and the second server's have
   a claim without an outcome, the second server is killed (SIGKILL, the
   whole process group). The first server's senders go on (e-mails keep
   arriving); then the second server is started again.
2. The same, the other way round: the first server (the one whose runner
   dispatches) is killed and not started again. The second server alone
   finishes the run: its runner takes over, requeues the dead jobs, its
   senders take over the free classes and settle what the dead ones left.

Each kill freezes the server's processes first (SIGSTOP), notes which slots
its database sessions hold (the slot's advisory lock), which recipients are
claimed without an outcome and which jobs its workers run, then kills it.
Asserted: the run ends with its outcome; nobody received the e-mail twice;
everybody is sent (received exactly once) or "delivery unknown" (received at
most once), nobody pending; the "delivery unknown" ones are exactly the
claims the killed senders left, at most one per sender of the killed server
(two or three workers: at most that many per kill); no claim of a sender
that lived is touched; the claims went to the slots of their class, all four
slots sent; the counters, the one "Sending finished" note and the budget log
agree; every killed job was requeued and all send jobs ended, none failed.
"""

import collections
import contextlib
import logging
import re
import shutil
import signal
import tempfile
import time
from pathlib import Path

from odoo.tests import tagged
from odoo.tests.common import BaseCase

from ..testing.balancer import RoundRobinBalancer
from ..testing.e2e_server import START_MARKER, E2EError, OdooServer, free_port, tail
from ..tools.senders import MAX_SENDERS, SEND_LOCK_NAMESPACE
from .test_e2e_send import (
    BODY,
    OUTCOMES,
    SEND_METHOD,
    SENDER,
    SUBJECT,
    UNKNOWN,
    received,
    start_sink,
)

_logger = logging.getLogger(__name__)

# the master runner dispatches for both servers: four send jobs at once
CHANNELS = "root:4,root.serial_correspondence:4"
WORKERS = 3
SENDERS = 4
CONTACTS = 400
# the dispatching runner logs a request for a job that the balancer had
# handed to the server just killed, if it came less than a second before
# (the runner waits that long for the answer); the job is requeued as dead
EXPECTED_AFTER_KILL = (r"exception in GET .*/queue_job/runjob",)


@tagged("post_install", "-at_install", "serial_correspondence_e2e")
class TestE2ESendParallel(BaseCase):
    """One serial e-mail, four senders on two servers, each server killed."""

    # seconds; generous for a busy two-core machine
    import_timeout = 120
    send_timeout = 300

    # -- set-up ---------------------------------------------------------------

    def _start(self):
        """The paced SMTP sink, the balancer and two servers on one database."""
        mail_dir = tempfile.mkdtemp(prefix="sc_e2e_parallel_mail_")
        self.addCleanup(shutil.rmtree, mail_dir, ignore_errors=True)
        self.sink = start_sink(mail_dir)
        self.addCleanup(self.sink.stop)
        self.balancer = RoundRobinBalancer()
        self.addCleanup(self.balancer.close)
        runner_options = {"host": "127.0.0.1", "port": self.balancer.port}
        # four distinct ports, fixed (see test_e2e_load.py)
        ports = []
        for _port in range(4):
            ports.append(free_port(exclude=set(ports)))
        self.server = OdooServer(
            workers=WORKERS,
            channels=CHANNELS,
            runner_options=runner_options,
            port=ports[0],
            gevent_port=ports[1],
        )
        self.addCleanup(self.server.close)
        self.server.start()
        # the first server's runner holds the runner's lock: it dispatches,
        # the second one's waits as a standby
        self.server.wait_runner_ready()
        self.node = OdooServer(
            attach_to=self.server,
            workers=WORKERS,
            channels=CHANNELS,
            runner_options=runner_options,
            port=ports[2],
            gevent_port=ports[3],
        )
        self.addCleanup(self.node.close)
        self.node.start()
        self.balancer.backends = [self.server, self.node]
        self.servers = (self.server, self.node)
        self.server.rpc(
            "ir.mail_server",
            "create",
            {
                "name": "SMTP sink on loopback",
                "smtp_host": "127.0.0.1",
                "smtp_port": self.sink.port,
                "smtp_encryption": "none",
            },
        )
        [partner_model] = self.server.rpc(
            "ir.model", "search", [("model", "=", "res.partner")]
        )
        self.template_id = self.server.rpc(
            "mail.template",
            "create",
            {"name": "Neuigkeiten", "model_id": partner_model, "body_html": BODY},
        )
        # four senders; small batches and slices: jobs follow one another
        for name, value in (
            ("send_connections", str(SENDERS)),
            ("send_batch_size", "20"),
            ("send_slice_seconds", "3"),
        ):
            self.server.rpc(
                "ir.config_parameter",
                "set_param",
                f"serial_correspondence.{name}",
                value,
            )

    def _create_ready_email(self, town):
        correspondence_id = self.server.rpc(
            "serial.correspondence",
            "create",
            {
                "kind": "email",
                "purpose": "information",
                "subject": SUBJECT,
                "template_id": self.template_id,
                "email_from": SENDER,
                "partner_domain": repr([("city", "=", town)]),
            },
        )
        self._wait_state(
            correspondence_id, ("ready",), self.import_timeout, "recipients read"
        )
        return correspondence_id

    # -- looking at the servers -------------------------------------------------

    def _sql(self, query, params=None):
        # the test's own connection: works whichever server is dead
        return self.server.sql(query, params)

    def _log_tails(self):
        return "\n".join(server.log_tail(40) for server in self.servers)

    @contextlib.contextmanager
    def _logs_on_failure(self):
        """Add the end of both servers' logs to a failed assertion."""
        try:
            yield
        except E2EError:
            raise
        except AssertionError as error:
            raise AssertionError(f"{error}\n{self._log_tails()}") from error

    def _wait_for(self, condition, timeout, what, interval=0.2):
        """Like ``OdooServer.wait_for``, but one server may be dead."""
        deadline = time.monotonic() + timeout
        while True:
            value = condition()
            if value:
                return value
            if time.monotonic() > deadline:
                raise E2EError(
                    f"timed out after {timeout}s waiting for {what} "
                    f"(last seen: {value!r})\n{self._log_tails()}"
                )
            time.sleep(interval)

    def _state(self, correspondence_id):
        return self._sql(
            "SELECT state FROM serial_correspondence WHERE id = %s",
            [correspondence_id],
        )[0][0]

    def _wait_state(self, correspondence_id, states, timeout, what):
        def reached():
            self.server.check_no_failed_job()
            state = self._state(correspondence_id)
            return state if state in states else None

        return self._wait_for(reached, timeout, what)

    def _recipients(self, correspondence_id):
        """{partner id: row} of the recipients, as the servers committed them."""
        keys = (
            "id",
            "partner_id",
            "email",
            "state",
            "reason",
            "started",
            "message",
            "slot",
        )
        rows = self._sql(
            """
            SELECT r.id, r.partner_id, lower(p.email), r.state, r.reason->>'en_US',
                   r.send_started_at, r.message_id, r.send_slot
              FROM serial_correspondence_recipient r
              JOIN res_partner p ON p.id = r.partner_id
             WHERE r.correspondence_id = %s
            """,
            [correspondence_id],
        )
        return {row[1]: dict(zip(keys, row, strict=True)) for row in rows}

    def _claims(self, correspondence_id):
        """{recipient id: slot} of the claims without an outcome (yet)."""
        return dict(
            self._sql(
                "SELECT id, send_slot FROM serial_correspondence_recipient"
                " WHERE correspondence_id = %s AND state = 'pending'"
                " AND send_started_at IS NOT NULL",
                [correspondence_id],
            )
        )

    def _unknown(self, correspondence_id):
        return {
            recipient_id
            for (recipient_id,) in self._sql(
                "SELECT id FROM serial_correspondence_recipient"
                " WHERE correspondence_id = %s AND state = 'error'",
                [correspondence_id],
            )
        }

    def _sent_slots(self, correspondence_id):
        return {
            slot
            for (slot,) in self._sql(
                "SELECT DISTINCT send_slot FROM serial_correspondence_recipient"
                " WHERE correspondence_id = %s AND state = 'sent'",
                [correspondence_id],
            )
        }

    def _server_of(self, application_name):
        for server in self.servers:
            if (application_name or "").rpartition("-")[0] == server.app_name:
                return server.name
        return None

    def _slot_holders(self, correspondence_id):
        """{slot: (backend pid, server name)}: who holds each slot's lock."""
        rows = self._sql(
            """
            SELECT l.classid::bigint - %(namespace)s, a.pid, a.application_name
              FROM pg_locks l
              JOIN pg_stat_activity a ON a.pid = l.pid
             WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 2
               AND l.database = (SELECT oid FROM pg_database
                                  WHERE datname = current_database())
               AND l.objid::bigint = %(correspondence)s
               AND l.classid::bigint BETWEEN %(namespace)s
                                         AND %(namespace)s + %(max)s - 1
            """,
            {
                "namespace": SEND_LOCK_NAMESPACE,
                "correspondence": correspondence_id,
                "max": MAX_SENDERS,
            },
        )
        return {
            int(slot): (pid, self._server_of(application_name))
            for slot, pid, application_name in rows
        }

    def _arrived(self, address):
        return any(path.name.endswith(f"-{address}.eml") for path in self.sink.paths())

    def _unexpected_log_errors(self, server, expected=()):
        return [
            line
            for line in server.log_lines(r" (ERROR|CRITICAL) ")
            if not any(re.search(pattern, line) for pattern in expected)
        ]

    # -- killing one server ---------------------------------------------------------

    def _kill_when(self, correspondence_id, target, label, min_received):
        """Kill ``target`` once ``min_received`` e-mails arrived, senders of
        both servers are at work, two slots have sent, and a sender of
        ``target`` has a claim without an outcome."""
        other = self.node if target is self.server else self.server

        def hit():
            if self._state(correspondence_id) not in ("in_progress", "waiting"):
                raise E2EError(f"sending ended before the kill point {label}")
            if self.sink.count() < min_received:
                return None
            holders = self._slot_holders(correspondence_id)
            mine = {slot for slot, (_p, name) in holders.items() if name == target.name}
            if not mine or not any(name == other.name for _p, name in holders.values()):
                return None
            if not set(self._claims(correspondence_id).values()) & mine:
                return None
            if len(self._sent_slots(correspondence_id)) < 2:
                return None
            return holders

        seen = self._wait_for(
            hit, self.send_timeout, f"the kill point {label}", interval=0.01
        )
        kill = self._kill(correspondence_id, target, label)
        kill["seen"] = seen
        return kill

    def _freeze(self, server, timeout=10):
        """SIGSTOP the server's process group; return once all are stopped."""
        members = server._group_members()
        server.kill(signal.SIGSTOP)

        def stopped():
            for pid in members:
                try:
                    stat = Path(f"/proc/{pid}/stat").read_text()
                except OSError:
                    continue  # gone
                if stat.rsplit(")", 1)[1].split()[0] not in ("T", "t", "Z", "X"):
                    return False
            return True

        self._wait_for(stopped, timeout, f"{server.name} to stop", interval=0.005)
        return members

    def _kill(self, correspondence_id, target, label):
        """Freeze ``target``, note what its senders hold, kill it (SIGKILL,
        the whole process group); return what the kill left."""
        # as a load balancer's health check would: no more jobs for it
        self.balancer.backends = [
            server for server in self.balancer.backends if server is not target
        ]
        members = self._freeze(target)
        frozen_at = self._sql("SELECT clock_timestamp() AT TIME ZONE 'UTC'")[0][0]
        holders = self._slot_holders(correspondence_id)
        killed_slots = {
            slot for slot, (_pid, name) in holders.items() if name == target.name
        }
        senders_at_work = {pid for pid, name in holders.values() if name == target.name}
        claims = self._claims(correspondence_id)
        unknown_before = self._unknown(correspondence_id)
        running = {
            uuid
            for uuid, worker_pid in self._sql(
                "SELECT uuid, worker_pid FROM queue_job WHERE method_name = %s"
                " AND state = 'started'",
                [SEND_METHOD],
            )
            if worker_pid in members
        }
        target.kill(signal.SIGKILL)
        received_at_kill = self.sink.count()
        # what the dead senders left: their claims without an outcome, some
        # perhaps already settled by a survivor that took the slot over (a
        # survivor's new claim in such a slot is younger than the freeze;
        # one a former kill left is that kill's)
        earlier = set().union(*(kill["left"] for kill in self.kills))
        left = {
            recipient_id
            for recipient_id, state in self._sql(
                "SELECT id, state FROM serial_correspondence_recipient"
                " WHERE correspondence_id = %s AND send_slot = ANY(%s)"
                " AND send_started_at IS NOT NULL AND send_started_at <= %s"
                " AND state IN ('pending', 'error')",
                [correspondence_id, list(killed_slots), frozen_at],
            )
            if (state == "pending" or recipient_id not in unknown_before)
            and recipient_id not in earlier
        }
        kill = {
            "label": label,
            "server": target.name,
            "received": received_at_kill,
            "slots": sorted(killed_slots),
            "senders": len(senders_at_work),
            "holders": holders,
            "left": left,
            # claims of the senders that live on
            "live_claims": set(claims) - left - earlier,
            "running": running,
            "state": self._state(correspondence_id),
        }
        kill["left_arrived"] = [
            self._arrived(address)
            for (address,) in self._sql(
                "SELECT lower(p.email) FROM serial_correspondence_recipient r"
                " JOIN res_partner p ON p.id = r.partner_id WHERE r.id = ANY(%s)",
                [list(left)],
            )
        ]
        self.kills.append(kill)
        _logger.info("e2e parallel send: killed %s", kill)
        with self._logs_on_failure():
            # one claim without an outcome at most per sender that died
            self.assertLessEqual(len(left), len(senders_at_work), kill)
            self.assertLessEqual(len(senders_at_work), target.workers, kill)
            self.assertIn(kill["state"], ("in_progress", "waiting"), kill)
        return kill

    # -- the test -------------------------------------------------------------------

    def test_a_server_killed_while_four_senders_send_never_twice_nor_lost(self):
        started = time.monotonic()
        self._start()
        town = "Parallelhausen"
        self.server.insert_partners(
            CONTACTS, town, name_prefix="E2E Parallel", email_domain="example.org"
        )
        correspondence_id = self._create_ready_email(town)
        # every message waits a moment before it is stored and before its
        # "250": a kill hits deliveries under way, arrived or not
        self.sink.handler.delay_before = 0.02
        self.sink.handler.delay_after = 0.03
        sending = time.monotonic()
        self.server.rpc("serial.correspondence", "action_send", [correspondence_id])
        self.assertEqual(
            self._sql(
                "SELECT send_connections FROM serial_correspondence WHERE id = %s",
                [correspondence_id],
            )[0][0],
            SENDERS,
        )
        # the kills, as _kill notes them
        self.kills = kills = []

        # 1. the second server, while senders of both are at work
        self._kill_when(correspondence_id, self.node, "second server", 60)
        # the first server's senders go on without it
        self._wait_for(
            lambda: self.sink.count() >= kills[0]["received"] + 20,
            self.send_timeout,
            "e-mails sent by the surviving server",
        )
        self.assertIn(
            self._state(correspondence_id), ("in_progress", "waiting"), kills[0]
        )
        # slower while the second server starts again: work left for it
        self.sink.handler.delay_before = 0.4
        self.node.start()
        self.balancer.backends = [self.server, self.node]
        self.sink.handler.delay_before = 0.02

        # 2. the first server (its runner dispatches), not started again:
        # the second one finishes alone
        self._kill_when(
            correspondence_id, self.server, "first server", self.sink.count() + 30
        )
        outcome = self._wait_state(
            correspondence_id,
            OUTCOMES,
            self.send_timeout,
            "the outcome of sending, the second server alone",
        )
        sent_in = time.monotonic() - sending

        # the lead's checks planned for later run too, and end
        def all_done():
            self.server.check_no_failed_job()
            return not self._sql(
                "SELECT count(*) FROM queue_job WHERE method_name = %s"
                " AND state != 'done'",
                [SEND_METHOD],
            )[0][0]

        self._wait_for(all_done, 120, "every send job to end", interval=0.5)
        with self._logs_on_failure():
            self._assert_never_twice_never_lost(correspondence_id, kills, outcome)
        rows = self._recipients(correspondence_id).values()
        # where the runner's dispatches that failed had gone (they are
        # requeued as dead jobs)
        failed = {
            match.group(1)
            for server in self.servers
            for line in server.log_lines(EXPECTED_AFTER_KILL[0])
            if (match := re.search(r"job_uuid=([0-9a-f-]+)", line))
        }
        _logger.info(
            "e2e parallel send: dispatches that failed: %s",
            [route for route in self.balancer.routed if route["uuid"] in failed],
        )
        _logger.info(
            "e2e parallel send: %s contacts, %s senders, kills %s: "
            "unknown %s (senders at work on the killed server %s), "
            "slots sent %s, outcome %s after %.1fs, test %.1fs",
            CONTACTS,
            SENDERS,
            [(kill["label"], kill["received"], kill["slots"]) for kill in kills],
            [len(kill["left"]) for kill in kills],
            [kill["senders"] for kill in kills],
            dict(collections.Counter(row["slot"] for row in rows)),
            outcome,
            sent_in,
            time.monotonic() - started,
        )

    def _assert_never_twice_never_lost(self, correspondence_id, kills, outcome):
        rows = list(self._recipients(correspondence_id).values())
        by_state = collections.defaultdict(list)
        for row in rows:
            by_state[row["state"]].append(row)
        counts = received(self.sink)
        summary = (
            f"kills: {kills}\nrecipients: "
            f"{ {state: len(rows) for state, rows in by_state.items()} }, "
            f"received: {sum(counts.values())} by {len(counts)} addresses"
        )
        self.assertIn(outcome, OUTCOMES, summary)
        # never twice
        twice = {address: n for address, n in counts.items() if n > 1}
        self.assertFalse(twice, f"received more than once: {twice}\n{summary}")
        # nobody else
        self.assertLessEqual(set(counts), {row["email"] for row in rows}, summary)
        # never lost: everybody has an outcome, sent or unknown
        self.assertEqual(len(rows), CONTACTS, summary)
        self.assertLessEqual(set(by_state), {"sent", "error"}, summary)
        for row in by_state["sent"]:
            self.assertEqual(
                counts[row["email"]], 1, f"sent to {row['email']}\n{summary}"
            )
            self.assertTrue(row["message"], row)
            self.assertFalse(row["started"], row)
        # "unknown" are exactly the claims the killed senders left, at most
        # one per sender of the killed server; their message may have
        # arrived, never twice
        left = set().union(*(kill["left"] for kill in kills))
        unknown = {row["id"] for row in by_state["error"]}
        self.assertEqual(unknown, left, summary)
        for kill in kills:
            self.assertLessEqual(len(kill["left"]), kill["senders"], kill)
            self.assertLessEqual(kill["senders"], WORKERS, kill)
        for row in by_state["error"]:
            self.assertTrue(row["reason"].startswith(UNKNOWN), row)
            self.assertTrue(row["started"], row)
            self.assertLessEqual(counts[row["email"]], 1, row)
        # a sender that lived never had its claim taken from it
        live = set().union(*(kill["live_claims"] for kill in kills))
        self.assertFalse(live & unknown, f"live claims made unknown\n{summary}")
        # the second server alone sent the rest after the last kill
        self.assertGreater(sum(counts.values()), kills[-1]["received"], summary)
        unknown_delivered = sum(counts[row["email"]] for row in by_state["error"])
        self.assertEqual(
            sum(counts.values()), len(by_state["sent"]) + unknown_delivered, summary
        )
        # the parallel senders: each claim under its class's slot, every slot
        # sent, and senders of both servers at work at the kills
        for row in rows:
            self.assertEqual(row["slot"], row["id"] % SENDERS, row)
        self.assertEqual(
            {row["slot"] for row in by_state["sent"]}, set(range(SENDERS)), summary
        )
        for kill in kills:
            at_work = set(kill["seen"].values())
            self.assertGreaterEqual(len(at_work), 2, kill)
            self.assertEqual(
                {name for _pid, name in at_work},
                {server.name for server in self.servers},
                kill,
            )
        # the totals: outcome, counters, chatter, the sending budget's log
        self.assertEqual(outcome, "send_failed" if unknown else "done_auto", summary)
        [record] = self.node.rpc(
            "serial.correspondence",
            "read",
            [correspondence_id],
            ["sent_count", "error_count", "excluded_count", "pending_count"],
        )
        self.assertEqual(
            (
                record["sent_count"],
                record["error_count"],
                record["excluded_count"],
                record["pending_count"],
            ),
            (len(by_state["sent"]), len(unknown), 0, 0),
        )
        finished = self._sql(
            "SELECT body FROM mail_message WHERE model = 'serial.correspondence'"
            " AND res_id = %s AND body LIKE %s",
            [correspondence_id, "%Sending finished%"],
        )
        self.assertEqual(len(finished), 1, finished)
        self.assertIn(
            f"Sending finished: {len(by_state['sent'])} sent, 0 excluded, "
            f"{len(unknown)} with errors.",
            finished[0][0],
        )
        self.assertEqual(
            self._sql(
                "SELECT count(*) FROM serial_correspondence_send_log"
                " WHERE correspondence_id = %s",
                [correspondence_id],
            )[0][0],
            CONTACTS,
            "one e-mail of the budget per delivery started",
        )
        # the second server alone at the end: its runner took over
        since_start = self.node.log_text().rpartition(START_MARKER)[2]
        self.assertIn("database connections ready", since_start)
        # the jobs: each one killed while running was requeued and ended
        logs = "\n".join(server.log_text() for server in self.servers)
        for kill in kills:
            for uuid in kill["running"]:
                self.assertIn(
                    f"Re-queued dead job with uuid: {uuid}",
                    logs,
                    f"the killed job {uuid} was not requeued",
                )
        self.assertEqual(
            dict(
                self._sql(
                    "SELECT state, count(*) FROM queue_job WHERE method_name = %s"
                    " GROUP BY state",
                    [SEND_METHOD],
                )
            ).keys(),
            {"done"},
        )
        self.assertFalse(
            self._sql("SELECT uuid FROM queue_job WHERE state = 'failed'"),
            "failed jobs",
        )
        for server in self.servers:
            errors = self._unexpected_log_errors(server, EXPECTED_AFTER_KILL)
            self.assertFalse(
                errors,
                f"errors in the log of {server.name}:\n"
                + "\n".join(errors)
                + "\n"
                + tail(server.logfile, 80),
            )
