# Copyright 2026 serial_correspondence authors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""The mail server fails: each fault ends as a clear waiting reason or a
clear recipient error, never as a duplicate, nothing lost (issue #14, 3 and
the SMTPUTF8/IDN cases of 5).

The send job runs for real (queue_job, its own transaction) against real
SMTP servers on loopback: the aiosmtpd sink (``testing/smtp_sink.py``, with
a login or without SMTPUTF8) and a raw-socket server that resets or stalls
where aiosmtpd cannot (``testing/smtp_faults.py``)."""

import base64
import os
import tempfile
import time

from odoo.tests import tagged

from odoo.addons.base.models.ir_mail_server import SMTP_TIMEOUT

from ..testing import smtp_faults, smtp_sink
from ..tools.smtp_delivery import SmtpDelivery
from .common import SINK_HOST, SINK_SERVER, SerialCorrespondenceCase
from .test_smtp_delivery import SENDER

# the timeout these tests give the send job (system parameter)
TIMEOUT = 1.5
# larger than the socket buffers between the job and a server that stops
# reading (client send buffer at most 4 MiB, the server's receive window
# fixed at 16 KiB): the job is still sending when the server resets
LARGE_ATTACHMENT = 6 * 1024 * 1024


@tagged("post_install", "-at_install")
class TestMailServerFaults(SerialCorrespondenceCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.template = cls.env["mail.template"].create(
            {
                "name": "Rundschreiben",
                "model_id": cls.env.ref("base.model_res_partner").id,
                "body_html": "<p>Hallo <t t-out='object.name'/></p>",
            }
        )
        cls.mail_server = (
            cls.env["ir.mail_server"].sudo().search([("name", "=", SINK_SERVER)])
        )
        cls.env["ir.config_parameter"].sudo().set_param(
            "serial_correspondence.smtp_timeout_seconds", str(TIMEOUT)
        )

    # -- helpers -----------------------------------------------------------

    def use_server(self, port, **values):
        """Send through the server on ``port`` (loopback) from now on."""
        self.mail_server.write({"smtp_host": SINK_HOST, "smtp_port": port, **values})

    def faulty_server(self, fault, faults=1, **options):
        server = smtp_faults.FaultySmtpServer(
            SINK_HOST, fault=fault, faults=faults, **options
        ).start()
        self.addCleanup(server.stop)
        self.use_server(server.port)
        return server

    def other_sink(self, **options):
        directory = tempfile.TemporaryDirectory(prefix="sc_smtp_sink_")
        self.addCleanup(directory.cleanup)
        sink = smtp_sink.start(SINK_HOST, 0, directory.name, **options)
        self.addCleanup(sink.stop)
        self.use_server(sink.port)
        return sink

    def ready_email(self, partners, attachment_size=0):
        template = self.template
        if attachment_size:
            template = self.template.copy()
            template.attachment_ids = self.env["ir.attachment"].create(
                {
                    "name": "anhang.bin",
                    "datas": base64.b64encode(os.urandom(attachment_size)),
                    "res_model": "mail.template",
                    "res_id": template.id,
                }
            )
        record = self.create_correspondence(
            kind="email",
            purpose="information",
            subject="Hallo {{ object.name }}",
            template_id=template.id,
            email_from=SENDER,
            partner_domain=repr([("id", "in", partners.ids)]),
        )
        self.run_jobs(record)
        self.assertEqual(record.state, "ready")
        return record

    def recipient(self, record, partner):
        return record.recipient_ids.filtered(lambda r: r.partner_id == partner)

    def send(self, record):
        """Send e-mails and run the jobs due now; return how long it took."""
        started = time.monotonic()
        record.action_send()
        self.run_jobs(record)
        return time.monotonic() - started

    def resume(self, record):
        """Run the job planned after a wait now (as the runner will at its
        time), and the ones it queues."""
        self.assertEqual(record.state, "waiting")
        (job,) = self.queued_jobs(record, include_planned=True)
        self.perform_job(job)
        self.run_jobs(record)

    def assertWaiting(self, record, *texts):
        """``record`` waits with a planned job and a reason with ``texts``;
        nobody is in error and nobody was lost."""
        self.assertEqual(record.state, "waiting")
        self.assertTrue(record.resume_at)
        self.assertEqual(
            len(self.queued_jobs(record, include_planned=True)), 1, "one job planned"
        )
        for text in texts:
            self.assertIn(text, record.waiting_reason)
        self.assertFalse(record.recipient_ids.filtered(lambda r: r.state == "error"))
        self.assertEqual(
            set(record.recipient_ids.mapped("state")) - {"sent"}, {"pending"}
        )
        self.assertFalse(
            record.recipient_ids.filtered(
                lambda r: r.state == "pending" and r.send_started_at
            ),
            "no claim left behind",
        )

    # -- 1. connection reset during DATA -----------------------------------

    def test_reset_before_the_final_dot_is_sent_later_exactly_once(self):
        partners = self.partners[:2]
        record = self.ready_email(partners, attachment_size=LARGE_ATTACHMENT)
        server = self.faulty_server("reset_in_data")
        self.send(record)
        # the server reset while the job was still sending the message
        self.assertEqual(len(server.partial), 1)
        self.assertFalse(server.delivered)
        self.assertWaiting(record, "connection", "was lost before an e-mail")
        self.assertEqual(record.sent_count, 0)
        self.resume(record)
        self.assertEqual(record.state, "done_auto")
        self.assertEqual(record.sent_count, 2)
        self.assertEqual(sorted(server.recipients()), sorted(partners.mapped("email")))
        self.assertTrue(all(delivery.answered for delivery in server.delivered))

    def test_reset_after_the_final_dot_is_delivery_unknown_never_twice(self):
        partners = self.partners[:3]
        record = self.ready_email(partners)
        server = self.faulty_server("reset_after_dot")
        self.send(record)
        # the server has the first message but never said so
        (first,) = server.delivered
        self.assertFalse(first.answered)
        (unknown_partner,) = partners.filtered(lambda p: p.email in first.rcpt_tos)
        unknown = self.recipient(record, unknown_partner)
        self.assertEqual(unknown.state, "error")
        self.assertIn("Delivery unknown", unknown.reason)
        self.assertTrue(unknown.send_started_at, "keeps its claim")
        self.assertEqual(record.state, "waiting")
        self.assertIn("did not confirm an e-mail", record.waiting_reason)
        self.assertIn("Delivery unknown", record.waiting_reason)
        self.resume(record)
        self.assertEqual(record.sent_count, 2)
        self.assertEqual(record.error_count, 1)
        self.assertEqual(record.state, "send_failed")
        # every recipient once: the unknown one is not sent again
        self.assertEqual(sorted(server.recipients()), sorted(partners.mapped("email")))
        # nor by "Send e-mails" again
        record.action_send()
        self.run_jobs(record)
        self.assertEqual(sorted(server.recipients()), sorted(partners.mapped("email")))
        self.assertEqual(unknown.state, "error")
        self.assertEqual(record.state, "send_failed")

    # -- 2. a server that stalls ----------------------------------------------

    def test_server_silent_at_greeting_waits_after_the_timeout(self):
        partners = self.partners[:2]
        record = self.ready_email(partners)
        server = self.faulty_server("stall_greeting")
        took = self.send(record)
        self.assertLess(took, 30, "the job does not hang")
        self.assertWaiting(
            record,
            f"did not answer within {TIMEOUT:g} seconds",
            "serial_correspondence.smtp_timeout_seconds",
        )
        self.assertEqual(server.connections, 1)
        self.resume(record)
        self.assertEqual(record.state, "done_auto")
        self.assertEqual(sorted(server.recipients()), sorted(partners.mapped("email")))

    def test_server_stalling_in_the_middle_of_data_waits_and_sends_later(self):
        partners = self.partners[:2]
        record = self.ready_email(partners, attachment_size=LARGE_ATTACHMENT)
        server = self.faulty_server("stall_in_data")
        took = self.send(record)
        self.assertLess(took, 60, "the job does not hang")
        self.assertEqual(len(server.partial), 1)
        self.assertFalse(server.delivered)
        self.assertWaiting(record, f"did not answer within {TIMEOUT:g} seconds")
        self.resume(record)
        self.assertEqual(record.state, "done_auto")
        self.assertEqual(sorted(server.recipients()), sorted(partners.mapped("email")))

    def test_server_silent_after_the_final_dot_is_delivery_unknown(self):
        partners = self.partners[:2]
        record = self.ready_email(partners)
        server = self.faulty_server("stall_after_dot")
        took = self.send(record)
        self.assertLess(took, 30, "the job does not hang")
        (first,) = server.delivered
        (unknown_partner,) = partners.filtered(lambda p: p.email in first.rcpt_tos)
        unknown = self.recipient(record, unknown_partner)
        self.assertEqual(unknown.state, "error")
        self.assertIn("Delivery unknown", unknown.reason)
        self.assertIn("did not confirm an e-mail", record.waiting_reason)
        self.resume(record)
        self.assertEqual(record.sent_count, 1)
        self.assertEqual(sorted(server.recipients()), sorted(partners.mapped("email")))

    def test_timeout_applies_to_send_runs_only(self):
        Server = self.env["ir.mail_server"].sudo()
        delivery = SmtpDelivery(Server, SENDER)
        self.addCleanup(delivery.close)
        self.assertEqual(delivery.timeout(), TIMEOUT)
        sock = delivery.session().__obj__.sock
        self.assertEqual(sock.gettimeout(), TIMEOUT)
        # Odoo's own connections keep Odoo's timeout
        connection = Server.connect(mail_server_id=self.mail_server.id)
        self.addCleanup(connection.quit)
        self.assertEqual(connection.__obj__.sock.gettimeout(), SMTP_TIMEOUT)
        # without the setting (or with nonsense): Odoo's
        Param = self.env["ir.config_parameter"].sudo()
        for value in ("", "soon", "nan"):
            Param.set_param("serial_correspondence.smtp_timeout_seconds", value)
            self.assertEqual(delivery.timeout(), SMTP_TIMEOUT)
        # never "forever", never 0 (which would make the socket non-blocking)
        Param.set_param("serial_correspondence.smtp_timeout_seconds", "1e9")
        self.assertEqual(delivery.timeout(), 3600)
        Param.set_param("serial_correspondence.smtp_timeout_seconds", "0")
        self.assertGreater(delivery.timeout(), 0)

    # -- 3. TLS required but not offered ---------------------------------------

    def test_starttls_required_but_not_offered_waits_with_the_fix(self):
        partners = self.partners[:2]
        record = self.ready_email(partners)
        # the class's sink offers no STARTTLS
        self.use_server(self.sink.port, smtp_encryption="starttls")
        self.send(record)
        self.assertWaiting(
            record, "does not offer an encrypted connection (STARTTLS)", "Outgoing"
        )
        self.assertFalse(self.sink.envelopes(), "nothing sent in clear text")
        # the administrator fixes the setting; the planned job goes on
        self.mail_server.smtp_encryption = "none"
        self.resume(record)
        self.assertEqual(record.state, "done_auto")
        self.assertEqual(len(self.sink.envelopes()), 2)

    # -- 4. authentication ------------------------------------------------------

    def test_login_refused_535_waits_with_the_fix(self):
        partners = self.partners[:2]
        record = self.ready_email(partners)
        sink = self.other_sink(auth=("verein", "geheim"))
        self.mail_server.write({"smtp_user": "verein", "smtp_pass": "falsch"})
        self.send(record)
        self.assertWaiting(record, "refused the login", "535", "user name and password")
        self.assertFalse(sink.envelopes())
        self.mail_server.smtp_pass = "geheim"
        self.resume(record)
        self.assertEqual(record.state, "done_auto")
        self.assertEqual(
            sorted(a for r in sink.envelopes() for a in r.rcpt_tos),
            sorted(partners.mapped("email")),
        )

    def test_login_required_530_is_no_recipients_error(self):
        partners = self.partners[:3]
        record = self.ready_email(partners)
        sink = self.other_sink(auth=("verein", "geheim"))
        self.send(record)
        # not three recipient errors: the whole run waits for the login
        self.assertWaiting(record, "requires a login", "530", "user name and password")
        self.assertFalse(sink.envelopes())
        self.mail_server.write({"smtp_user": "verein", "smtp_pass": "geheim"})
        self.resume(record)
        self.assertEqual(record.state, "done_auto")
        self.assertEqual(len(sink.envelopes()), 3)

    def test_user_name_without_login_offered_waits_with_the_fix(self):
        partners = self.partners[:1]
        record = self.ready_email(partners)
        # the class's sink offers no AUTH
        self.mail_server.write({"smtp_user": "verein", "smtp_pass": "geheim"})
        self.send(record)
        self.assertWaiting(record, "does not offer a login (SMTP AUTH)")
        self.assertFalse(self.sink.envelopes())

    def test_sender_refused_is_no_recipients_error(self):
        partners = self.partners[:3]
        record = self.ready_email(partners)
        self.sink.refuse_sender("verein@example.com")
        self.addCleanup(self.sink.accept, "verein@example.com")
        self.send(record)
        self.assertWaiting(
            record, "refused to take e-mails from verein@example.com", "553 5.7.1"
        )
        self.assertFalse(self.sink.envelopes())
        self.sink.accept("verein@example.com")
        self.resume(record)
        self.assertEqual(record.state, "done_auto")
        self.assertEqual(len(self.sink.envelopes()), 3)

    def test_temporary_refusal_of_the_sender_is_a_plain_retry(self):
        partners = self.partners[:2]
        record = self.ready_email(partners)
        self.sink.tempfail(600, 451, "mail")
        self.send(record)
        self.assertWaiting(record, "asked to try again later", "451")
        self.sink.tempfail(0)
        self.resume(record)
        self.assertEqual(record.state, "done_auto")
        self.assertEqual(len(self.sink.envelopes()), 2)

    def test_server_not_reachable_waits_with_the_fix(self):
        partners = self.partners[:1]
        record = self.ready_email(partners)
        port = smtp_sink.free_port(SINK_HOST)
        self.use_server(port)
        self.send(record)
        self.assertWaiting(record, "Cannot connect to the mail server", "host, port")
        # the server by its name: its host and port are the administrator's
        # (users who may read the correspondence read the reason)
        self.assertIn(f"'{self.mail_server.name}'", record.waiting_reason)
        self.assertNotIn(SINK_HOST, record.waiting_reason)
        self.assertNotIn(str(port), record.waiting_reason)

    # -- 5. internationalised addresses -------------------------------------

    def idn_partners(self):
        return self.Partner.create(
            [
                {"name": "Kontakt Bücher", "email": "kontakt@bücher.example"},
                {"name": "Jörg Müller", "email": "müller@bücher.example"},
                {"name": "Kontakt 99", "email": "kontakt99@example.com"},
            ]
        )

    def test_internationalised_addresses_with_smtputf8(self):
        idn, utf8, plain = partners = self.idn_partners()
        record = self.ready_email(partners)
        # the class's sink offers SMTPUTF8
        self.send(record)
        self.assertEqual(record.state, "done_auto")
        self.assertEqual(record.sent_count, 3)
        received = {r.rcpt_tos: r for r in self.sink.envelopes()}
        self.assertEqual(len(received), 3)
        # the domain in punycode, the local part in UTF-8 with SMTPUTF8
        punycode = ("kontakt@xn--bcher-kva.example",)
        self.assertIn(punycode, received)
        self.assertNotIn("SMTPUTF8", received[punycode].mail_options)
        utf8_rcpt = ("müller@xn--bcher-kva.example",)
        self.assertIn(utf8_rcpt, received)
        self.assertIn("SMTPUTF8", received[utf8_rcpt].mail_options)
        self.assertIn("BODY=8BITMIME", received[utf8_rcpt].mail_options)
        self.assertIn(
            'To: "Jörg Müller" <müller@xn--bcher-kva.example>'.encode(),
            self.header_of(received[utf8_rcpt]),
            "the To header in UTF-8",
        )
        self.assertIn(
            b"<kontakt@xn--bcher-kva.example>", self.header_of(received[punycode])
        )
        self.assertTrue(self.header_of(received[punycode]).isascii())
        self.assertIn((plain.email,), received)
        for partner in (idn, utf8):
            self.assertEqual(self.recipient(record, partner).state, "sent")

    def test_internationalised_addresses_without_smtputf8(self):
        idn, utf8, plain = partners = self.idn_partners()
        record = self.ready_email(partners)
        sink = self.other_sink(smtputf8=False)
        self.send(record)
        # a clear recipient error for the local part, no waiting loop
        self.assertEqual(record.state, "send_failed")
        refused = self.recipient(record, utf8)
        self.assertEqual(refused.state, "error")
        self.assertIn(
            "The address müller@bücher.example has characters other than ASCII "
            "before the @",
            refused.reason,
        )
        self.assertIn("SMTPUTF8", refused.reason)
        self.assertFalse(refused.send_started_at)
        # the IDN domain goes as punycode, without SMTPUTF8
        self.assertEqual(self.recipient(record, idn).state, "sent")
        self.assertEqual(self.recipient(record, plain).state, "sent")
        self.assertEqual(
            sorted(r.rcpt_tos for r in sink.envelopes()),
            sorted([("kontakt@xn--bcher-kva.example",), (plain.email,)]),
        )
        for received in sink.envelopes():
            self.assertNotIn("SMTPUTF8", received.mail_options)
            # headers in ASCII (the body may be 8-bit: 8BITMIME)
            self.assertTrue(self.header_of(received).isascii())
        (to_idn,) = (m["To"] for m in sink.messages() if "xn--" in m["Delivered-To"])
        self.assertIn("<kontakt@xn--bcher-kva.example>", to_idn)
        self.assertIn("Kontakt Bücher", to_idn)

    def test_internationalised_sender_without_smtputf8_waits_with_the_fix(self):
        partners = self.partners[:2]
        record = self.ready_email(partners)
        record.email_from = "Verein <vérein@example.com>"
        sink = self.other_sink(smtputf8=False)
        self.send(record)
        # not every recipient in error: the run waits for another sender
        self.assertWaiting(
            record, "The sender address vérein@example.com", "plain ASCII"
        )
        self.assertFalse(sink.envelopes())
        # the administrator sends through a mail server with SMTPUTF8
        self.use_server(self.sink.port)
        self.resume(record)
        self.assertEqual(record.state, "done_auto")
        self.assertEqual(
            [r.mail_from for r in self.sink.envelopes()], ["vérein@example.com"] * 2
        )

    def header_of(self, received):
        return received.content.split(b"\r\n\r\n", 1)[0]
