# Copyright 2026 serial_correspondence authors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""Opens, clicks and replies of a serial e-mail (issue 12).

Real e-mails: sent by the send job to the SMTP sink and read back from it.
Real HTTP: the pixel and the links of the delivered e-mail are requested
from Odoo's server. Real replies: raw e-mails answering the delivered one,
through Odoo's mail gateway (``message_process``).
"""

import email
import email.policy
import re
from urllib.parse import urlsplit

from odoo import fields
from odoo.tests import HttpCase, new_test_user, tagged

from .common import SerialCorrespondenceCase, start_smtp_sink

BODY = (
    '<p>Hallo <t t-out="object.name"/>,</p>'
    '<p><a href="https://shop.example.com/angebot?a=1&amp;b=2">Zum Angebot</a> '
    '<a href="/kontakt">Kontakt</a> '
    '<a href="mailto:info@example.com">Schreiben</a> '
    '<a href="tel:+49301234567">Anrufen</a> '
    '<a href="#oben">Nach oben</a></p>'
)
SHOP = "https://shop.example.com/angebot?a=1&b=2"
GIF = b"GIF89a"
BOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"


def html_of(message):
    return message.get_body(preferencelist=("html",)).get_content()


def hrefs(html):
    return [href.replace("&amp;", "&") for href in re.findall(r'href="([^"]*)"', html)]


def texts_of(raw):
    """Every text of a raw e-mail, decoded: its headers and each text part."""
    message = email.message_from_bytes(raw, policy=email.policy.default)
    texts = [f"{name}: {value}" for name, value in message.items()]
    texts += [
        part.get_content()
        for part in message.walk()
        if part.get_content_maintype() == "text"
    ]
    return texts


@tagged("post_install", "-at_install")
class TestTracking(HttpCase):
    """Opt-in open and click tracking, over HTTP on the e-mails delivered."""

    # queue_job as the other tests run it (``common.py``)
    queued_jobs = SerialCorrespondenceCase.queued_jobs
    perform_job = SerialCorrespondenceCase.perform_job
    run_jobs = SerialCorrespondenceCase.run_jobs

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.env = cls.env(
            context=dict(cls.env.context, tracking_disable=True, mail_create_nolog=True)
        )
        cls.sink = start_smtp_sink(cls)
        cls.user = new_test_user(
            cls.env,
            login="sc_tracking",
            name="Tara Tracking",
            email="tara@example.com",
            groups="base.group_user,"
            "serial_correspondence.group_serial_correspondence_user",
        )
        cls.town = "Klickstadt"
        cls.anna, cls.bert = cls.env["res.partner"].create(
            [
                {
                    "name": name,
                    "email": f"{name.split()[0].lower()}@klick.example.com",
                    "city": cls.town,
                    "email_advertising_consent": "granted",
                }
                for name in ("Anna Klick", "Bert Klick")
            ]
        )
        cls.template = cls.env["mail.template"].create(
            {
                "name": "Angebot",
                "model_id": cls.env.ref("base.model_res_partner").id,
                "body_html": BODY,
            }
        )

    def setUp(self):
        super().setUp()
        self.sink.clear()

    # -- helpers ----------------------------------------------------------

    def _send(self, tracking):
        record = (
            self.env["serial.correspondence"]
            .with_user(self.user)
            .create(
                {
                    "kind": "email",
                    "purpose": "advertising",
                    "subject": "Angebot für {{ object.name }}",
                    "template_id": self.template.id,
                    "email_from": "Verein <verein@example.com>",
                    "partner_domain": repr([("city", "=", self.town)]),
                    "tracking_enabled": tracking,
                }
            )
        )
        self.run_jobs(record)
        self.assertEqual(record.state, "ready")
        record.action_send()
        self.run_jobs(record)
        self.assertEqual(set(record.recipient_ids.mapped("state")), {"sent"})
        return record

    def _recipient(self, record, partner):
        return record.recipient_ids.filtered(lambda r: r.partner_id == partner)

    def _delivered_to(self, partner):
        [message] = [
            message
            for message in self.sink.messages()
            if str(message["Delivered-To"]).strip().lower() == partner.email
        ]
        return message

    def _links(self, partner):
        """(pixel path, [tracked link paths]) of the e-mail to ``partner``."""
        html = html_of(self._delivered_to(partner))
        [pixel] = re.findall(r'<img src="([^"]*blank\.gif)"', html)
        tracked = [urlsplit(href).path for href in hrefs(html) if "/r/" in href]
        return urlsplit(pixel).path, tracked

    def _get(self, path, **headers):
        response = self.url_open(path, allow_redirects=False, headers=headers or None)
        self.env.invalidate_all()
        return response

    def _clicks(self):
        return self.env["link.tracker.click"].search_count([])

    # -- the tests --------------------------------------------------------

    def test_tracked_email_has_a_pixel_and_short_links_but_not_its_history_copy(self):
        record = self._send(tracking=True)
        anna = self._recipient(record, self.anna)
        html = html_of(self._delivered_to(self.anna))
        links = hrefs(html)
        prefix = f"/sc/{anna.id}/{anna._tracking_token(anna.id)}"
        tracked = [link for link in links if "/r/" in link]
        self.assertEqual(len(tracked), 2, links)
        self.assertTrue(all(link.endswith(prefix) for link in tracked), tracked)
        pixels = re.findall(r'<img src="([^"]*)"', html)
        self.assertEqual(len(pixels), 1)
        self.assertRegex(pixels[0], rf"/serial_correspondence/track/{anna.id}/\w+/")
        # never rewritten: mailto, tel, anchors, the unsubscribe link
        self.assertIn("mailto:info@example.com", links)
        self.assertIn("tel:+49301234567", links)
        self.assertIn("#oben", links)
        unsubscribe = [link for link in links if "/unsubscribe/" in link]
        self.assertEqual(len(unsubscribe), 1)
        self.assertNotIn("/r/", unsubscribe[0])
        # each tracked link leads to its target through link_tracker: one
        # tracker per URL, shared by every recipient
        tracker = self.env["link.tracker"].search([("url", "=", SHOP)])
        self.assertEqual(len(tracker), 1)
        self.assertIn(f"/r/{tracker.code}{prefix}", " ".join(tracked))
        bert = self._recipient(record, self.bert)
        self.assertIn(
            f"/r/{tracker.code}/sc/{bert.id}/",
            " ".join(hrefs(html_of(self._delivered_to(self.bert)))),
        )
        # the contact's history: the e-mail without pixel and short links
        history = anna.message_id.body
        self.assertIn("https://shop.example.com/angebot", history)
        self.assertNotIn("blank.gif", history)
        self.assertNotIn("/r/", history)
        self.assertNotIn("/sc/", history)

    def test_pixel_records_the_first_open_of_its_recipient_only(self):
        record = self._send(tracking=True)
        anna, bert = (
            self._recipient(record, self.anna),
            self._recipient(record, self.bert),
        )
        pixel, _links = self._links(self.anna)
        response = self._get(pixel)
        self.assertEqual(response.status_code, 200)
        self.assertEqual(response.headers["Content-Type"], "image/gif")
        self.assertTrue(response.content.startswith(GIF))
        self.assertTrue(anna.opened_at)
        self.assertFalse(anna.clicked_at)
        self.assertFalse(bert.opened_at)
        self.assertEqual((record.opened_count, record.clicked_count), (1, 0))
        # opened again later: the first open stays
        anna.sudo()._internal_write({"opened_at": "2020-01-02 03:04:05"})
        self._get(pixel)
        self.assertEqual(
            anna.opened_at, fields.Datetime.to_datetime("2020-01-02 03:04:05")
        )
        self.assertEqual(record.opened_count, 1)

    def test_click_redirects_records_the_click_and_counts_as_an_open(self):
        record = self._send(tracking=True)
        bert = self._recipient(record, self.bert)
        _pixel, links = self._links(self.bert)
        tracker = self.env["link.tracker"].search([("url", "=", SHOP)])
        [shop] = [link for link in links if f"/r/{tracker.code}/" in link]
        clicks = self._clicks()
        response = self._get(shop)
        self.assertEqual(response.status_code, 301)
        self.assertEqual(response.headers["Location"], SHOP)
        self.assertTrue(bert.clicked_at)
        self.assertTrue(bert.opened_at, "a click opened the e-mail")
        self.assertEqual((record.opened_count, record.clicked_count), (1, 1))
        self.assertEqual(self._clicks(), clicks + 1)
        self.assertEqual(tracker.count, 1)
        # the relative link of the template leads to this database's page
        [contact] = [link for link in links if link != shop]
        response = self._get(contact)
        self.assertEqual(response.status_code, 301)
        self.assertEqual(urlsplit(response.headers["Location"]).path, "/kontakt")
        self.assertEqual(self._clicks(), clicks + 2)
        self.assertFalse(self._recipient(record, self.anna).clicked_at)

    def test_forged_or_foreign_token_is_redirected_but_records_nothing(self):
        record = self._send(tracking=True)
        anna, bert = (
            self._recipient(record, self.anna),
            self._recipient(record, self.bert),
        )
        pixel, links = self._links(self.anna)
        token = pixel.split("/")[-2]
        flipped = token[:-1] + ("0" if token[-1] != "0" else "1")
        forged_pixels = [
            pixel.replace(token, flipped),
            pixel.replace(token, "x"),
            # Anna's token for Bert
            pixel.replace(f"/{anna.id}/", f"/{bert.id}/"),
        ]
        forged_links = [
            links[0].replace(token, flipped),
            links[0].replace(f"/sc/{anna.id}/", f"/sc/{bert.id}/"),
        ]
        clicks = self._clicks()
        for path in forged_pixels:
            with self.subTest(path=path):
                response = self._get(path)
                self.assertEqual(response.status_code, 200)
                self.assertTrue(response.content.startswith(GIF))
        for path in forged_links:
            with self.subTest(path=path):
                response = self._get(path)
                self.assertEqual(response.status_code, 301)
                self.assertTrue(response.headers["Location"])
        # a robot (link preview, crawler) with the real links
        self._get(pixel, **{"User-Agent": BOT})
        self._get(links[0], **{"User-Agent": BOT})
        for recipient in anna | bert:
            self.assertFalse(recipient.opened_at)
            self.assertFalse(recipient.clicked_at)
        self.assertEqual((record.opened_count, record.clicked_count), (0, 0))
        self.assertEqual(self._clicks(), clicks)
        # an unknown short code is not found, as on /r/<code>
        recipient_and_token = links[0].partition("/sc/")[2]
        response = self._get(f"/r/nOsUcHcOdE/sc/{recipient_and_token}")
        self.assertEqual(response.status_code, 404)

    def test_switching_tracking_off_after_sending_stops_recording(self):
        record = self._send(tracking=True)
        pixel, links = self._links(self.anna)
        record.sudo()._internal_write({"tracking_enabled": False})
        clicks = self._clicks()
        self._get(pixel)
        self.assertEqual(self._get(links[0]).status_code, 301)
        anna = self._recipient(record, self.anna)
        self.assertFalse(anna.opened_at)
        self.assertFalse(anna.clicked_at)
        self.assertEqual(self._clicks(), clicks)

    def test_without_tracking_no_pixel_and_no_short_link_anywhere(self):
        trackers = self.env["link.tracker"].search_count([])
        record = self._send(tracking=False)
        self.assertFalse(record.tracking_enabled)
        paths = self.sink.paths()
        self.assertEqual(len(paths), 2)
        for path in paths:
            texts = "\n".join(texts_of(path.read_bytes()))
            # decoded, the e-mail is there, with its links as written
            self.assertIn("https://shop.example.com/angebot?a=1&amp;b=2", texts)
            self.assertIn("/kontakt", texts)
            self.assertNotIn("blank.gif", texts)
            self.assertNotIn("/serial_correspondence/track/", texts)
            self.assertNotIn("/r/", texts)
            self.assertNotIn("/sc/", texts)
            self.assertNotIn("<img", texts)
        self.assertEqual(self.env["link.tracker"].search_count([]), trackers)
        for recipient in record.recipient_ids:
            self.assertNotIn("blank.gif", recipient.message_id.body)
            self.assertNotIn("/r/", recipient.message_id.body)


@tagged("post_install", "-at_install")
class TestReplies(SerialCorrespondenceCase):
    """A reply to a serial e-mail, through Odoo's mail gateway."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        # a catchall domain, as Odoo's mail tests set one up
        cls.env["mail.alias.domain"].create(
            {
                "name": "antwort.example.com",
                "bounce_alias": "bounce",
                "catchall_alias": "catchall",
                "company_ids": [(4, cls.env.company.id)],
            }
        )
        cls.template = cls.env["mail.template"].create(
            {
                "name": "Einladung",
                "model_id": cls.env.ref("base.model_res_partner").id,
                "body_html": "<p>Hallo <t t-out='object.name'/>, kommen Sie?</p>",
            }
        )
        cls.town = "Antwortdorf"
        cls.anna, cls.bert = cls.Partner.create(
            [
                {
                    "name": f"{name} Antwort",
                    "email": f"{name.lower()}@antwort.example.net",
                    "city": cls.town,
                }
                for name in ("Anna", "Bert")
            ]
        )

    def _sent(self):
        record = self.create_correspondence(
            purpose="information",
            subject="Einladung für {{ object.name }}",
            template_id=self.template.id,
            email_from="Verein <verein@example.com>",
            partner_domain=repr([("city", "=", self.town)]),
        )
        self.run_jobs(record)
        record.with_user(self.user).action_send()
        self.run_jobs(record)
        self.assertEqual(set(record.recipient_ids.mapped("state")), {"sent"})
        return record

    def _recipient(self, record, partner):
        return record.recipient_ids.filtered(lambda r: r.partner_id == partner)

    def _delivered_to(self, partner):
        [message] = [
            message
            for message in self.sink.messages()
            if str(message["Delivered-To"]).strip().lower() == partner.email
        ]
        return message

    def _reply(self, partner, in_reply_to, message_id, to, text="Ja, gern.", extra=""):
        return (
            extra + f"From: {partner.name} <{partner.email}>\r\n"
            f"To: {to}\r\n"
            f"Subject: Re: Einladung\r\n"
            f"Message-Id: {message_id}\r\n"
            f"In-Reply-To: {in_reply_to}\r\n"
            f"References: {in_reply_to}\r\n"
            "Date: Tue, 01 Dec 2026 10:00:00 +0000\r\n"
            "MIME-Version: 1.0\r\n"
            'Content-Type: text/plain; charset="utf-8"\r\n'
            "\r\n"
            f"{text}\r\n"
        )

    def _notes(self, record):
        return record.message_ids.filtered(lambda m: "Reply from" in (m.body or ""))

    def test_reply_lands_in_the_contact_history_and_is_counted(self):
        record = self._sent()
        anna, bert = (
            self._recipient(record, self.anna),
            self._recipient(record, self.bert),
        )
        sent = self._delivered_to(self.anna)
        # the e-mail went out with the Message-Id of its history copy, and
        # a Reply-To
        self.assertEqual(sent["Message-Id"], anna.message_id.message_id)
        # replies go to the company's catchall, as Odoo's own mails; the
        # history copy says the same
        self.assertEqual(
            sent["Reply-To"].addresses[0].addr_spec, "catchall@antwort.example.com"
        )
        self.assertEqual(anna.message_id.reply_to, self.env.company.catchall_formatted)
        Thread = self.env["mail.thread"]
        Thread.message_process(
            False,
            self._reply(
                self.anna,
                sent["Message-Id"],
                "<antwort-1@antwort.example.net>",
                str(sent["Reply-To"]),
            ),
        )
        reply = self.env["mail.message"].search(
            [("message_id", "=", "<antwort-1@antwort.example.net>")]
        )
        self.assertEqual((reply.model, reply.res_id), ("res.partner", self.anna.id))
        self.assertEqual(reply.parent_id, anna.message_id)
        self.assertEqual(reply.message_type, "email")
        self.assertIn("Ja, gern.", reply.body)
        self.assertTrue(anna.replied_at)
        self.assertFalse(bert.replied_at)
        self.assertEqual(record.replied_count, 1)
        [note] = self._notes(record)
        self.assertIn("Anna Antwort", note.body)
        self.assertIn(f'data-oe-id="{self.anna.id}"', note.body)
        # a second reply keeps the date of the first, and is noted too
        anna._internal_write({"replied_at": "2020-01-02 03:04:05"})
        Thread.message_process(
            False,
            self._reply(
                self.anna,
                sent["Message-Id"],
                "<antwort-2@antwort.example.net>",
                str(sent["Reply-To"]),
                text="Wir kommen zu zweit.",
            ),
        )
        self.assertEqual(
            anna.replied_at, fields.Datetime.to_datetime("2020-01-02 03:04:05")
        )
        self.assertEqual(record.replied_count, 1)
        self.assertEqual(len(self._notes(record)), 2)

    def test_automatic_answer_is_filed_but_not_counted(self):
        record = self._sent()
        sent = self._delivered_to(self.anna)
        self.env["mail.thread"].message_process(
            False,
            self._reply(
                self.anna,
                sent["Message-Id"],
                "<abwesend@antwort.example.net>",
                str(sent["Reply-To"]),
                text="Ich bin bis Montag nicht im Buero.",
                extra="Auto-Submitted: auto-replied\r\n",
            ),
        )
        answer = self.env["mail.message"].search(
            [("message_id", "=", "<abwesend@antwort.example.net>")]
        )
        self.assertEqual((answer.model, answer.res_id), ("res.partner", self.anna.id))
        self.assertFalse(record.recipient_ids.filtered("replied_at"))
        self.assertEqual(record.replied_count, 0)
        self.assertFalse(self._notes(record))

    def test_reply_to_another_message_changes_nothing(self):
        record = self._sent()
        # an ordinary message in the contact's history, and an unknown one
        note = self.anna.message_post(body="Telefonat", message_type="comment")
        Thread = self.env["mail.thread"]
        Thread.message_process(
            False,
            self._reply(
                self.anna,
                note.message_id,
                "<antwort-3@antwort.example.net>",
                "verein@example.com",
            ),
        )
        Thread.message_process(
            "res.partner",
            self._reply(
                self.bert,
                "<unbekannt@nirgendwo.example.org>",
                "<antwort-4@antwort.example.net>",
                "verein@example.com",
            ),
            thread_id=self.bert.id,
        )
        replies = self.env["mail.message"].search(
            [
                (
                    "message_id",
                    "in",
                    [
                        "<antwort-3@antwort.example.net>",
                        "<antwort-4@antwort.example.net>",
                    ],
                )
            ]
        )
        self.assertEqual(len(replies), 2, "both went to the contacts' history")
        self.assertFalse(record.recipient_ids.filtered("replied_at"))
        self.assertEqual(record.replied_count, 0)
        self.assertFalse(self._notes(record))


