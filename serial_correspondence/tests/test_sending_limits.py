# Copyright 2026 serial_correspondence authors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
import datetime

from freezegun import freeze_time

from odoo.exceptions import ValidationError
from odoo.tests import tagged

from .common import SerialCorrespondenceCase

T0 = datetime.datetime(2026, 11, 30, 9, 0, 0)


@tagged("post_install", "-at_install")
class TestSendingLimits(SerialCorrespondenceCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.Log = cls.env["serial.correspondence.send.log"]
        cls.template = cls.env["mail.template"].create(
            {
                "name": "Rundschreiben",
                "model_id": cls.env.ref("base.model_res_partner").id,
                "body_html": "<p>Hallo <t t-out='object.name'/></p>",
            }
        )

    def set_limits(self, max_emails=0, minutes=1.0, per_domain=0):
        params = self.env["ir.config_parameter"].sudo()
        params.set_param("serial_correspondence.throttle_max_emails", str(max_emails))
        params.set_param("serial_correspondence.throttle_window_minutes", str(minutes))
        params.set_param(
            "serial_correspondence.throttle_max_per_domain", str(per_domain)
        )

    def ready_email(self, name, count, domain="example.com"):
        partners = self.Partner.create(
            [
                {"name": f"{name} {i}", "email": f"{name.lower()}{i}@{domain}"}
                for i in range(count)
            ]
        )
        record = self.create_correspondence(
            kind="email",
            subject=f"{name}",
            template_id=self.template.id,
            email_from="verein@example.com",
            partner_domain=repr([("id", "in", partners.ids)]),
        )
        self.run_jobs(record)
        return record

    def assertReserved(self, reserved):
        """An e-mail of the budget was taken: the id of its log row."""
        self.assertIsInstance(reserved, int, reserved)
        self.assertTrue(self.Log.browse(reserved).exists())

    # -- accounting ----------------------------------------------------------

    def test_window_accounting_slides_with_time(self):
        self.set_limits(max_emails=3, minutes=1)
        record = self.ready_email("Fenster", 1)
        for second in (0, 10, 20):
            at = T0 + datetime.timedelta(seconds=second)
            self.assertReserved(self.Log._reserve(record, False, "example.com", now=at))
        # the fourth e-mail must wait until the first leaves the window
        at = T0 + datetime.timedelta(seconds=30)
        self.assertEqual(
            self.Log._reserve(record, False, "example.com", now=at),
            (T0 + datetime.timedelta(seconds=60), "global"),
        )
        at = T0 + datetime.timedelta(seconds=59)
        self.assertEqual(self.Log._remaining(now=at), 0)
        at = T0 + datetime.timedelta(seconds=61)
        self.assertEqual(self.Log._remaining(now=at), 1)
        self.assertReserved(self.Log._reserve(record, False, "example.com", now=at))
        self.assertEqual(self.Log._remaining(now=at), 0)

    def test_clock_is_the_frozen_time(self):
        self.set_limits(max_emails=1, minutes=0.25)
        record = self.ready_email("Uhr", 1)
        with freeze_time(T0):
            self.assertReserved(self.Log._reserve(record, False, "example.com"))
            resume_at, scope = self.Log._reserve(record, False, "example.com")
        self.assertEqual(
            (resume_at, scope), (T0 + datetime.timedelta(seconds=15), "global")
        )
        with freeze_time(T0 + datetime.timedelta(seconds=16)):
            self.assertReserved(self.Log._reserve(record, False, "example.com"))

    def test_limit_per_recipient_domain(self):
        self.set_limits(per_domain=2, minutes=60)
        record = self.ready_email("Domain", 1)
        for _i in range(2):
            self.assertReserved(self.Log._reserve(record, False, "gmx.de", now=T0))
        resume_at, scope = self.Log._reserve(record, False, "gmx.de", now=T0)
        self.assertEqual(scope, "domain")
        self.assertEqual(resume_at, T0 + datetime.timedelta(hours=1))
        self.assertReserved(self.Log._reserve(record, False, "web.de", now=T0))

    def test_mail_server_override_has_its_own_budget(self):
        self.set_limits(max_emails=1, minutes=60)
        server = self.env["ir.mail_server"].create(
            {
                "name": "Großversand",
                "smtp_host": "127.0.0.1",
                "serial_throttle_max_emails": 2,
                "serial_throttle_window_minutes": 60,
            }
        )
        record = self.ready_email("Server", 1)
        self.assertReserved(self.Log._reserve(record, server.id, "a.de", now=T0))
        self.assertReserved(self.Log._reserve(record, server.id, "a.de", now=T0))
        self.assertEqual(
            self.Log._reserve(record, server.id, "a.de", now=T0)[1], "global"
        )
        # the general budget is untouched by the server's e-mails
        self.assertReserved(self.Log._reserve(record, False, "a.de", now=T0))
        self.assertEqual(self.Log._reserve(record, False, "a.de", now=T0)[1], "global")

    def test_negative_or_absurd_limits_are_refused(self):
        Settings = self.env["res.config.settings"]
        bad = [
            {"serial_throttle_max_emails": -1},
            {"serial_throttle_max_per_domain": -5},
            {"serial_throttle_max_emails": 10, "serial_throttle_window_minutes": 0},
            {"serial_throttle_max_emails": 10, "serial_throttle_window_minutes": -2},
            {
                "serial_throttle_max_emails": 10,
                "serial_throttle_window_minutes": 100000,
            },
            {"serial_throttle_max_emails": 10**9},
        ]
        for values in bad:
            with self.subTest(values=values), self.assertRaises(ValidationError):
                Settings.create(values).execute()
        with self.assertRaises(ValidationError):
            self.env["ir.mail_server"].create(
                {
                    "name": "x",
                    "smtp_host": "127.0.0.1",
                    "serial_throttle_max_emails": -3,
                }
            )
        settings = Settings.create(
            {"serial_throttle_max_emails": 20, "serial_throttle_window_minutes": 0.25}
        )
        settings.execute()
        params = self.env["ir.config_parameter"].sudo()
        self.assertEqual(
            params.get_param("serial_correspondence.throttle_max_emails"), "20"
        )
        self.assertEqual(
            params.get_param("serial_correspondence.throttle_window_minutes"), "0.25"
        )

    # -- waiting and resuming ------------------------------------------------

    def test_limit_reached_waits_then_continues_by_itself(self):
        self.set_limits(max_emails=2, minutes=0.25)
        record = self.ready_email("Warten", 5)
        with freeze_time(T0):
            record.action_send()
            self.run_jobs(record)
        self.assertEqual(record.state, "waiting")
        self.assertEqual(record.sent_count, 2)
        self.assertEqual(record.resume_at, T0 + datetime.timedelta(seconds=15))
        self.assertEqual(record.processing_status, "scheduled")
        job = self.queued_jobs(record, include_planned=True)
        self.assertEqual(len(job), 1)
        self.assertEqual(job.eta, T0 + datetime.timedelta(seconds=15))
        # woken too early (e.g. by hand): still no room, waits again
        with freeze_time(T0 + datetime.timedelta(seconds=5)):
            self.perform_job(job)
        self.assertEqual((record.state, record.sent_count), ("waiting", 2))
        # the window has moved on: two more
        with freeze_time(T0 + datetime.timedelta(seconds=16)):
            self.run_jobs(record)
        self.assertEqual((record.state, record.sent_count), ("waiting", 4))
        with freeze_time(T0 + datetime.timedelta(seconds=32)):
            self.run_jobs(record)
        self.assertEqual(record.state, "done_auto")
        self.assertEqual(record.sent_count, 5)
        self.assertEqual(
            self.Log.sudo().search_count([("correspondence_id", "=", record.id)]), 5
        )

    def test_raising_the_limit_lets_waiting_emails_go_on(self):
        self.set_limits(max_emails=1, minutes=60)
        record = self.ready_email("Anheben", 3)
        record.action_send()
        self.run_jobs(record)
        self.assertEqual(record.state, "waiting")
        self.assertEqual(record.sent_count, 1)
        self.env["res.config.settings"].create(
            {"serial_throttle_max_emails": 100, "serial_throttle_window_minutes": 60}
        ).execute()
        now_jobs = self.queued_jobs(record)
        self.assertEqual(len(now_jobs), 1)
        self.assertFalse(now_jobs.eta)
        self.perform_job(now_jobs)
        self.assertEqual(record.state, "done_auto")
        self.assertEqual(record.sent_count, 3)

    def test_two_serial_emails_share_the_budget_fairly(self):
        self.set_limits(max_emails=4, minutes=1)
        first = self.ready_email("Erste", 4)
        second = self.ready_email("Zweite", 4)
        with freeze_time(T0):
            first.action_send()
            second.action_send()
            # each run takes its share (half of what is left) and lets the other go
            self.perform_job(self.queued_jobs(first))
            self.assertEqual(first.sent_count, 2)
            self.assertEqual(first.state, "in_progress")
            self.perform_job(self.queued_jobs(second))
            self.assertEqual(second.sent_count, 2)
            self.perform_job(self.queued_jobs(first))
        self.assertEqual((first.state, second.state), ("waiting", "in_progress"))
        with freeze_time(T0 + datetime.timedelta(seconds=61)):
            self.run_jobs()
        self.assertEqual((first.state, second.state), ("done_auto", "done_auto"))
        # never more than the limit in any window of a minute
        times = sorted(self.Log.sudo().search([]).mapped("sent_at"))
        for i, start in enumerate(times):
            in_window = [
                t for t in times[i:] if t < start + datetime.timedelta(minutes=1)
            ]
            self.assertLessEqual(len(in_window), 4)
