# Copyright 2026 serial_correspondence authors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""The results of a serial e-mail after sending: counters that follow the
recipients, smart buttons that open them, graph and pivot views, the link
from the contact's history back to the correspondence, and results that
only the server records."""

from lxml import etree

from odoo import fields
from odoo.exceptions import AccessError, UserError
from odoo.tests import tagged

from .common import SerialCorrespondenceCase

SENDER = "Verein <verein@example.com>"
RESULT_ACTIONS = {
    "action_view_recipients_sent": "sent_count",
    "action_view_recipients_excluded": "excluded_count",
    "action_view_recipients_error": "error_count",
    "action_view_recipients_bounced": "bounced_count",
    "action_view_recipients_opened": "opened_count",
    "action_view_recipients_clicked": "clicked_count",
    "action_view_recipients_replied": "replied_count",
}


@tagged("post_install", "-at_install")
class TestStatistics(SerialCorrespondenceCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.template = cls.env["mail.template"].create(
            {
                "name": "Rundschreiben",
                "model_id": cls.env.ref("base.model_res_partner").id,
                "body_html": "<p>Hallo <t t-out='object.name'/>, viele Grüße.</p>",
            }
        )
        cls.town = "Statistikstadt"
        Partner = cls.env["res.partner"]
        cls.anna, cls.bruno, cls.clara = Partner.create(
            [
                {"name": name, "email": f"{name.lower()}@example.com", "city": cls.town}
                for name in ("Anna", "Bruno", "Clara")
            ]
        )
        cls.blacklisted = Partner.create(
            {"name": "Gesperrt", "email": "gesperrt@example.com", "city": cls.town}
        )
        cls.env["mail.blacklist"].sudo()._add("gesperrt@example.com")
        cls.no_email = Partner.create({"name": "Ohne Adresse", "city": cls.town})

    def _ready(self, **vals):
        record = self.create_correspondence(
            kind="email",
            purpose="information",
            subject="Frühjahrsrundschreiben",
            template_id=self.template.id,
            email_from=SENDER,
            partner_domain=repr([("city", "=", self.town)]),
            **vals,
        )
        self.run_jobs(record)
        self.assertEqual(record.state, "ready")
        return record

    def _sent(self, **vals):
        """Sent to Anna, Bruno and Clara; one excluded, one error."""
        record = self._ready(**vals)
        record.with_user(self.user).action_send()
        self.run_jobs(record)
        self.assertEqual(record.state, "send_failed")
        return record

    def _recipient(self, record, partner):
        return record.recipient_ids.filtered(lambda r: r.partner_id == partner)

    def _record_results(self, record):
        """As the server records them: Anna's e-mail bounced, Bruno opened
        and clicked, Clara opened and replied."""
        now = fields.Datetime.now()
        self._recipient(record, self.anna)._internal_write(
            {"state": "bounced", "bounce_type": "hard"}
        )
        self._recipient(record, self.bruno)._internal_write(
            {"opened_at": now, "clicked_at": now}
        )
        self._recipient(record, self.clara)._internal_write(
            {"opened_at": now, "replied_at": now}
        )

    def _counts(self, record):
        return {
            name: record[name]
            for name in (
                "sent_count",
                "excluded_count",
                "error_count",
                "bounced_count",
                "opened_count",
                "clicked_count",
                "replied_count",
            )
        }

    # -- counters and summary ----------------------------------------------

    def test_counters_and_summary_follow_the_recipients_results(self):
        record = self._sent()
        self.assertEqual(
            self._counts(record),
            {
                "sent_count": 3,
                "excluded_count": 1,
                "error_count": 1,
                "bounced_count": 0,
                "opened_count": 0,
                "clicked_count": 0,
                "replied_count": 0,
            },
        )
        self.assertEqual(record.result_summary, "Sent 3 · bounced 0 · replied 0")
        self._record_results(record)
        self.assertEqual(
            self._counts(record),
            {
                "sent_count": 2,
                "excluded_count": 1,
                "error_count": 1,
                "bounced_count": 1,
                "opened_count": 2,
                "clicked_count": 1,
                "replied_count": 1,
            },
        )
        # opens and clicks are shown only when they are tracked
        self.assertEqual(record.result_summary, "Sent 2 · bounced 1 · replied 1")
        record.with_user(self.user).tracking_enabled = True
        self.assertEqual(
            record.result_summary,
            "Sent 2 · bounced 1 · opened 2 (100 %) · clicked 1 (50 %) · replied 1",
        )
        # also when the result was written past the ORM, e.g. with SQL
        self.env.flush_all()
        self.env.cr.execute(
            "UPDATE serial_correspondence_recipient SET replied_at = now()"
            " WHERE id = %s",
            [self._recipient(record, self.bruno).id],
        )
        self.env.invalidate_all()
        self.assertEqual(record.replied_count, 2)

    def test_nothing_sent_shows_no_results(self):
        record = self._ready()
        self.assertFalse(record.result_summary)
        letter = self.create_correspondence(kind="letter")
        self.run_jobs(letter)
        self.assertFalse(letter.result_summary)

    # -- a bounced recipient was sent to -------------------------------------

    def test_bounced_recipient_is_never_sent_again_and_counts_as_sent(self):
        record = self._sent()
        self._record_results(record)
        anna = self._recipient(record, self.anna)
        self.assertEqual(
            record._recipient_counts(),
            {"sent": 3, "excluded": 1, "error": 1, "pending": 0},
        )
        self.sink.clear()
        record.with_user(self.user).action_send()
        self.run_jobs(record)
        self.assertEqual(anna.state, "bounced")
        self.assertEqual(self.sink.count(), 0, "nobody was sent to twice")
        self.assertIn(
            "Sending finished: 3 sent, 1 excluded, 1 with errors.",
            record.message_ids[0].body,
        )

    # -- smart buttons, graph and pivot -------------------------------------

    def test_smart_buttons_open_the_recipients_of_each_result(self):
        record = self._sent(tracking_enabled=True)
        self._record_results(record)
        Recipient = self.env["serial.correspondence.recipient"].with_user(self.user)
        as_user = record.with_user(self.user)
        for method, counter in RESULT_ACTIONS.items():
            with self.subTest(button=method):
                action = getattr(as_user, method)()
                self.assertEqual(action["res_model"], Recipient._name)
                self.assertIn(("correspondence_id", "=", record.id), action["domain"])
                self.assertEqual(
                    Recipient.search_count(action["domain"]), record[counter]
                )
                self.assertEqual(
                    {mode for _view, mode in action["views"]},
                    {"list", "form", "graph", "pivot"},
                )
        bounced = Recipient.search(as_user.action_view_recipients_bounced()["domain"])
        self.assertEqual(bounced.partner_id, self.anna)
        opened = Recipient.search(as_user.action_view_recipients_opened()["domain"])
        self.assertEqual(opened.partner_id, self.bruno | self.clara)
        excluded = as_user.action_view_recipients_excluded()
        self.assertEqual(excluded["context"].get("search_default_group_reason"), 1)
        # the buttons are on the form
        arch = as_user.get_views([(False, "form")])["views"]["form"]["arch"]
        form = etree.fromstring(arch)
        for method in (*RESULT_ACTIONS, "action_view_recipients"):
            self.assertTrue(form.xpath(f"//button[@name='{method}']"), method)
        self.assertTrue(form.xpath("//field[@name='tracking_enabled']"))
        self.assertTrue(form.xpath("//field[@name='result_summary']"))

    def test_graph_and_pivot_views_load_for_a_user(self):
        record = self._sent()
        Recipient = self.env["serial.correspondence.recipient"].with_user(self.user)
        # a finished correspondence: its recipients in the locked views
        record.with_user(self.user).action_finalize()
        self.assertEqual(record.state, "done")
        action = record.with_user(self.user).action_view_recipients()
        views = Recipient.get_views(action["views"] + [(False, "search")])["views"]
        self.assertEqual(set(views), {"list", "form", "graph", "pivot", "search"})
        for view_type in ("graph", "pivot"):
            self.assertIn('name="state"', views[view_type]["arch"])
        search = etree.fromstring(views["search"]["arch"])
        for name in ("bounced", "opened", "clicked", "replied", "group_correspondence"):
            self.assertTrue(search.xpath(f"//filter[@name='{name}']"), name)
        # what the graph and pivot ask: by state, by reason, by correspondence
        domain = [("correspondence_id", "=", record.id)]
        by_state = {
            group["state"]: group["__count"]
            for group in Recipient.read_group(domain, ["state"], ["state"], lazy=False)
        }
        self.assertEqual(by_state, {"sent": 3, "excluded": 1, "error": 1})
        by_reason = Recipient.read_group(domain, ["reason"], ["reason"], lazy=False)
        self.assertEqual(sum(group["__count"] for group in by_reason), 5)
        self.assertEqual(len(by_reason), 3)  # no reason, blacklisted, no address
        by_correspondence = Recipient.read_group(
            [("state", "=", "sent")], ["correspondence_id"], ["correspondence_id"]
        )
        self.assertIn(
            (record.id, 3),
            [
                (group["correspondence_id"][0], group["correspondence_id_count"])
                for group in by_correspondence
            ],
        )

    # -- the contact's history ------------------------------------------------

    def test_history_copy_links_to_the_correspondence_but_the_email_does_not(self):
        record = self._sent()
        message = self._recipient(record, self.bruno).message_id
        self.assertEqual(
            (message.model, message.res_id), ("res.partner", self.bruno.id)
        )
        body = str(message.body)
        self.assertIn(f'href="/odoo/serial.correspondence/{record.id}"', body)
        self.assertIn('data-oe-model="serial.correspondence"', body)
        self.assertIn(f'data-oe-id="{record.id}"', body)
        self.assertIn("Frühjahrsrundschreiben</a>", body)
        self.assertIn("Hallo Bruno, viele Grüße.", body)
        delivered = [
            message.get_body(("html", "plain")).get_content()
            for message in self.sink.messages()
        ]
        self.assertEqual(len(delivered), 3)
        for content in delivered:
            self.assertIn("viele Grüße", content)
            self.assertNotIn("/odoo/serial.correspondence/", content)

    # -- only the server records results --------------------------------------

    def test_client_cannot_write_results_or_counters(self):
        record = self._sent()
        self.assertEqual(record.state, "send_failed")  # not locked
        as_user = record.with_user(self.user)
        for name in ("bounced_count", "opened_count", "clicked_count", "replied_count"):
            with self.subTest(field=name), self.assertRaises(AccessError):
                as_user.write({name: 7})
        recipient = self._recipient(record, self.bruno).with_user(self.user)
        values = {
            "state": "bounced",
            "bounce_type": "soft",
            "opened_at": "2026-01-01 00:00:00",
            "clicked_at": "2026-01-01 00:00:00",
            "replied_at": "2026-01-01 00:00:00",
        }
        other = self.env["res.partner"].create(
            {"name": "Neu", "email": "n@example.com"}
        )
        Recipient = self.env["serial.correspondence.recipient"].with_user(self.user)
        for name, value in values.items():
            with self.subTest(field=name, on="write"), self.assertRaises(AccessError):
                recipient.write({name: value})
            with self.subTest(field=name, on="create"), self.assertRaises(AccessError):
                Recipient.create(
                    {
                        "correspondence_id": record.id,
                        "partner_id": other.id,
                        name: value,
                    }
                )
        self.assertEqual(recipient.state, "sent")
        self.assertFalse(recipient.opened_at or recipient.bounce_type)
        self.assertEqual(record.bounced_count, 0)

    def test_tracking_is_off_by_default_and_frozen_while_processing(self):
        record = self._ready()
        self.assertFalse(record.tracking_enabled)
        as_user = record.with_user(self.user)
        as_user.write({"tracking_enabled": True})
        as_user.write({"tracking_enabled": False})
        as_user.action_send()
        self.assertEqual(record.state, "in_progress")
        with self.assertRaisesRegex(UserError, "being processed"):
            as_user.write({"tracking_enabled": True})
        self.run_jobs(record)
        as_user.action_finalize()
        with self.assertRaisesRegex(UserError, "finalized"):
            as_user.write({"tracking_enabled": True})
        self.assertFalse(record.tracking_enabled)
        # chosen when creating, like any option
        self.assertTrue(self._ready(tracking_enabled=True).tracking_enabled)

    # -- in German -------------------------------------------------------------

    def test_results_read_in_german(self):
        self.env["res.lang"]._activate_lang("de_DE")
        self.env["ir.module.module"].search(
            [("name", "=", "serial_correspondence")]
        )._update_translations(["de_DE"])
        record = self._sent(tracking_enabled=True)
        self._record_results(record)
        record.invalidate_recordset()
        german = record.with_context(lang="de_DE")
        self.assertEqual(
            german.result_summary,
            "Versandt 2 · unzustellbar 1 · geöffnet 2 (100 %) · "
            "geklickt 1 (50 %) · beantwortet 1",
        )
        Recipient = self.env["serial.correspondence.recipient"].with_context(
            lang="de_DE"
        )
        states = dict(Recipient.fields_get(["state"])["state"]["selection"])
        self.assertEqual(states["bounced"], "Unzustellbar")
        fields_de = Recipient.fields_get(["opened_at", "bounce_type"])
        self.assertEqual(fields_de["opened_at"]["string"], "Geöffnet am")
        self.assertEqual(
            dict(fields_de["bounce_type"]["selection"])["hard"],
            "Dauerhaft unzustellbar",
        )
        self.assertEqual(
            german.fields_get(["tracking_enabled"])["tracking_enabled"]["string"],
            "Öffnungen und Klicks erfassen",
        )
        self.assertIn("Serien-E-Mail:", german._history_link())
