# Copyright 2026 serial_correspondence authors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""Sending a serial e-mail end to end: a real server, real SMTP.

A real Odoo server with queue_job's runner (see ``testing/e2e_server.py``)
sends through an ``ir.mail_server`` pointing at the SMTP sink of
``testing/smtp_sink.py``, which runs in this process on loopback and keeps
every delivery as a file.
What the contacts received is counted there, not in Odoo.

- A serial e-mail to about 200 contacts reaches exactly the allowed ones, once
  each, personalised, with the unsubscribe headers; every other recipient has
  its state and reason, the address the mail server refuses included. Sent
  again after a fix, it reaches only the fixed contact; finalized, it is done.
- The server is killed (SIGKILL) several times while it sends and started
  again: no contact receives the e-mail twice, nobody is silently skipped, and
  at most one recipient per kill ends as "delivery unknown".
"""

import asyncio
import collections
import email.utils
import logging
import re
import shutil
import signal
import tempfile
import time
import xmlrpc.client

from odoo.tests import tagged
from odoo.tests.common import BaseCase

from ..testing import smtp_sink
from ..testing.e2e_server import E2EError, OdooServer

_logger = logging.getLogger(__name__)

SEND_METHOD = "_send_emails"
OUTCOMES = ("sent_incomplete", "send_failed", "done_auto")
SENDER = "Verein Musterstadt <verein@example.com>"
SUBJECT = "Neuigkeiten für {{ object.name }}"
BODY = '<p>Hallo <t t-out="object.name"/>, hier sind unsere Neuigkeiten.</p>'
UNKNOWN = "Delivery unknown after an interruption"


# ----------------------------------------------------------------------
# the SMTP sink, paced on demand
# ----------------------------------------------------------------------


class PacedSinkHandler(smtp_sink.SinkHandler):
    """The sink, slowed down on demand to give a kill a known moment.

    ``delay_before``: seconds between the end of the message and storing
    it (a sender killed then has not delivered it); ``delay_after``:
    seconds between storing it and the ``250`` answer (a sender killed
    then has delivered it but does not know).
    """

    delay_before = 0.0
    delay_after = 0.0

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # the addresses (lower case) of the messages stored whose "250" is
        # being held back by ``delay_after`` now
        self.holding = set()

    async def handle_DATA(self, server, session, envelope):
        if self.delay_before:
            await asyncio.sleep(self.delay_before)
        answer = await super().handle_DATA(server, session, envelope)
        if self.delay_after:
            addresses = {address.lower() for address in envelope.rcpt_tos}
            self.holding |= addresses
            try:
                await asyncio.sleep(self.delay_after)
            finally:
                self.holding -= addresses
        return answer


def start_sink(directory, refuse=(), refuse_data=()):
    """A paced SMTP sink on a free loopback port (its handler: ``.handler``)."""
    for attempt in range(3):
        handler = PacedSinkHandler(directory, refuse, refuse_data=refuse_data)
        controller = smtp_sink.SinkController(
            handler, "127.0.0.1", smtp_sink.free_port("127.0.0.1")
        )
        try:
            controller.start()
        except (OSError, RuntimeError):
            # another process took the port between the check and the bind
            if not controller.loop.is_closed():
                controller.loop.close()
            if attempt == 2:
                raise
            continue
        return controller


def received(sink):
    """``Counter`` of the deliveries per envelope recipient."""
    return collections.Counter(address for address, _message in deliveries(sink))


def deliveries(sink):
    """``[(envelope recipient, message)]`` of everything the sink stored."""
    return [
        (str(message["Delivered-To"]).strip().lower(), message)
        for message in sink.messages()
    ]


# ----------------------------------------------------------------------
# the tests
# ----------------------------------------------------------------------


@tagged("post_install", "-at_install", "serial_correspondence_e2e")
class TestE2ESendEmails(BaseCase):
    # seconds; generous for a busy two-core machine
    import_timeout = 90
    send_timeout = 150

    # -- set-up ---------------------------------------------------------------

    def _start(self, refuse=(), refuse_data=()):
        """The SMTP sink, and a server that sends through it."""
        mail_dir = tempfile.mkdtemp(prefix="sc_e2e_send_mail_")
        self.addCleanup(shutil.rmtree, mail_dir, ignore_errors=True)
        self.sink = start_sink(mail_dir, refuse, refuse_data)
        self.addCleanup(self.sink.stop)
        self.server = OdooServer()
        self.addCleanup(self.server.close)
        self.server.start()
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

    def _create_ready_email(self, town, purpose="advertising"):
        correspondence_id = self.server.rpc(
            "serial.correspondence",
            "create",
            {
                "kind": "email",
                "purpose": purpose,
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

    # -- looking at the server ----------------------------------------------------

    def _state(self, correspondence_id):
        return self.server.sql_value(
            "SELECT state FROM serial_correspondence WHERE id = %s",
            [correspondence_id],
        )

    def _wait_state(self, correspondence_id, states, timeout, what):
        def reached():
            self.server.check_no_failed_job()
            state = self._state(correspondence_id)
            return state if state in states else None

        return self.server.wait_for(reached, timeout, what, interval=0.2)

    def _wait_outcome(self, correspondence_id):
        return self._wait_state(
            correspondence_id, OUTCOMES, self.send_timeout, "the outcome of sending"
        )

    def _recipients(self, correspondence_id):
        """{partner id: row} of the recipients, as the server committed them."""
        keys = ("id", "partner_id", "email", "state", "reason", "started", "message")
        rows = self.server.sql(
            """
            SELECT r.id, r.partner_id, lower(p.email), r.state, r.reason->>'en_US',
                   r.send_started_at, r.message_id
              FROM serial_correspondence_recipient r
              JOIN res_partner p ON p.id = r.partner_id
             WHERE r.correspondence_id = %s
            """,
            [correspondence_id],
        )
        return {row[1]: dict(zip(keys, row, strict=True)) for row in rows}

    def _claimed_without_outcome(self, correspondence_id):
        """Recipients whose delivery started and has no outcome (yet)."""
        return {
            recipient_id
            for (recipient_id,) in self.server.sql(
                "SELECT id FROM serial_correspondence_recipient"
                " WHERE correspondence_id = %s AND state = 'pending'"
                " AND send_started_at IS NOT NULL",
                [correspondence_id],
            )
        }

    def _unexpected_log_errors(self, expected=()):
        """ERROR/CRITICAL lines of the server log but the ``expected`` ones."""
        return [
            line
            for line in self.server.log_lines(r" (ERROR|CRITICAL) ")
            if not any(re.search(pattern, line) for pattern in expected)
        ]

    # -- A: the whole way, with every kind of recipient ------------------------

    def _contacts_of_every_kind(self, town):
        """Create ~200 contacts over XML-RPC; return {kind: [(id, name, email)]}."""
        kinds = {
            # name, e-mail, advertising consent; 149 allowed + 2 refused by
            # SMTP (at RCPT TO and after DATA)
            "allowed": [
                (
                    f"Jürgen Empfänger {i:03d}",
                    f"empfaenger.{i:03d}@example.com",
                    "granted",
                )
                for i in range(149)
            ],
            "refused_by_smtp": [
                ("Rita Abgewiesen", "abgewiesen@example.com", "granted"),
            ],
            "refused_after_data": [
                ("Rudi Zurückgewiesen", "zurueckgewiesen@example.com", "granted"),
            ],
            "blacklisted": [
                (f"Gesperrt {i:02d}", f"gesperrt.{i:02d}@example.com", "granted")
                for i in range(15)
            ],
            "no_consent": [
                (
                    f"Ohne Zustimmung {i:02d}",
                    f"ohne.{i:02d}@example.com",
                    "unknown" if i % 2 else "refused",
                )
                for i in range(20)
            ],
            "no_address": [
                (f"Ohne Adresse {i:02d}", False, "granted") for i in range(8)
            ],
            "invalid_address": [
                (f"Kaputt {i:02d}", f"kaputt.{i:02d}@example", "unknown")
                for i in range(7)
            ],
        }
        values = [
            {
                "name": name,
                "email": address,
                "city": town,
                "email_advertising_consent": consent,
            }
            for contacts in kinds.values()
            for name, address, consent in contacts
        ]
        # contacts elsewhere, with consent: no recipients, nothing for them
        values += [
            {
                "name": f"Anderswo {i}",
                "email": f"anderswo.{i}@example.com",
                "city": "Anderswo",
                "email_advertising_consent": "granted",
            }
            for i in range(5)
        ]
        ids = iter(self.server.rpc("res.partner", "create", values))
        contacts = {
            kind: [(next(ids), name, address) for name, address, _c in entries]
            for kind, entries in kinds.items()
        }
        self.server.rpc(
            "mail.blacklist",
            "create",
            [{"email": address} for _id, _n, address in contacts["blacklisted"]],
        )
        return contacts

    def _assert_message(self, address, message, name, partner_id):
        """One delivery: to the contact, personalised, with one-click unsubscribe."""
        what = f"the e-mail to {address}"
        [(_to_name, to_address)] = email.utils.getaddresses([str(message["To"])])
        self.assertEqual(to_address.lower(), address, what)
        self.assertIn("verein@example.com", str(message["From"]), what)
        self.assertEqual(str(message["Subject"]), f"Neuigkeiten für {name}", what)
        html = message.get_body(preferencelist=("html",)).get_content()
        self.assertIn(f"Hallo {name}, hier sind unsere Neuigkeiten.", html, what)
        plain = message.get_body(preferencelist=("plain",)).get_content()
        self.assertIn(f"Hallo {name}, hier sind unsere Neuigkeiten.", plain, what)
        unsubscribe = str(message["List-Unsubscribe"] or "")
        self.assertRegex(
            unsubscribe,
            rf"^<https?://[^>]+/serial_correspondence/unsubscribe/{partner_id}/[^/>]+>$",
            what,
        )
        self.assertIn(unsubscribe[1:-1], html, f"{what}: unsubscribe link in the body")
        self.assertEqual(
            str(message["List-Unsubscribe-Post"]), "List-Unsubscribe=One-Click", what
        )

    def test_serial_email_reaches_exactly_the_allowed_contacts_once(self):
        started = time.monotonic()
        self._start(
            refuse=["abgewiesen@example.com"],
            refuse_data=["zurueckgewiesen@example.com"],
        )
        town = "Mailhausen"
        contacts = self._contacts_of_every_kind(town)
        correspondence_id = self._create_ready_email(town)
        self.assertEqual(
            len(self._recipients(correspondence_id)),
            sum(len(entries) for entries in contacts.values()),
        )

        sending = time.monotonic()
        self.server.rpc("serial.correspondence", "action_send", [correspondence_id])
        outcome = self._wait_outcome(correspondence_id)
        sent_in = time.monotonic() - sending

        with self.server.log_on_failure():
            self.assertEqual(outcome, "send_failed", "errors take precedence")
            # exactly the allowed contacts received it, once each
            allowed = {
                address: (pid, name) for pid, name, address in contacts["allowed"]
            }
            self.assertEqual(received(self.sink), collections.Counter(list(allowed)))
            # each e-mail is in its contact's history, with the Message-Id it
            # went out with (a reply finds its thread)
            history = {
                partner_id: (message_id, subject)
                for partner_id, message_id, subject in self.server.sql(
                    """
                    SELECT m.res_id, m.message_id, m.subject
                      FROM serial_correspondence_recipient r
                      JOIN mail_message m ON m.id = r.message_id
                     WHERE r.correspondence_id = %s AND m.model = 'res.partner'
                       AND m.message_type = 'email_outgoing'
                    """,
                    [correspondence_id],
                )
            }
            self.assertEqual(set(history), {pid for pid, _name in allowed.values()})
            for address, message in deliveries(self.sink):
                partner_id, name = allowed[address]
                self._assert_message(address, message, name, partner_id)
            # the one-click header as mailbox providers read it: the plain
            # <https://...> value (RFC 2369/8058), never RFC 2047 encoded-words
            for path in self.sink.paths():
                raw_headers = re.split(rb"\r?\n\r?\n", path.read_bytes(), maxsplit=1)[0]
                self.assertRegex(
                    raw_headers,
                    rb"(?m)^List-Unsubscribe: <https?://[^\s>]+"
                    rb"/serial_correspondence/unsubscribe/\d+/[^\s>]+>\r?$",
                    path.name,
                )
                self.assertNotIn(b"=?", raw_headers.split(b"List-Unsubscribe:")[1][:20])
                self.assertEqual(
                    history[partner_id],
                    (str(message["Message-Id"]).strip(), f"Neuigkeiten für {name}"),
                    address,
                )

            # every recipient's state and reason
            expected = {
                "allowed": ("sent", None),
                "refused_by_smtp": (
                    "error",
                    "The mail server refused the e-mail: 550 5.1.1 "
                    "<abgewiesen@example.com>: recipient refused by the SMTP sink",
                ),
                "refused_after_data": (
                    "error",
                    "The mail server refused the e-mail: 554 5.6.0 "
                    "message refused by the SMTP sink",
                ),
                "blacklisted": ("excluded", "is blacklisted"),
                "no_consent": ("excluded", "has not consented to advertising"),
                "no_address": ("error", "The contact has no e-mail address."),
                "invalid_address": ("error", "is not valid"),
            }
            recipients = {
                row["partner_id"][0]: row
                for row in self.server.rpc(
                    "serial.correspondence.recipient",
                    "search_read",
                    [("correspondence_id", "=", correspondence_id)],
                    fields=["partner_id", "state", "reason"],
                )
            }
            for kind, (state, reason) in expected.items():
                for partner_id, name, _address in contacts[kind]:
                    recipient = recipients[partner_id]
                    self.assertEqual(recipient["state"], state, f"{kind}: {name}")
                    if reason:
                        self.assertIn(
                            reason, recipient["reason"] or "", f"{kind}: {name}"
                        )
                    else:
                        self.assertFalse(recipient["reason"], f"{kind}: {name}")
            [counts] = self.server.rpc(
                "serial.correspondence",
                "read",
                [correspondence_id],
                ["sent_count", "excluded_count", "error_count", "pending_count"],
            )
            self.assertEqual(
                [
                    counts[key]
                    for key in ("sent_count", "excluded_count", "error_count")
                ],
                [149, 15 + 20, 2 + 8 + 7],
            )
            self.assertEqual(counts["pending_count"], 0)

        # the invalid address is fixed, consent given: sent again, it reaches
        # that contact and nobody else a second time
        fixed_id, fixed_name, _bad = contacts["invalid_address"][0]
        self.server.rpc(
            "res.partner",
            "write",
            [fixed_id],
            {"email": "repariert@example.com", "email_advertising_consent": "granted"},
        )
        before = received(self.sink)
        self.server.rpc("serial.correspondence", "action_send", [correspondence_id])
        outcome = self._wait_outcome(correspondence_id)
        with self.server.log_on_failure():
            self.assertEqual(outcome, "send_failed")
            after = received(self.sink)
            self.assertEqual(
                after - before, collections.Counter(["repariert@example.com"])
            )
            self.assertEqual(sum(after.values()), sum(before.values()) + 1)
            [(_address, message)] = [
                delivery
                for delivery in deliveries(self.sink)
                if delivery[0] == "repariert@example.com"
            ]
            self._assert_message("repariert@example.com", message, fixed_name, fixed_id)
            rows = self._recipients(correspondence_id)
            self.assertEqual(rows[fixed_id]["state"], "sent")
            # the refused address was tried again and refused again
            [(refused_id, _n, _a)] = contacts["refused_by_smtp"]
            self.assertEqual(rows[refused_id]["state"], "error")
            self.assertIn("550 5.1.1", rows[refused_id]["reason"])
            self.assertEqual(
                collections.Counter(row["state"] for row in rows.values()),
                {"sent": 150, "excluded": 35, "error": 2 + 8 + 6},
            )

        # finalized: done, and nothing can change any more
        self.server.rpc("serial.correspondence", "action_finalize", [correspondence_id])
        self.assertEqual(self._state(correspondence_id), "done")
        with self.assertRaisesRegex(xmlrpc.client.Fault, "finalized"):
            self.server.rpc(
                "serial.correspondence",
                "write",
                [correspondence_id],
                {"subject": "Noch einmal"},
            )
        with self.assertRaisesRegex(xmlrpc.client.Fault, "cannot be sent"):
            self.server.rpc("serial.correspondence", "action_send", [correspondence_id])
        with self.server.log_on_failure():
            self.assertEqual(self._state(correspondence_id), "done")
            self.assertEqual(
                self.server.sql_value(
                    "SELECT count(*) FROM queue_job WHERE method_name = %s"
                    " AND state != 'done'",
                    [SEND_METHOD],
                ),
                0,
                "send jobs left over",
            )
            self.assertEqual(sum(received(self.sink).values()), 150)
            # a refusal is the recipient's outcome, not an error of the server
            errors = self._unexpected_log_errors()
            self.assertFalse(errors, "errors in the server log:\n" + "\n".join(errors))
        _logger.info(
            "e2e send: %s recipients sent to in %.1fs, test %.1fs",
            len(recipients),
            sent_in,
            time.monotonic() - started,
        )

    # -- B: killed while sending ----------------------------------------------

    def _kill(self, correspondence_id, label):
        """Kill the server (SIGKILL, the whole process group); return what the
        kill left: the recipients claimed without outcome, the jobs running."""
        self.server.kill(signal.SIGKILL)
        running = {
            uuid
            for (uuid,) in self.server.sql(
                "SELECT uuid FROM queue_job WHERE method_name = %s"
                " AND state IN ('enqueued', 'started')",
                [SEND_METHOD],
            )
        }
        kill = {
            "label": label,
            "received": self.sink.count(),
            "claimed": self._claimed_without_outcome(correspondence_id),
            "running": running,
            "state": self._state(correspondence_id),
        }
        # whether the message of the interrupted delivery arrived (both can be)
        kill["claimed_arrived"] = [
            self._arrived(address)
            for (address,) in self.server.sql(
                "SELECT lower(p.email) FROM serial_correspondence_recipient r"
                " JOIN res_partner p ON p.id = r.partner_id WHERE r.id = ANY(%s)",
                [list(kill["claimed"])],
            )
        ]
        _logger.info("e2e send: killed %s", kill)
        with self.server.log_on_failure():
            # the invariant: the outcome of one delivery at most is unknown
            self.assertLessEqual(len(kill["claimed"]), 1, kill)
            self.assertIn(kill["state"], ("in_progress", "waiting"), kill)
        return kill

    def _kill_when(self, correspondence_id, label, condition, what):
        """Kill the server as soon as ``condition()`` holds (polled often)."""

        def hit():
            if self._state(correspondence_id) not in ("in_progress", "waiting"):
                raise E2EError(f"sending ended before the kill point {label}: {what}")
            return condition()

        value = self.server.wait_for(hit, self.send_timeout, what, interval=0.005)
        kill = self._kill(correspondence_id, label)
        kill["seen"] = value
        return kill

    def _arrived(self, address):
        """Whether the sink stored a message to ``address`` (by file name:
        cheap enough to ask every few milliseconds)."""
        return any(path.name.endswith(f"-{address}.eml") for path in self.sink.paths())

    def _restart(self):
        self.server.wait_dead_jobs_requeueable()
        self.server.start()

    def test_server_killed_while_sending_never_sends_twice_nor_loses_anyone(self):
        started = time.monotonic()
        self._start()
        town = "Absturzhausen"
        contacts = 300
        partner_ids = self.server.insert_partners(
            contacts, town, name_prefix="E2E Absturz", email_domain="example.org"
        )
        self.server.sql(
            "UPDATE res_partner SET email_advertising_consent = 'granted'"
            " WHERE id = ANY(%s)",
            [partner_ids],
        )
        # small batches and slices: the kills hit different jobs
        for name, value in (("send_batch_size", "20"), ("send_slice_seconds", "3")):
            self.server.rpc(
                "ir.config_parameter",
                "set_param",
                f"serial_correspondence.{name}",
                value,
            )
        correspondence_id = self._create_ready_email(town)
        # every message waits a moment for its "250": a kill right after a
        # message arrived hits a delivery the server does not know about yet
        self.sink.handler.delay_after = 0.03
        self.server.rpc("serial.correspondence", "action_send", [correspondence_id])

        kills = []
        # 1. right after the 40th message arrived
        kills.append(
            self._kill_when(
                correspondence_id,
                "after 40 messages",
                lambda: self.sink.count() >= 40 or None,
                "40 messages received",
            )
        )
        self._restart()

        # 2. right after a claim was committed, before its message arrived:
        # the sink holds the next message back for a while before storing it
        self._wait_state(
            correspondence_id, ("in_progress",), 60, "sending to go on after restart"
        )
        self.server.wait_for(
            lambda: self.sink.count() >= 110, self.send_timeout, "110 messages received"
        )
        self.sink.handler.delay_before = 1.0
        emails = {
            row["id"]: row["email"]
            for row in self._recipients(correspondence_id).values()
        }

        def claimed_not_delivered():
            claimed = self._claimed_without_outcome(correspondence_id)
            if claimed and not self._arrived(emails[min(claimed)]):
                return claimed
            return None

        kill = self._kill_when(
            correspondence_id,
            "right after a claim",
            claimed_not_delivered,
            "a claim whose message has not arrived",
        )
        kills.append(kill)
        self.sink.handler.delay_before = 0.0
        with self.server.log_on_failure():
            self.assertEqual(
                kill["claimed"], kill["seen"], "the claim seen is the one left"
            )
            [claimed_id] = kill["claimed"]
            self.assertFalse(self._arrived(emails[claimed_id]))
        self._restart()

        # 3. right after the 200th message arrived
        kills.append(
            self._kill_when(
                correspondence_id,
                "after 200 messages",
                lambda: self.sink.count() >= 200 or None,
                "200 messages received",
            )
        )
        self._restart()

        outcome = self._wait_outcome(correspondence_id)
        with self.server.log_on_failure():
            self._assert_never_twice_never_lost(
                correspondence_id, contacts, kills, outcome
            )

        # "Send e-mails" again: the unknown deliveries are not repeated
        if outcome == "send_failed":
            received_before = self.sink.count()
            self.server.rpc("serial.correspondence", "action_send", [correspondence_id])
            outcome = self._wait_outcome(correspondence_id)
            with self.server.log_on_failure():
                self.assertEqual(outcome, "send_failed")
                self.assertEqual(
                    self.sink.count(), received_before, "nothing sent twice"
                )
                unknown = [
                    row
                    for row in self._recipients(correspondence_id).values()
                    if row["state"] == "error"
                ]
                self.assertEqual(
                    {row["id"] for row in unknown},
                    set().union(*(kill["claimed"] for kill in kills)),
                )
        _logger.info(
            "e2e send: %s contacts, %s kills, test %.1fs",
            contacts,
            len(kills),
            time.monotonic() - started,
        )

    def _assert_never_twice_never_lost(
        self, correspondence_id, contacts, kills, outcome
    ):
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

        # never twice
        twice = {address: n for address, n in counts.items() if n > 1}
        self.assertFalse(twice, f"received more than once: {twice}\n{summary}")
        # nobody else
        self.assertLessEqual(set(counts), {row["email"] for row in rows}, summary)
        # never lost: everybody has an outcome, sent or unknown
        self.assertEqual(len(rows), contacts, summary)
        self.assertLessEqual(set(by_state), {"sent", "error"}, summary)
        for row in by_state["sent"]:
            self.assertEqual(
                counts[row["email"]], 1, f"sent to {row['email']}\n{summary}"
            )
            self.assertTrue(row["message"], row)
            self.assertFalse(row["started"], row)
        # "unknown" are exactly the deliveries a kill interrupted, one per kill
        # at most; their message may have arrived, never twice
        interrupted = set().union(*(kill["claimed"] for kill in kills))
        self.assertEqual({row["id"] for row in by_state["error"]}, interrupted, summary)
        for row in by_state["error"]:
            self.assertTrue(row["reason"].startswith(UNKNOWN), row)
            # the mark stays: it keeps them out of "Send e-mails" again
            self.assertTrue(row["started"], row)
        unknown_delivered = sum(counts[row["email"]] for row in by_state["error"])
        self.assertEqual(
            sum(counts.values()), len(by_state["sent"]) + unknown_delivered, summary
        )
        # the totals: outcome, counters, chatter, the sending budget's log
        self.assertEqual(
            outcome, "send_failed" if interrupted else "done_auto", summary
        )
        [record] = self.server.rpc(
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
            (len(by_state["sent"]), len(interrupted), 0, 0),
        )
        finished = self.server.sql(
            "SELECT body FROM mail_message WHERE model = 'serial.correspondence'"
            " AND res_id = %s AND body LIKE %s",
            [correspondence_id, "%Sending finished%"],
        )
        self.assertEqual(len(finished), 1, finished)
        self.assertIn(
            f"Sending finished: {len(by_state['sent'])} sent, 0 excluded, "
            f"{len(interrupted)} with errors.",
            finished[0][0],
        )
        self.assertEqual(
            self.server.sql_value(
                "SELECT count(*) FROM serial_correspondence_send_log"
                " WHERE correspondence_id = %s",
                [correspondence_id],
            ),
            contacts,
            "one e-mail of the budget per delivery started",
        )
        # the jobs: each one killed while running was requeued and ended
        for kill in kills:
            for uuid in kill["running"]:
                self.assertTrue(
                    self.server.log_lines(f"Re-queued dead job with uuid: {uuid}"),
                    f"queue_job's runner did not requeue the killed job {uuid}",
                )
        self.assertEqual(
            dict(
                self.server.sql(
                    "SELECT state, count(*) FROM queue_job WHERE method_name = %s"
                    " GROUP BY state",
                    [SEND_METHOD],
                )
            ).keys(),
            {"done"},
        )
        errors = self._unexpected_log_errors()
        self.assertFalse(errors, "errors in the server log:\n" + "\n".join(errors))
