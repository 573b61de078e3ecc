# Copyright 2026 serial_correspondence authors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""The SMTP delivery (``tools/smtp_delivery.py``) against the real SMTP sink
(``testing/smtp_sink.py``), in this process: what goes over the wire, what
the server's answers become, and the hand-over in two halves."""

from unittest.mock import patch

from odoo.tests import tagged
from odoo.tools import formataddr

from odoo.addons.base.models.ir_mail_server import MailDeliveryException

from ..tools.smtp_delivery import (
    OutgoingEmail,
    SmtpDelivery,
    _same_message,
    email_domain,
    smtp_answer,
)
from .common import SerialCorrespondenceCase

SENDER = "Verein <verein@example.com>"


@tagged("post_install", "-at_install")
class TestSmtpDelivery(SerialCorrespondenceCase):
    def delivery(self):
        delivery = SmtpDelivery(self.env["ir.mail_server"], SENDER)
        self.addCleanup(delivery.close)
        return delivery

    def email(self, address="anna@example.com", body="<p>Hallo Anna</p>"):
        return OutgoingEmail(
            recipient_id=0,
            partner_id=self.partners[0].id,
            record_name="Anna",
            email_to=f"Anna <{address}>",
            domain=email_domain(address),
            subject="Rundschreiben",
            body=body,
            headers={},
        )

    def deliver(self, delivery, email):
        """Prepare, hand over and finish ``email``: what a send job does."""
        delivery.session()
        delivery.prepare(email)
        delivery.hand_over(email)
        delivery.finish(email)

    def refuse(self, address, at="rcpt"):
        self.sink.refuse(address, at=at)
        self.addCleanup(self.sink.accept, address)

    def assertArrived(self, email, received):
        """``received`` (the sink's) is ``email`` as the delivery built it:
        the same envelope, the same bytes."""
        smtp_from, smtp_to_list, data, _options = email.envelope
        self.assertEqual(received.mail_from, smtp_from)
        self.assertEqual(list(received.rcpt_tos), smtp_to_list)
        self.assertEqual(received.content.rstrip(b"\r\n"), data.rstrip(b"\r\n"))

    def assertRefused(self, raised, code, text):
        """``raised`` is the delivery error of Odoo's ``send_email``, with the
        server's code and text."""
        self.assertIsInstance(raised.exception, MailDeliveryException)
        answer_code, answer = smtp_answer(raised.exception)
        self.assertEqual(answer_code, code)
        self.assertIn(text, answer)
        self.assertTrue(answer.startswith(str(code)), answer)

    # -- what goes over the wire -------------------------------------------

    def test_lines_starting_with_a_dot_arrive_intact(self):
        body = "<pre>Erste Zeile\n.\n..zwei Punkte\n.Punkt\n</pre>"
        email = self.email(body=body)
        delivery = self.delivery()
        self.deliver(delivery, email)
        data = email.envelope[2]
        # a line of one dot would end the message early without dot-stuffing
        self.assertIn(b"\r\n.\r\n", data)
        self.assertIn(b"\r\n..zwei Punkte\r\n", data)
        (received,) = self.sink.envelopes()
        self.assertArrived(email, received)
        (message,) = self.sink.messages()
        html = message.get_body(("html",)).get_content()
        self.assertIn(".\n..zwei Punkte\n.Punkt\n", html.replace("\r\n", "\n"))

    def test_envelope_as_the_server_saw_it(self):
        email = self.email("bernd.beispiel@example.com")
        delivery = self.delivery()
        self.deliver(delivery, email)
        smtp_from, smtp_to_list, _data, _options = email.envelope
        self.assertEqual(smtp_to_list, ["bernd.beispiel@example.com"])
        self.assertTrue(smtp_from)
        (received,) = self.sink.envelopes()
        self.assertEqual(received.mail_from, smtp_from)
        self.assertEqual(received.rcpt_tos, ("bernd.beispiel@example.com",))
        self.assertArrived(email, received)
        (message,) = self.sink.messages()
        self.assertEqual(message["Return-Path"], f"<{smtp_from}>")
        self.assertEqual(message["Delivered-To"], "bernd.beispiel@example.com")
        self.assertEqual(message["Message-Id"], email.message_id)
        self.assertEqual(message["Subject"], "Rundschreiben")

    # -- refusals ------------------------------------------------------------

    def test_permanent_refusal_of_a_recipient(self):
        self.refuse("niemand@example.com")
        delivery = self.delivery()
        refused = self.email("niemand@example.com")
        delivery.session()
        delivery.prepare(refused)
        with self.assertRaises(MailDeliveryException) as raised:
            delivery.hand_over(refused)
        self.assertRefused(
            raised, 550, "5.1.1 <niemand@example.com>: recipient refused"
        )
        self.assertFalse(self.sink.envelopes())
        # the session was reset and goes on: the next one is delivered
        accepted = self.email()
        self.deliver(delivery, accepted)
        (received,) = self.sink.envelopes()
        self.assertArrived(accepted, received)

    def test_permanent_refusal_after_the_message(self):
        self.refuse("filter@example.com", at="data")
        delivery = self.delivery()
        refused = self.email("filter@example.com")
        delivery.session()
        delivery.prepare(refused)
        delivery.hand_over(refused)
        with self.assertRaises(MailDeliveryException) as raised:
            delivery.finish(refused)
        self.assertRefused(raised, 554, "5.6.0 message refused by the SMTP sink")
        self.assertFalse(self.sink.envelopes())
        accepted = self.email()
        self.deliver(delivery, accepted)
        self.assertEqual(len(self.sink.envelopes()), 1)

    def test_temporary_refusal_is_a_4xx_answer_and_the_session_goes_on(self):
        delivery = self.delivery()
        first = self.email()
        self.deliver(delivery, first)
        (before,) = self.sink.envelopes()
        tempfailed = self.sink.tempfailed
        for stage in ("mail", "rcpt", "data"):
            with self.subTest(stage=stage):
                self.sink.tempfail(60, 451, stage)
                email = self.email()
                delivery.session()
                delivery.prepare(email)
                with self.assertRaises(MailDeliveryException) as raised:
                    delivery.hand_over(email)
                    delivery.finish(email)
                self.assertRefused(raised, 451, "try again later")
                self.sink.tempfail(0)
        self.assertEqual(self.sink.tempfailed - tempfailed, 3)
        # the same connection delivers once the server accepts again
        last = self.email()
        self.deliver(delivery, last)
        received = self.sink.envelopes()
        self.assertEqual(len(received), 2)
        self.assertArrived(last, received[1])
        self.assertEqual(received[1].peer, before.peer)

    def test_421_closes_the_connection_and_the_next_use_reconnects(self):
        delivery = self.delivery()
        for stage in ("mail", "rcpt", "data"):
            with self.subTest(stage=stage):
                self.sink.clear()
                first = self.email()
                self.deliver(delivery, first)
                (before,) = self.sink.envelopes()
                self.sink.tempfail(60, 421, stage)
                email = self.email()
                delivery.session()
                delivery.prepare(email)
                with self.assertRaises(MailDeliveryException) as raised:
                    delivery.hand_over(email)
                    delivery.finish(email)
                self.assertRefused(raised, 421, "closing")
                self.sink.tempfail(0)
                again = self.email()
                self.deliver(delivery, again)
                received = self.sink.envelopes()
                self.assertEqual(len(received), 2)
                self.assertArrived(again, received[1])
                self.assertNotEqual(received[1].peer, before.peer)

    # -- the hand-over in two halves -----------------------------------------

    def test_pipelined_hand_over(self):
        delivery = self.delivery()
        first = self.email("anna@example.com", "<p>Erste</p>")
        second = self.email("bernd@example.com", "<p>Zweite</p>")
        delivery.session()
        delivery.prepare(first)
        delivery.hand_over(first)
        # while the server takes in the first message, the second is built
        delivery.prepare(second, quiet=True)
        self.assertIsNotNone(second.envelope)
        delivery.finish(first)
        delivery.hand_over(second)
        delivery.finish(second)
        received = self.sink.envelopes()
        self.assertEqual(len(received), 2)
        self.assertArrived(first, received[0])
        self.assertArrived(second, received[1])
        self.assertEqual(received[0].peer, received[1].peer, "one connection")
        self.assertEqual(
            [message["To"] for message in self.sink.messages()],
            ["Anna <anna@example.com>", "Anna <bernd@example.com>"],
        )

    # -- the messages after the first ones: written from the skeleton --------

    def test_messages_from_the_skeleton_are_the_messages_odoo_builds(self):
        """From the third message of a session on, the message is written from
        what the first ones had in common: the same bytes as Odoo's own
        build (but the random boundaries and the date), for names, subjects
        and bodies that take every encoding, with attachments and the
        e-mail's own headers."""
        cases = [
            ("Jürgen Müller", "juergen@example.com", "Hallo Jürgen", "<p>Grüße</p>"),
            ("Anna", "anna@example.com", "Rundschreiben", "<p>Hallo Anna</p>"),
            ('Ann"a, B.', "a.b@example.com", "x" * 200, "<p>" + "lang " * 300),
            ("Иван Петров", "ivan@example.com", "Привет " * 20, "<p>Привет</p>" * 99),
            ("Jörg", "jörg@example.com", "Hi", "<pre>Eins\n.\n..zwei\n.Punkt</pre>"),
            ("Zoë", "zoe@bücher.example", "Subj\u00e9", "<p>a\r\n.\r\nb</p>"),
            ("", "leer@example.com", "", ""),
            ("A" * 100, "a@example.com", "=?utf-8?q?x?= 😀", "<p>😀</p>" * 50),
        ]
        flyer = self.env["ir.attachment"].create(
            {"name": "Programm ü.pdf", "raw": b"%PDF-1.4\n" * 99}
        )
        headers = {
            "List-Unsubscribe": "<https://example.com/serial_correspondence/"
            "unsubscribe/1?token=" + "a" * 64 + ">",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
        }
        for attachments, own_headers in ((None, {}), (flyer, headers)):
            with self.subTest(attachments=bool(attachments)):
                delivery = SmtpDelivery(
                    self.env["ir.mail_server"], SENDER, attachments=attachments
                )
                self.addCleanup(delivery.close)
                delivery.session()
                for name, address, subject, body in cases * 2:
                    email = self.email(address, body)
                    email.email_to = formataddr((name, address))
                    email.subject = subject
                    email.headers = dict(own_headers)
                    delivery.prepare(email)
                    self.assertTrue(
                        _same_message(email.envelope, delivery._odoo_envelope(email)),
                        f"{name} <{address}>",
                    )
                self.assertIsNotNone(delivery._skeleton, "the skeleton was used")
                for email in cases[:2]:
                    self.deliver(delivery, self.email(email[1], email[3]))
        messages = self.sink.messages()
        self.assertEqual(len(messages), 4)
        self.assertEqual(
            [
                message.get_body(("html",)).get_content().rstrip()
                for message in messages
            ],
            ["<p>Grüße</p>", "<p>Hallo Anna</p>"] * 2,
        )
        self.assertEqual(
            [part.get_filename() for part in messages[3].iter_attachments()],
            ["Programm ü.pdf"],
        )

    def test_an_override_that_changes_more_per_recipient_keeps_odoos_build(self):
        """A message the skeleton would write otherwise than Odoo (here a
        header an override adds per recipient) is built by Odoo."""
        delivery = self.delivery()
        delivery.session()
        build_email = type(self.env["ir.mail_server"]).build_email

        def build_with_header(server, *args, **kwargs):
            message = build_email(server, *args, **kwargs)
            message["X-Empfaenger"] = kwargs["email_to"][0]
            return message

        emails = [self.email(f"person{number}@example.com") for number in range(4)]
        with patch.object(
            type(self.env["ir.mail_server"]), "build_email", build_with_header
        ):
            for email in emails:
                delivery.prepare(email)
        self.assertIsNone(delivery._skeleton)
        for number, email in enumerate(emails):
            self.assertIn(
                f"X-Empfaenger: Anna <person{number}@example.com>".encode(),
                email.envelope[2],
            )


