# Copyright 2026 serial_correspondence authors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
from unittest.mock import patch

from odoo.tests import HttpCase, new_test_user, tagged

from odoo.addons.bus.websocket import WebsocketConnectionHandler
from odoo.addons.queue_job.job import Job

from .common import CHANNEL

ACTION_URL = "/odoo/action-serial_correspondence.serial_correspondence_action"


@tagged("post_install", "-at_install")
class TestUi(HttpCase):
    """The main flows in a real browser."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.user = new_test_user(
            cls.env,
            login="sc_tour",
            password="sc_tour_pw_1",
            name="Tina Tour",
            groups="base.group_user,base.group_partner_manager,"
            "serial_correspondence.group_serial_correspondence_user",
        )
        cls.partners = cls.env["res.partner"].create(
            [
                {"name": "Tourkontakt A"},
                {"name": "Tourkontakt B"},
                {"name": "Tourkontakt C"},
            ]
        )

    def _created_by_tour(self):
        return self.env["serial.correspondence"].search(
            [("create_uid", "=", self.user.id)]
        )

    def test_create_serial_email_from_the_contacts_list(self):
        self.start_tour(
            "/odoo/action-contacts.action_contacts"
            if self.env.ref("contacts.action_contacts", raise_if_not_found=False)
            else "/odoo/action-base.action_partner_form",
            "serial_correspondence_from_contacts",
            login="sc_tour",
        )
        record = self._created_by_tour()
        self.assertEqual(len(record), 1)
        self.assertEqual(record.kind, "email")
        self.assertEqual(record.subject, "Tour-Rundschreiben")
        self.assertEqual(record.state, "importing")
        job = self.env["queue.job"].search([("uuid", "=", record.job_uuid)])
        self.assertEqual((job.channel, job.state), (CHANNEL, "pending"))
        job_result = record.with_user(self.user)._import_recipients_batch(0)
        self.assertIn("2", job_result)
        self.assertEqual(record.state, "ready")
        self.assertEqual(record.recipient_ids.partner_id, self.partners[:2])

    def test_create_serial_letter_from_the_form_with_contact_tags(self):
        tag = self.env["res.partner.category"].create({"name": "Tourvorstand"})
        self.partners[1:].category_id = tag
        self.start_tour(
            "/odoo/action-serial_correspondence.serial_correspondence_action",
            "serial_correspondence_from_form",
            login="sc_tour",
        )
        record = self._created_by_tour()
        self.assertEqual(len(record), 1)
        self.assertEqual(
            (record.kind, record.subject), ("letter", "Einladung Vorstand")
        )
        self.assertEqual(record.partner_category_ids, tag)
        self.assertEqual(record.import_total, 2)
        self.assertEqual(record.processing_status, "waiting")

    # -- what a new user runs into (issue #10) ---------------------------------

    def _correspondence(self, user=None, read=False, **vals):
        """A serial e-mail to Tourkontakt A and B (its recipients read if
        ``read``), created by ``user`` (the tour user by default)."""
        vals.setdefault("kind", "email")
        vals.setdefault("partner_domain", repr([("id", "in", self.partners[:2].ids)]))
        record = (
            self.env["serial.correspondence"].with_user(user or self.user).create(vals)
        )
        if read:
            record.with_user(user or self.user)._import_recipients_batch(0)
            self.assertEqual(record.state, "ready")
        return record

    def _taken_by_the_runner(self, record):
        """queue_job's runner took the reading job: ``/queue_job/runjob``
        (called by the tour) runs it, and the browser hears of it live (Odoo
        turns its websocket off in tests unless asked, as in bus's own
        ``WebsocketCase``)."""
        job = Job.load(self.env, record.job_uuid)
        job.set_enqueued()
        job.store()
        self.env.flush_all()
        self.startPatcher(
            patch.object(
                WebsocketConnectionHandler, "websocket_allowed", return_value=True
            )
        )

    def _template(self):
        return self.env["mail.template"].create(
            {
                "name": "Tourvorlage",
                "model_id": self.env.ref("base.model_res_partner").id,
                "subject": "Information",
                "body_html": "<p>Hallo <t t-out='object.name'/></p>",
            }
        )

    def test_new_correspondence_shows_no_processing_and_counts_its_selection(self):
        tag = self.env["res.partner.category"].create({"name": "Tourvorstand"})
        self.partners[1:].category_id = tag
        single = self._correspondence(
            read=True,
            subject="Tour-Einzelbrief",
            partner_domain=repr([("id", "=", self.partners[0].id)]),
        )
        self.start_tour(
            ACTION_URL, "serial_correspondence_first_use_new", login="sc_tour"
        )
        # the new one was discarded
        self.assertEqual(self._created_by_tour(), single)

    def test_recipients_read_while_the_user_is_on_it_only_reload_the_form(self):
        record = self._correspondence(subject="Tour-Einlesen")
        self._taken_by_the_runner(record)
        self.start_tour(
            f"{ACTION_URL}/{record.id}",
            "serial_correspondence_first_use_read_on_the_record",
            login="sc_tour",
        )
        record.invalidate_recordset()
        self.assertEqual(record.state, "ready")

    def test_recipients_read_elsewhere_one_toast_opens_the_correspondence(self):
        record = self._correspondence(subject="Tour-Einlesen")
        self._taken_by_the_runner(record)
        self.start_tour(
            ACTION_URL,
            "serial_correspondence_first_use_read_elsewhere",
            login="sc_tour",
        )
        record.invalidate_recordset()
        self.assertEqual(record.state, "ready")

    def test_send_without_subject_and_template_says_so_before_asking(self):
        template = self._template()
        record = self._correspondence(read=True)
        self.start_tour(
            f"{ACTION_URL}/{record.id}",
            "serial_correspondence_first_use_send",
            login="sc_tour",
        )
        record.invalidate_recordset()
        self.assertEqual(
            (record.state, record.subject, record.template_id),
            ("in_progress", "Tour-Info", template),
        )
        self.assertEqual(record.processing_status, "waiting", "the send job is queued")

    def test_recipients_of_a_correspondence_in_progress_offer_no_delete(self):
        # with "Export", the list has its actions menu whatever else it offers
        self.user.groups_id += self.env.ref("base.group_allow_export")
        record = self._correspondence(
            read=True, subject="Tour-Info", template_id=self._template().id
        )
        record.with_user(self.user).action_send()
        self.assertEqual(record.state, "in_progress")
        self.start_tour(
            f"{ACTION_URL}/{record.id}",
            "serial_correspondence_first_use_locked_recipients",
            login="sc_tour",
        )
        self.assertEqual(len(record.recipient_ids), 2)

    def test_german_labels_do_not_break_inside_a_word(self):
        self.env["res.lang"]._activate_lang("de_DE")
        self.env["ir.module.module"]._load_module_terms(
            ["serial_correspondence"], ["de_DE"], overwrite=True
        )
        german = new_test_user(
            self.env,
            login="sc_tour_de",
            password="sc_tour_de_pw_1",
            name="Doris Deutsch",
            lang="de_DE",
            groups="base.group_user,base.group_partner_manager,"
            "serial_correspondence.group_serial_correspondence_user",
        )
        record = self._correspondence(user=german, subject="Tour-Deutsch")
        self.start_tour(
            f"{ACTION_URL}/{record.id}",
            "serial_correspondence_first_use_german_labels",
            login="sc_tour_de",
        )
