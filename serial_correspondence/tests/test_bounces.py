# Copyright 2026 serial_correspondence authors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""Bounces through Odoo's mail gateway, and the storm brake.

Real e-mails go to the SMTP sink; the bounces are real delivery status
notifications as Postfix, Exchange Online and Gmail send them (RFC 3464),
built around the e-mail the sink received, and fed to Odoo's gateway
(``mail.thread.message_process``) as fetchmail feeds it.
"""

import collections
import datetime
import email
import email.policy
import itertools
from unittest.mock import patch

from odoo.exceptions import UserError
from odoo.tests import tagged

from ..tools.dsn import read_delivery_report
from ..tools.smtp_delivery import SmtpDelivery
from ..tools.storm_brake import StormBrake
from .common import SerialCorrespondenceCase

BOUNCE_DOMAIN = "bounces.example.org"
BOUNCE_ADDRESS = f"bounce@{BOUNCE_DOMAIN}"
ORIGINAL = "@@ORIGINAL@@"

# Postfix: the returned e-mail attached whole (message/rfc822)
POSTFIX_FAILED = """\
Return-Path: <>
Delivered-To: {bounce}
Received: by mx.example.net (Postfix)
    id 92726A5F09; Mon, 30 Nov 2026 15:41:06 +0100 (CET)
Date: Mon, 30 Nov 2026 15:41:06 +0100 (CET)
From: MAILER-DAEMON@mx.example.net (Mail Delivery System)
Subject: Undelivered Mail Returned to Sender
To: {bounce}
Auto-Submitted: auto-replied
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status;
    boundary="92726A5F09.1764513666/mx.example.net"
Message-Id: <{dsn_id}@mx.example.net>

This is a MIME-encapsulated message.

--92726A5F09.1764513666/mx.example.net
Content-Description: Notification
Content-Type: text/plain; charset=us-ascii

This is the mail system at host mx.example.net.

I'm sorry to have to inform you that your message could not
be delivered to one or more recipients. It's attached below.

For further assistance, please send mail to postmaster.

If you do so, please include this problem report. You can
delete your own text from the attached returned message.

                   The mail system

<{rcpt}>: host mx.example.com[203.0.113.25] said: 550 5.1.1
    <{rcpt}>: Recipient address rejected: User unknown in virtual mailbox
    table (in reply to RCPT TO command)

--92726A5F09.1764513666/mx.example.net
Content-Description: Delivery report
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.example.net
X-Postfix-Queue-ID: 92726A5F09
X-Postfix-Sender: rfc822; {bounce}
Arrival-Date: Mon, 30 Nov 2026 15:40:24 +0100 (CET)

Final-Recipient: rfc822; {rcpt}
Original-Recipient: rfc822;{rcpt}
Action: failed
Status: 5.1.1
Remote-MTA: dns; mx.example.com
Diagnostic-Code: smtp; 550 5.1.1 <{rcpt}>: Recipient address rejected: User
    unknown in virtual mailbox table

--92726A5F09.1764513666/mx.example.net
Content-Description: Undelivered Message
Content-Type: message/rfc822

@@ORIGINAL@@
--92726A5F09.1764513666/mx.example.net--
"""

# Exchange Online: a non-delivery report with the returned e-mail attached
EXCHANGE_FAILED = """\
Received: from AM0PR01MB1234.eurprd01.prod.exchangelabs.com
 (2603:10a6:208:1::1) by AM0PR01MB5678.eurprd01.prod.exchangelabs.com with
 HTTPS; Mon, 30 Nov 2026 14:41:07 +0000
From: Microsoft Outlook
    <postmaster@contoso.onmicrosoft.com>
To: <{bounce}>
Date: Mon, 30 Nov 2026 14:41:07 +0000
Content-Type: multipart/report; report-type=delivery-status;
    boundary="1f8a3c6e-0b7d-4c1e-9a2f-5d6e7f8a9b0c"
X-MS-Exchange-Message-Is-Ndr:
Content-Language: en-US
Message-ID: <{dsn_id}@AM0PR01MB1234.eurprd01.prod.exchangelabs.com>
Subject: Undeliverable: {subject}
Auto-Submitted: auto-replied
MIME-Version: 1.0