@tagged("post_install", "-at_install")
class TestSendJobDelivers(SerialCorrespondenceCase):
    """A send job of these tests hands its e-mails to the real sink."""

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

    def ready_email(self, partners):
        record = self.create_correspondence(
            kind="email",
            purpose="information",
            subject="Hallo {{ object.name }}",
            template_id=self.template.id,
            email_from=SENDER,
            partner_domain=repr([("id", "in", partners.ids)]),
        )
        self.run_jobs(record)
        self.assertEqual(record.state, "ready")
        return record

    def test_every_sent_recipient_is_delivered_once(self):
        partners = self.partners[:3]
        record = self.ready_email(partners)
        record.action_send()
        self.run_jobs(record)
        self.assertEqual(record.sent_count, 3)
        received = self.sink.envelopes()
        self.assertEqual(
            sorted(address for r in received for address in r.rcpt_tos),
            sorted(partners.mapped("email")),
        )
        self.assertEqual(len({r.peer for r in received}), 1, "one connection")
        for message in self.sink.messages():
            self.assertTrue(message["Subject"].startswith("Hallo Kontakt"))
            self.assertIn(
                message["Message-Id"],
                record.recipient_ids.message_id.mapped("message_id"),
            )

    def test_refused_recipient_gets_the_servers_answer(self):
        partners = self.partners[:2]
        self.sink.refuse(partners[0].email)
        self.addCleanup(self.sink.accept, partners[0].email)
        record = self.ready_email(partners)
        record.action_send()
        self.run_jobs(record)
        refused, accepted = (
            record.recipient_ids.filtered(lambda r, p=p: r.partner_id == p)
            for p in partners
        )
        self.assertEqual(refused.state, "error")
        self.assertIn("550 5.1.1", refused.reason)
        self.assertEqual(accepted.state, "sent")
        self.assertEqual(
            [r.rcpt_tos for r in self.sink.envelopes()], [(partners[1].email,)]
        )

    def test_temporary_refusal_waits_and_sends_later(self):
        partners = self.partners[:2]
        record = self.ready_email(partners)
        self.sink.tempfail(600, 451, "rcpt")
        tempfailed = self.sink.tempfailed
        record.action_send()
        self.run_jobs(record)
        self.assertEqual(record.state, "waiting")
        self.assertIn("451", record.waiting_reason)
        self.assertEqual(set(record.recipient_ids.mapped("state")), {"pending"})
        self.assertFalse(self.sink.envelopes())
        self.assertEqual(self.sink.tempfailed - tempfailed, 1)
        # the server accepts again; the planned job goes on
        self.sink.tempfail(0)
        (job,) = self.queued_jobs(record, include_planned=True)
        self.perform_job(job)
        self.run_jobs(record)
        self.assertEqual(record.sent_count, 2)
        self.assertEqual(len(self.sink.envelopes()), 2)
