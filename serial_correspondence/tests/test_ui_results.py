# Copyright 2026 serial_correspondence authors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""After sending (issue 12), in a real browser, in English and German: the
results line, the smart buttons and the recipients they open, the graph and
pivot views, and the storm brake's banner with "Continue sending"."""

from odoo.tests import HttpCase, new_test_user, tagged

from ..testing import demo_correspondences
from .common import perform_stored_job, start_smtp_sink

ACTION_URL = "/odoo/action-serial_correspondence.serial_correspondence_action"
PARAM = "serial_correspondence.{}".format


@tagged("post_install", "-at_install")
class TestUiResults(HttpCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.sink = start_smtp_sink(cls)
        cls.env["res.lang"]._activate_lang("de_DE")
        cls.env["ir.module.module"]._load_module_terms(
            ["serial_correspondence"], ["de_DE"], overwrite=True
        )
        groups = (
            "base.group_user,base.group_partner_manager,"
            "serial_correspondence.group_serial_correspondence_user"
        )
        cls.users = {
            lang: new_test_user(
                cls.env,
                login=f"sc_results_{lang}",
                password=f"sc_results_{lang}_pw_1",
                name=f"Rita Results {lang}",
                email=f"rita.{lang}@example.com",
                lang=lang,
                groups=groups,
            )
            for lang in ("en_US", "de_DE")
        }
        cls.partners = cls.env["res.partner"].create(
            [
                {"name": f"Ergebniskontakt {n}", "email": f"ergebnis{n}@example.com"}
                for n in range(1, 6)
            ]
        )
        cls.template = cls.env["mail.template"].create(
            {
                "name": "Ergebnisvorlage",
                "model_id": cls.env.ref("base.model_res_partner").id,
                "subject": "Neuigkeiten für {{ object.name }}",
                "body_html": "<p>Hallo <t t-out='object.name'/></p>",
            }
        )

    def _run_jobs(self):
        demo_correspondences.run_due_jobs(
            self.env, lambda job: perform_stored_job(self.env, job)
        )

    def _sent_with_results(self, user):
        """A serial e-mail with tracking, sent to the sink, and what came
        back (three opens, a click, a bounce through the mail gateway, a
        reply through the gateway), as the demo shows it."""
        record = (
            self.env["serial.correspondence"]
            .with_user(user)
            .create(
                {
                    "kind": "email",
                    "subject": "Neuigkeiten für {{ object.name }}",
                    "template_id": self.template.id,
                    "email_from": "verein@example.com",
                    "partner_domain": repr([("id", "in", self.partners.ids)]),
                    "tracking_enabled": True,
                }
            )
        )
        self._run_jobs()
        record.action_send()
        self._run_jobs()
        demo_correspondences.show_what_came_back(self.env, record)
        self.assertEqual(
            (
                record.sent_count,
                record.bounced_count,
                record.opened_count,
                record.clicked_count,
                record.replied_count,
            ),
            (4, 1, 3, 1, 1),
        )
        return record

    def _storm_braked(self, user):
        """A serial e-mail the storm brake stopped: the mail server refuses
        everything for a while."""
        params = self.env["ir.config_parameter"].sudo()
        params.set_param(PARAM("storm_max_soft_failures"), "2")
        params.set_param(PARAM("retry_delay_seconds"), "0")
        record = (
            self.env["serial.correspondence"]
            .with_user(user)
            .create(
                {
                    "kind": "email",
                    "subject": "Sturm",
                    "template_id": self.template.id,
                    "email_from": "verein@example.com",
                    "partner_domain": repr([("id", "in", self.partners[:2].ids)]),
                }
            )
        )
        self._run_jobs()
        self.sink.tempfail(600)
        self.addCleanup(self.sink.tempfail, 0)
        record.action_send()
        self._run_jobs()
        self.sink.tempfail(0)
        self.assertTrue(record.storm_braked)
        self.assertEqual(record.state, "waiting")
        return record

    def _tours(self, lang, tour):
        user = self.users[lang]
        results = self._sent_with_results(user)
        self.start_tour(f"{ACTION_URL}/{results.id}", tour, login=f"sc_results_{lang}")
        braked = self._storm_braked(user)
        self.start_tour(
            f"{ACTION_URL}/{braked.id}",
            f"{tour}_storm_brake",
            login=f"sc_results_{lang}",
        )
        self.assertEqual(braked.state, "in_progress")
        self.assertFalse(braked.storm_braked)

    def test_results_in_english(self):
        self._tours("en_US", "serial_correspondence_results_en")

    def test_results_in_german(self):
        self._tours("de_DE", "serial_correspondence_results_de")