--1f8a3c6e-0b7d-4c1e-9a2f-5d6e7f8a9b0c
Content-Type: multipart/alternative;
    boundary="3a4b5c6d-7e8f-4a0b-8c2d-3e4f5a6b7c8d"

--3a4b5c6d-7e8f-4a0b-8c2d-3e4f5a6b7c8d
Content-Type: text/plain; charset="us-ascii"
Content-Transfer-Encoding: quoted-printable

Your message to {rcpt} couldn't be delivered.

The address wasn't found at example.com.

Diagnostic information for administrators:

Generating server: AM0PR01MB1234.eurprd01.prod.exchangelabs.com

{rcpt}
Remote server returned '550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipi=
ent not found by SMTP address lookup'

--3a4b5c6d-7e8f-4a0b-8c2d-3e4f5a6b7c8d
Content-Type: text/html; charset="us-ascii"
Content-Transfer-Encoding: quoted-printable

<html><body><p>Your message to {rcpt} couldn't be delivered.</p>=
<p>The address wasn't found at example.com.</p></body></html>

--3a4b5c6d-7e8f-4a0b-8c2d-3e4f5a6b7c8d--

--1f8a3c6e-0b7d-4c1e-9a2f-5d6e7f8a9b0c
Content-Type: message/delivery-status

Reporting-MTA: dns;AM0PR01MB1234.eurprd01.prod.exchangelabs.com
Received-From-MTA: dns;mail.example.org
Arrival-Date: Mon, 30 Nov 2026 14:41:06 +0000

Original-Recipient: rfc822;{rcpt}
Final-Recipient: rfc822;{rcpt}
Action: failed
Status: 5.1.10
Diagnostic-Code: smtp;550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient not
 found by SMTP address lookup

--1f8a3c6e-0b7d-4c1e-9a2f-5d6e7f8a9b0c
Content-Type: message/rfc822

@@ORIGINAL@@
--1f8a3c6e-0b7d-4c1e-9a2f-5d6e7f8a9b0c--
"""

# Gmail: only the returned headers (text/rfc822-headers), a folded
# multi-line SMTP answer
GMAIL_FAILED = """\
Delivered-To: {bounce}
Return-Path: <>
Received: by 2002:a05:6000:1a8b:b0:385:f0c1:1a2b with SMTP id
 l11csp123456wrx; Mon, 30 Nov 2026 06:41:07 -0800 (PST)
From: Mail Delivery Subsystem <mailer-daemon@googlemail.com>
To: {bounce}
Auto-Submitted: auto-replied
Subject: Delivery Status Notification (Failure)
X-Failed-Recipients: {rcpt}
Message-ID: <{dsn_id}@mx.google.com>
Date: Mon, 30 Nov 2026 06:41:07 -0800 (PST)
MIME-Version: 1.0
Content-Type: multipart/report; boundary="000000000000a1b2c3d4e5f6a7b8";
    report-type=delivery-status

--000000000000a1b2c3d4e5f6a7b8
Content-Type: multipart/related; boundary="000000000000b2c3d4e5f6a7b8c9"

--000000000000b2c3d4e5f6a7b8c9
Content-Type: multipart/alternative; boundary="000000000000c3d4e5f6a7b8c9d0"

--000000000000c3d4e5f6a7b8c9d0
Content-Type: text/plain; charset="UTF-8"

** Address not found **

Your message wasn't delivered to {rcpt} because the address couldn't be found,
or is unable to receive mail.

Learn more here: https://support.google.com/mail/?p=NoSuchUser

The response was:

The email account that you tried to reach does not exist. Please try
double-checking the recipient's email address for typos or unnecessary spaces.

--000000000000c3d4e5f6a7b8c9d0
Content-Type: text/html; charset="UTF-8"

<html><body><h2>Address not found</h2><p>Your message wasn't delivered to
{rcpt} because the address couldn't be found.</p></body></html>

--000000000000c3d4e5f6a7b8c9d0--
--000000000000b2c3d4e5f6a7b8c9--
--000000000000a1b2c3d4e5f6a7b8
Content-Type: message/delivery-status