@tagged("post_install", "-at_install")
class TestTrackingCost(SerialCorrespondenceCase):
    """Tracking on costs no query per recipient: the trackers of a batch are
    found or created once per URL."""

    def test_tracking_costs_no_query_per_recipient(self):
        template = self.env["mail.template"].create(
            {
                "name": "Verfolgt",
                "model_id": self.env.ref("base.model_res_partner").id,
                "body_html": BODY,
            }
        )

        def queries_for(count):
            partners = self.env["res.partner"].create(
                [
                    {"name": f"Leser {count}-{i}", "email": f"l{count}-{i}@example.com"}
                    for i in range(count)
                ]
            )
            record = self.create_correspondence(
                kind="email",
                subject="Zählung",
                template_id=template.id,
                partner_domain=repr([("id", "in", partners.ids)]),
                tracking_enabled=True,
            )
            self.run_jobs(record)
            record.action_send()
            job = self.queued_jobs(record)
            self.env.invalidate_all()
            before = self.env.cr.sql_log_count
            self.perform_job(job)
            self.assertEqual(record.sent_count, count)
            return self.env.cr.sql_log_count - before

        queries_for(3)  # fills the caches, creates the trackers
        counts = [queries_for(count) for count in (10, 20, 30)]
        self.assertEqual(counts[2] - counts[1], counts[1] - counts[0], counts)
        # as without tracking (test_send.py): the outcome statement and the
        # commit per e-mail, nothing more
        self.assertLessEqual((counts[1] - counts[0]) / 10, 2, counts)
        self.assertEqual(
            self.env["link.tracker"].search_count(
                [("url", "in", [SHOP, f"{template.get_base_url()}/kontakt"])]
            ),
            2,
        )
        self.assertEqual(len(self.sink.messages()), 63)
        for message in self.sink.messages()[:3]:
            self.assertIn("blank.gif", html_of(message))