Reporting-MTA: dns; googlemail.com
Received-From-MTA: dns; mail.example.org
Arrival-Date: Mon, 30 Nov 2026 06:41:06 -0800 (PST)

Final-Recipient: rfc822; {rcpt}
Action: failed
Status: 5.1.1
Remote-MTA: dns; gmail-smtp-in.l.google.com. (2a00:1450:400c:c0b::1a)
Diagnostic-Code: smtp; 550-5.1.1 The email account that you tried to reach does
 not exist. Please try 550-5.1.1 double-checking the recipient's email address
 for typos or 550-5.1.1 unnecessary spaces. For more information, go to 550
 5.1.1  https://support.google.com/mail/?p=NoSuchUser a1si2345678wrx.123 -
 gsmtp
Last-Attempt-Date: Mon, 30 Nov 2026 06:41:07 -0800 (PST)

--000000000000a1b2c3d4e5f6a7b8
Content-Type: text/rfc822-headers

@@ORIGINAL@@
--000000000000a1b2c3d4e5f6a7b8--
"""

# Postfix's delay warning: not delivered yet, still trying (soft)
POSTFIX_DELAYED = """\
Return-Path: <>
Delivered-To: {bounce}
Date: Mon, 30 Nov 2026 19:41:06 +0100 (CET)
From: MAILER-DAEMON@mx.example.net (Mail Delivery System)
Subject: Delayed Mail (still being retried)
To: {bounce}
Auto-Submitted: auto-replied
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status;
    boundary="5C1D2A5F0A.1764528066/mx.example.net"
Message-Id: <{dsn_id}@mx.example.net>

This is a MIME-encapsulated message.

--5C1D2A5F0A.1764528066/mx.example.net
Content-Description: Notification
Content-Type: text/plain; charset=us-ascii

This is the mail system at host mx.example.net.

####################################################################
# THIS IS A WARNING ONLY.  YOU DO NOT NEED TO RESEND YOUR MESSAGE. #
####################################################################

Your message could not be delivered for more than 4 hour(s).
It will be retried until it is 5 day(s) old.

For further assistance, please send mail to postmaster.

                   The mail system

<{rcpt}>: host mx.example.com[203.0.113.25] said: 452 4.2.2
    <{rcpt}>: Mailbox full (in reply to RCPT TO command)

--5C1D2A5F0A.1764528066/mx.example.net
Content-Description: Delivery report
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.example.net
X-Postfix-Queue-ID: 5C1D2A5F0A
X-Postfix-Sender: rfc822; {bounce}
Arrival-Date: Mon, 30 Nov 2026 15:40:24 +0100 (CET)

Final-Recipient: rfc822; {rcpt}
Original-Recipient: rfc822;{rcpt}
Action: delayed
Status: 4.2.2
Remote-MTA: dns; mx.example.com
Diagnostic-Code: smtp; 452 4.2.2 <{rcpt}>: Mailbox full
Will-Retry-Until: Sat, 5 Dec 2026 15:40:24 +0100 (CET)

--5C1D2A5F0A.1764528066/mx.example.net
Content-Description: Undelivered Message Headers
Content-Type: text/rfc822-headers

@@ORIGINAL@@
--5C1D2A5F0A.1764528066/mx.example.net--
"""

# qmail: no report at all, the returned e-mail quoted in the text
QMAIL_FAILED = """\
Return-Path: <>
Date: 30 Nov 2026 14:41:06 -0000
From: MAILER-DAEMON@mail.example.net
To: {bounce}
Subject: failure notice
Message-Id: <{dsn_id}@mail.example.net>

Hi. This is the qmail-send program at mail.example.net.
I'm afraid I wasn't able to deliver your message to the following addresses.
This is a permanent error; I've given up. Sorry it didn't work out.

<{rcpt}>:
203.0.113.25 does not like recipient.
Remote host said: 550 5.1.1 <{rcpt}>... User unknown
Giving up on 203.0.113.25.

--- Below this line is a copy of the message.

@@ORIGINAL@@
"""


class BounceCase(SerialCorrespondenceCase):
    """Serial e-mails sent to the sink with the company's bounce address as
    Return-Path, and the bounces the addressees' servers send back."""

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
        # the bounce alias, as a company configures it (Settings, Emails)
        AliasDomain = cls.env["mail.alias.domain"]
        alias_domain = AliasDomain.search([("name", "=", BOUNCE_DOMAIN)])
        if not alias_domain:
            alias_domain = AliasDomain.create(
                {
                    "name": BOUNCE_DOMAIN,
                    "bounce_alias": "bounce",
                    "catchall_alias": "catchall",
                    "default_from": "notifications",
                }
            )
        cls.env.company.alias_domain_id = alias_domain
        cls.params = cls.env["ir.config_parameter"].sudo()
        cls.dsn_numbers = itertools.count(1)

    def ready_email(self, name, count, **vals):
        partners = self.Partner.create(
            [
                {"name": f"{name} {i}", "email": f"{name.lower()}{i}@example.com"}
                for i in range(count)
            ]
        )
        return self.ready_email_to(partners, name, **vals)

    def ready_email_to(self, partners, subject, **vals):
        record = self.create_correspondence(
            kind="email",
            subject=subject,
            template_id=self.template.id,
            email_from="verein@example.com",
            partner_domain=repr([("id", "in", partners.ids)]),
            **vals,
        )
        self.run_jobs(record)
        self.assertEqual(record.state, "ready")
        return record

    def send(self, record):
        record.with_user(self.user).action_send()
        self.run_jobs(record)

    def recipient(self, record, partner):
        return record.recipient_ids.filtered(lambda r: r.partner_id == partner)

    def sent_to(self, partner):
        """The message the sink received for ``partner`` (bytes)."""
        received = [
            envelope
            for envelope in self.sink.envelopes()
            if partner.email in envelope.rcpt_tos
        ]
        self.assertTrue(received, f"nothing was sent to {partner.email}")
        return received[-1]

    def bounce(self, template, partner, headers_only=False, **values):
        """Feed the bounce ``template`` of the e-mail sent to ``partner``
        to Odoo's mail gateway, as fetchmail does."""
        content = self.sent_to(partner).content.decode("utf-8", "replace")
        content = content.replace("\r\n", "\n")
        if headers_only:
            content = content.split("\n\n", 1)[0] + "\n"
        values.setdefault("rcpt", partner.email)
        values.setdefault("subject", f"{partner.name}")
        raw = template.format(
            bounce=BOUNCE_ADDRESS,
            dsn_id=f"dsn-{next(self.dsn_numbers)}-{partner.id}",
            **values,
        ).replace(ORIGINAL, content)
        return self.feed(raw)

    def feed(self, raw):
        result = self.env["mail.thread"].message_process(False, raw.encode())
        self.env.flush_all()
        self.env.invalidate_all()
        return result

    def set_storm_brake(self, max_failures, minutes=10):
        self.params.set_param(
            "serial_correspondence.storm_max_soft_failures", str(max_failures)
        )
        self.params.set_param(
            "serial_correspondence.storm_window_minutes", str(minutes)
        )

    def received(self):
        return collections.Counter(
            address
            for envelope in self.sink.envelopes()
            for address in envelope.rcpt_tos
        )

    def assertNobodyTwice(self):
        twice = {a: n for a, n in self.received().items() if n > 1}
        self.assertFalse(twice, "nobody gets the e-mail twice")


@tagged("post_install", "-at_install")
class TestBounces(BounceCase):
    def test_reports_of_real_servers_are_read(self):
        original = "Message-Id: <x@example.org>\nSubject: Hallo\n"
        values = {
            "bounce": BOUNCE_ADDRESS,
            "dsn_id": "r",
            "rcpt": "anna@example.com",
            "subject": "Hallo",
        }
        cases = [
            (POSTFIX_FAILED, "failed", "5.1.1", "hard", "550 5.1.1 <anna@example.com>"),
            (EXCHANGE_FAILED, "failed", "5.1.10", "hard", "RecipientNotFound"),
            (GMAIL_FAILED, "failed", "5.1.1", "hard", "account that you tried"),
            (POSTFIX_DELAYED, "delayed", "4.2.2", "soft", "452 4.2.2"),
            (QMAIL_FAILED, "failed", "5.1.1", "hard", "User unknown"),
        ]
        for template, action, status, bounce_type, answer in cases:
            raw = template.format(**values).replace(ORIGINAL, original)
            report = read_delivery_report(
                email.message_from_string(raw, policy=email.policy.SMTP)
            )
            with self.subTest(answer=answer):
                self.assertTrue(report.is_bounce)
                self.assertEqual(report.action, action)
                self.assertEqual(report.status, status)
                self.assertEqual(report.bounce_type, bounce_type)
                self.assertIn(answer, report.answer)
                # the server's answer, on one line, without "smtp;"
                self.assertNotIn("\n", report.answer)
                self.assertFalse(report.answer.lower().startswith("smtp"))

    def test_serial_emails_carry_the_bounce_address(self):
        record = self.ready_email("Ruecklauf", 1)
        self.send(record)
        envelope = self.sink.envelopes()[-1]
        self.assertEqual(envelope.mail_from, BOUNCE_ADDRESS)
        message = email.message_from_bytes(envelope.content, policy=email.policy.SMTP)
        self.assertEqual(message["Return-Path"], BOUNCE_ADDRESS)

    def test_hard_bounces_of_three_servers_mark_their_recipients(self):
        self.env["res.lang"]._activate_lang("de_DE")
        record = self.ready_email("Hart", 4)
        self.send(record)
        self.assertEqual(record.state, "done_auto")
        partners = record.recipient_ids.partner_id.sorted("id")
        cases = [
            (partners[0], POSTFIX_FAILED, False, "User unknown in virtual mailbox"),
            (partners[1], EXCHANGE_FAILED, False, "RESOLVER.ADR.RecipientNotFound"),
            (partners[2], GMAIL_FAILED, True, "550-5.1.1 The email account"),
        ]
        for partner, template, headers_only, answer in cases:
            self.assertEqual(partner.message_bounce, 0)
            self.bounce(template, partner, headers_only=headers_only)
            recipient = self.recipient(record, partner)
            with self.subTest(partner=partner.name):
                self.assertEqual(recipient.state, "bounced")
                self.assertEqual(recipient.bounce_type, "hard")
                self.assertIn("returned the e-mail", recipient.reason)
                self.assertIn(answer, recipient.reason)
                # Odoo's own bounce counter of the contact
                self.assertEqual(partner.message_bounce, 1)
        untouched = self.recipient(record, partners[3])
        self.assertEqual((untouched.state, untouched.reason), ("sent", False))
        self.assertEqual(record.bounced_count, 3)
        # every viewer reads it in their language, the server's answer as it was
        german = self.recipient(record, partners[1]).with_context(lang="de_DE")
        self.assertEqual(
            german.reason,
            "Der Mailserver des Empfängers hat die E-Mail zurückgeschickt: 550 "
            "5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient not found by SMTP "
            "address lookup",
        )

    def test_a_delay_warning_is_a_soft_bounce_that_keeps_the_recipient_sent(self):
        record = self.ready_email("Verzoegert", 2)
        self.send(record)
        partner = record.recipient_ids.partner_id[0]
        self.bounce(POSTFIX_DELAYED, partner, headers_only=True)
        recipient = self.recipient(record, partner)
        self.assertEqual((recipient.state, recipient.bounce_type), ("sent", "soft"))
        self.assertIn("keeps trying", recipient.reason)
        self.assertIn("452 4.2.2", recipient.reason)
        self.assertEqual(record.bounced_count, 0)
        # Odoo counts every bounce of the address, a delay warning too
        self.assertEqual(partner.message_bounce, 1)
        # the server gives up later: now it is bounced
        self.bounce(POSTFIX_FAILED, partner)
        self.assertEqual((recipient.state, recipient.bounce_type), ("bounced", "hard"))
        self.assertEqual(record.bounced_count, 1)

    def test_a_second_bounce_or_an_unknown_message_changes_nothing(self):
        record = self.ready_email("Doppelt", 2)
        self.send(record)
        partner, other = record.recipient_ids.partner_id[:2]
        self.bounce(EXCHANGE_FAILED, partner)
        recipient = self.recipient(record, partner)
        reason = recipient.reason
        # the same e-mail returned again, now with a delay warning
        self.bounce(POSTFIX_DELAYED, partner, headers_only=True)
        self.assertEqual(
            (recipient.state, recipient.bounce_type, recipient.reason),
            ("bounced", "hard", reason),
        )
        # a bounce of an e-mail that is no serial e-mail: Odoo's business
        unknown = (
            "Message-Id: <unknown-4711@somewhere.example.org>\n"
            "Subject: Something else\n"
            f"To: {other.email}\n"
        )
        raw = POSTFIX_FAILED.format(
            bounce=BOUNCE_ADDRESS, dsn_id="dsn-unknown", rcpt=other.email
        ).replace(ORIGINAL, unknown)
        self.assertFalse(self.feed(raw))
        self.assertEqual(self.recipient(record, other).state, "sent")
        self.assertEqual(record.bounced_count, 1)
        # only the recipient whose e-mail came back is marked
        self.assertFalse(record.recipient_ids.filtered("bounce_type") - recipient)

    def test_a_report_without_final_recipient_still_counts_for_the_contact(self):
        record = self.ready_email("Alt", 1)
        self.send(record)
        partner = record.recipient_ids.partner_id
        template = POSTFIX_FAILED.replace("Final-Recipient: rfc822; {rcpt}\n", "")
        template = template.replace("Original-Recipient: rfc822;{rcpt}\n", "")
        self.bounce(template, partner)
        self.assertEqual(self.recipient(record, partner).state, "bounced")
        self.assertEqual(partner.message_bounce, 1)

    def test_address_bouncing_again_and_again_is_blacklisted_as_odoo_does(self):
        partner = self.Partner.create(
            {"name": "Verzogen", "email": "verzogen@example.com"}
        )
        Blacklist = self.env["mail.blacklist"]
        for number in range(5):
            record = self.ready_email_to(partner, f"Nummer {number}")
            self.send(record)
            self.assertEqual(self.recipient(record, partner).state, "sent")
            self.assertFalse(Blacklist.search([("email", "=", partner.email)]))
            self.bounce(POSTFIX_FAILED, partner)
            recipient = self.recipient(record, partner)
            self.assertEqual(recipient.state, "bounced")
            # the earlier ones came back over the last weeks
            self.env.cr.execute(
                "UPDATE serial_correspondence_recipient "
                "SET write_date = write_date - %s WHERE id = %s",
                [datetime.timedelta(days=3 * (5 - number)), recipient.id],
            )
            self.env.invalidate_all()
        self.assertEqual(partner.message_bounce, 5)
        self.assertTrue(Blacklist.search([("email", "=", partner.email)]))
        # the next serial e-mail leaves the address out
        record = self.ready_email_to(partner, "Noch einmal")
        self.send(record)
        self.assertEqual(self.recipient(record, partner).state, "excluded")

    def test_bounces_within_a_week_do_not_blacklist(self):
        partner = self.Partner.create({"name": "Voll", "email": "voll@example.com"})
        for number in range(5):
            record = self.ready_email_to(partner, f"Woche {number}")
            self.send(record)
            self.bounce(GMAIL_FAILED, partner, headers_only=True)
        self.assertEqual(partner.message_bounce, 5)
        self.assertFalse(
            self.env["mail.blacklist"].search([("email", "=", partner.email)])
        )


@tagged("post_install", "-at_install")
class TestStormBrake(BounceCase):
    def setUp(self):
        super().setUp()
        self.set_storm_brake(20, 10)

    def test_brake_counts_the_window_and_only_after_continuing(self):
        now = datetime.datetime(2026, 11, 30, 12, 0)
        brake = StormBrake(3, 10)
        self.assertTrue(brake.enabled)
        self.assertEqual(
            brake.counting_since(now), now - datetime.timedelta(minutes=10)
        )
        later = now - datetime.timedelta(minutes=2)
        self.assertEqual(brake.counting_since(now, later), later)
        earlier = now - datetime.timedelta(hours=2)
        self.assertEqual(
            brake.counting_since(now, earlier), now - datetime.timedelta(minutes=10)
        )
        self.assertFalse(brake.holds(3))
        self.assertTrue(brake.holds(4))
        self.assertFalse(StormBrake(0, 10).holds(1000))
        self.assertFalse(StormBrake(3, 0).enabled)
        self.assertEqual(StormBrake(3, 0.5).window_text, "0.5")
        self.assertEqual(StormBrake(3, 10.0).window_text, "10")

    def test_settings_store_the_storm_brake_and_zero_switches_it_off(self):
        settings = self.env["res.config.settings"].create({})
        self.assertEqual(settings.serial_storm_max_soft_failures, 20)
        settings.serial_storm_max_soft_failures = 0
        settings.serial_storm_window_minutes = 0.5
        settings.execute()
        brake = self.env["serial.correspondence"]._storm_brake()
        self.assertEqual((brake.max_failures, brake.window_minutes), (0, 0.5))
        self.assertFalse(brake.enabled)

    def test_repeated_temporary_refusals_brake_until_the_user_continues(self):
        self.set_storm_brake(3, 10)
        self.params.set_param("serial_correspondence.retry_delay_seconds", "0")
        record = self.ready_email("Sturm", 3)
        refused_before = self.sink.tempfailed
        self.sink.tempfail(600)
        self.send(record)
        # refused 4 times (each time tried again at once), then braked
        self.assertEqual(self.sink.tempfailed - refused_before, 4)
        self.assertEqual(record.state, "waiting")
        self.assertTrue(record.storm_braked)
        self.assertFalse(record.resume_at)
        self.assertEqual(record.processing_status, "idle")
        # with sending limits the form shows an expected end, but not while
        # nothing continues by itself
        self.params.set_param("serial_correspondence.throttle_max_emails", "100")
        self.params.set_param("serial_correspondence.throttle_window_minutes", "60")
        record.invalidate_recordset(["expected_end_at"])
        self.assertFalse(record.expected_end_at)
        self.assertIn(
            "Stopped by the storm brake: 4 temporary refusals or soft bounces in "
            "10 minutes",
            record.waiting_reason,
        )
        self.assertFalse(self.queued_jobs(record, include_planned=True))
        activity = record.activity_ids
        self.assertEqual(len(activity), 1)
        self.assertEqual(activity.user_id, self.user)
        self.assertEqual(activity.summary, "Storm brake: check the mail server")
        activity_type = activity.activity_type_id
        self.assertEqual(
            activity_type,
            self.env.ref("serial_correspondence.mail_activity_type_storm_brake"),
        )
        self.assertEqual(record.sent_count, 0)
        # the server works again; nothing happens until the user continues
        self.sink.tempfail(0)
        self.run_jobs(record)
        self.assertEqual(record.state, "waiting")
        record.with_user(self.user).action_resume_sending()
        self.assertEqual(record.state, "in_progress")
        self.assertFalse(record.storm_braked)
        # the request to check the mail server is done, with its answer
        self.assertFalse(record.activity_ids)
        done = self.env["mail.message"].search(
            [
                ("model", "=", record._name),
                ("res_id", "=", record.id),
                ("mail_activity_type_id", "=", activity_type.id),
            ]
        )
        self.assertEqual(len(done), 1)
        self.assertIn("Sending continued.", done.body)
        self.run_jobs(record)
        self.assertEqual(record.state, "done_auto")
        self.assertEqual(self.sink.count(), 3)
        self.assertNobodyTwice()

    def test_fewer_refusals_than_the_threshold_only_wait(self):
        self.set_storm_brake(5, 10)
        self.params.set_param("serial_correspondence.retry_delay_seconds", "0")
        record = self.ready_email("Boee", 2)
        hand_over = SmtpDelivery.hand_over
        refusals = []

        def refuse_three_times(delivery, email):
            if len(refusals) < 3:
                refusals.append(email.recipient_id)
                self.sink.tempfail(600)
            else:
                self.sink.tempfail(0)
            hand_over(delivery, email)

        with patch.object(SmtpDelivery, "hand_over", refuse_three_times):
            self.send(record)
        self.sink.tempfail(0)
        self.assertEqual(record.state, "done_auto")
        self.assertFalse(record.storm_braked)
        self.assertFalse(record.activity_ids)

    def test_soft_bounces_brake_a_waiting_serial_email(self):
        self.set_storm_brake(1, 10)
        self.params.set_param("serial_correspondence.throttle_max_emails", "2")
        self.params.set_param("serial_correspondence.throttle_window_minutes", "60")
        record = self.ready_email("Warten", 4)
        self.send(record)
        self.assertEqual((record.state, record.sent_count), ("waiting", 2))
        sent = record.recipient_ids.filtered(lambda r: r.state == "sent").partner_id
        self.bounce(POSTFIX_DELAYED, sent[0], headers_only=True)
        self.assertFalse(record.storm_braked)
        # Gmail gave up on a full mailbox: bounced, but soft
        self.bounce(GMAIL_FAILED.replace("5.1.1", "4.2.2"), sent[1], headers_only=True)
        given_up = self.recipient(record, sent[1])
        self.assertEqual((given_up.state, given_up.bounce_type), ("bounced", "soft"))
        self.assertEqual(record.state, "waiting")
        self.assertTrue(record.storm_braked)
        self.assertFalse(record.resume_at)
        self.assertIn("2 temporary refusals or soft bounces", record.waiting_reason)
        self.assertEqual(record.activity_ids.user_id, self.user)
        # the job planned for the limits does nothing now
        planned = self.queued_jobs(record, include_planned=True)
        self.assertTrue(planned)
        for job in planned:
            self.perform_job(job)
        self.assertEqual((record.state, self.sink.count()), ("waiting", 2))
        # continued, and no longer limited: the others get it
        self.params.set_param("serial_correspondence.throttle_max_emails", "0")
        record.with_user(self.user).action_resume_sending()
        self.run_jobs(record)
        self.assertEqual(record.state, "done_auto")
        self.assertEqual(self.sink.count(), 4)
        self.assertNobodyTwice()

    def test_soft_bounces_while_a_job_sends_brake_after_the_email_under_way(self):
        self.set_storm_brake(1, 10)
        record = self.ready_email("Laufend", 6)
        hand_over = SmtpDelivery.hand_over
        handed = []

        def bounce_two_while_sending(delivery, email):
            handed.append(email.recipient_id)
            if len(handed) == 3:
                # the first two came back while the third goes out
                self.env.invalidate_all()
                for partner in record.recipient_ids.filtered(
                    lambda r: r.state == "sent"
                ).partner_id:
                    self.bounce(POSTFIX_DELAYED, partner, headers_only=True)
            hand_over(delivery, email)

        with (
            patch.object(SmtpDelivery, "hand_over", bounce_two_while_sending),
            patch.object(
                type(record), "_try_lock_sending_for_transaction", lambda s: False
            ),
        ):
            self.send(record)
        self.assertEqual(len(handed), 3)
        self.assertEqual((record.state, record.sent_count), ("waiting", 3))
        self.assertTrue(record.storm_braked)
        self.assertFalse(record.storm_brake_requested)
        self.assertFalse(self.queued_jobs(record, include_planned=True))
        self.assertEqual(len(record.activity_ids), 1)
        record.with_user(self.user).action_resume_sending()
        self.run_jobs(record)
        self.assertEqual(record.state, "done_auto")
        self.assertEqual(self.sink.count(), 6)
        self.assertNobodyTwice()

    def test_continue_only_when_braked_and_stop_ends_a_braked_sending(self):
        record = self.ready_email("Halt", 2)
        with self.assertRaisesRegex(UserError, "storm brake"):
            record.with_user(self.user).action_resume_sending()
        self.set_storm_brake(0, 10)
        self.params.set_param("serial_correspondence.retry_delay_seconds", "0")
        self.sink.tempfail(600)
        record.with_user(self.user).action_send()
        # the storm brake switched off: a refusal only waits
        self.perform_job(self.queued_jobs(record))
        self.assertEqual(record.state, "waiting")
        self.assertFalse(record.storm_braked)
        # now it brakes at the next refusal
        self.set_storm_brake(1, 10)
        self.run_jobs(record)
        self.assertTrue(record.storm_braked)
        record.with_user(self.user).action_stop()
        self.sink.tempfail(0)
        self.assertEqual(record.state, "ready")
        self.assertFalse(record.storm_braked)
        self.assertFalse(self.queued_jobs(record, include_planned=True))
