# Copyright 2026 serial_correspondence authors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
import collections
import datetime
from unittest.mock import patch

from freezegun import freeze_time

from odoo.exceptions import AccessError, UserError
from odoo.tests import new_test_user, tagged

from ..tools.schedule import expected_end, is_stale
from ..tools.smtp_delivery import SmtpDelivery
from .common import SerialCorrespondenceCase
from .letter_common import LetterDataMixin, pdf_pages

T0 = datetime.datetime(2026, 11, 30, 9, 0, 0)


def minutes(count):
    return datetime.timedelta(minutes=count)


class EmailCase(SerialCorrespondenceCase):
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
        cls.params = cls.env["ir.config_parameter"].sudo()

    def ready_email(self, name, count, **vals):
        partners = self.Partner.create(
            [
                {"name": f"{name} {i}", "email": f"{name.lower()}{i}@example.com"}
                for i in range(count)
            ]
        )
        record = self.create_correspondence(
            kind="email",
            subject=name,
            template_id=self.template.id,
            email_from="verein@example.com",
            partner_domain=repr([("id", "in", partners.ids)]),
            **vals,
        )
        self.run_jobs(record)
        self.assertEqual(record.state, "ready")
        return record

    def set_limits(self, max_emails=0, window_minutes=1.0):
        self.params.set_param(
            "serial_correspondence.throttle_max_emails", str(max_emails)
        )
        self.params.set_param(
            "serial_correspondence.throttle_window_minutes", str(window_minutes)
        )

    def received(self):
        """How many e-mails each address got from the sink."""
        return collections.Counter(
            address
            for envelope in self.sink.envelopes()
            for address in envelope.rcpt_tos
        )

    def assertNobodyTwice(self):
        twice = {a: n for a, n in self.received().items() if n > 1}
        self.assertFalse(twice, "nobody gets the e-mail twice")


@tagged("post_install", "-at_install")
class TestScheduledSending(EmailCase):
    def test_planned_send_waits_with_an_eta_job_then_sends_by_itself(self):
        record = self.ready_email("Geplant", 3)
        planned = T0 + datetime.timedelta(hours=2)
        record.with_user(self.user).scheduled_at = planned
        with freeze_time(T0):
            record.with_user(self.user).action_send()
            self.assertEqual(record.state, "waiting")
            self.assertEqual(record.resume_at, planned)
            self.assertIn("Planned for", record.waiting_reason)
            self.assertEqual(record.processing_status, "scheduled")
            job = self.queued_jobs(record, include_planned=True)
            self.assertEqual(len(job), 1)
            self.assertEqual(job.eta, planned)
            # no job is due before the time: nothing is sent
            self.assertEqual(self.run_jobs(record), 0)
        # the planned time cannot change while it waits: stop, then send again
        with self.assertRaisesRegex(UserError, "being processed"):
            record.with_user(self.user).scheduled_at = planned + minutes(5)
        with freeze_time(T0 + minutes(30)):
            # woken early (e.g. the limits were raised): still waits
            record._wake_waiting()
            self.run_jobs(record)
        self.assertEqual((record.state, record.sent_count), ("waiting", 0))
        self.assertEqual(self.sink.count(), 0)
        with freeze_time(planned + minutes(1)):
            self.run_jobs(record)
        self.assertEqual(record.state, "done_auto")
        self.assertEqual(record.sent_count, 3)
        self.assertEqual(self.sink.count(), 3)
        self.assertNobodyTwice()

    def test_past_send_time_sends_at_once(self):
        record = self.ready_email("Vorbei", 2)
        record.scheduled_at = T0 - minutes(10)
        with freeze_time(T0):
            record.action_send()
            self.assertEqual(record.state, "in_progress")
            self.run_jobs(record)
        self.assertEqual(record.state, "done_auto")
        self.assertEqual(self.sink.count(), 2)

    def test_stopped_plan_can_be_planned_again(self):
        record = self.ready_email("Umplanen", 2)
        record.scheduled_at = T0 + minutes(60)
        with freeze_time(T0):
            record.action_send()
            record.with_user(self.user).action_stop()
            self.assertEqual(record.state, "ready")
            self.assertFalse(record.resume_at)
            record.with_user(self.user).scheduled_at = T0 + minutes(90)
            record.action_send()
        self.assertEqual(record.resume_at, T0 + minutes(90))
        with freeze_time(T0 + minutes(61)):
            # the job of the first plan does nothing
            self.run_jobs(record)
        self.assertEqual((record.state, self.sink.count()), ("waiting", 0))
        with freeze_time(T0 + minutes(91)):
            self.run_jobs(record)
        self.assertEqual(record.state, "done_auto")
        self.assertEqual(self.sink.count(), 2)
        self.assertNobodyTwice()

    def test_stale_plan_does_not_send_and_asks_to_confirm(self):
        self.params.set_param("serial_correspondence.stale_schedule_hours", "6")
        record = self.ready_email("Veraltet", 3)
        record.scheduled_at = T0
        with freeze_time(T0 - minutes(5)):
            record.with_user(self.user).action_send()
        self.assertEqual(record.state, "waiting")
        # the workers were down: the job runs 7 hours late
        with freeze_time(T0 + datetime.timedelta(hours=7)):
            self.run_jobs(record)
        self.assertEqual(self.sink.count(), 0)
        self.assertEqual(record.state, "ready")
        self.assertEqual(set(record.recipient_ids.mapped("state")), {"pending"})
        self.assertFalse(record.waiting_for_schedule)
        self.assertIn(
            "did not start in time", record.message_ids[:1].body or "", "chatter"
        )
        activity = record.activity_ids
        self.assertEqual(len(activity), 1)
        self.assertEqual(activity.user_id, self.user)
        self.assertEqual(activity.summary, "Confirm the planned sending")
        # sending again confirms: it starts at once
        with freeze_time(T0 + datetime.timedelta(hours=8)):
            record.with_user(self.user).action_send()
            self.assertEqual(record.state, "in_progress")
            self.run_jobs(record)
        self.assertEqual(record.state, "done_auto")
        self.assertEqual(self.sink.count(), 3)

    def test_plan_within_the_stale_limit_is_sent(self):
        record = self.ready_email("Spaet", 1)
        record.scheduled_at = T0
        with freeze_time(T0 - minutes(5)):
            record.action_send()
        # default: 24 hours
        with freeze_time(T0 + datetime.timedelta(hours=23)):
            self.run_jobs(record)
        self.assertEqual((record.state, self.sink.count()), ("done_auto", 1))

    def test_stale_arithmetic(self):
        self.assertFalse(is_stale(T0, T0 + datetime.timedelta(hours=24), 24))
        self.assertTrue(is_stale(T0, T0 + datetime.timedelta(hours=24, seconds=1), 24))

    def test_scheduled_at_is_no_processing_field(self):
        record = self.ready_email("Feld", 1)
        record.with_user(self.user).write({"scheduled_at": T0})
        self.assertEqual(record.scheduled_at, T0)
        with self.assertRaises(AccessError):
            record.with_user(self.user).write({"stop_requested": True})
        with self.assertRaises(AccessError):
            record.with_user(self.user).write({"waiting_for_schedule": True})


@tagged("post_install", "-at_install")
class TestStopSending(EmailCase):
    def perform_one(self, record):
        jobs = self.queued_jobs(record)
        self.assertTrue(jobs, "a job is due")
        self.perform_job(jobs[0])

    def test_stop_during_sending_finishes_the_email_under_way(self):
        record = self.ready_email("Mitten", 6)
        record.with_user(self.user).action_send()
        handed_over = []
        Correspondence = type(record)
        hand_over = SmtpDelivery.hand_over

        def hand_over_and_stop(delivery, email):
            hand_over(delivery, email)
            handed_over.append(email.recipient_id)
            if len(handed_over) == 3:
                # the user stops while the third e-mail goes out; the send job
                # holds the sending lock (another server): the flag is all
                # the action can set
                record.with_user(self.user).action_stop()
                record.env.flush_all()

        with (
            patch.object(SmtpDelivery, "hand_over", hand_over_and_stop),
            patch.object(
                Correspondence, "_try_lock_sending_for_transaction", lambda s: False
            ),
        ):
            self.run_jobs(record)
        self.assertEqual(len(handed_over), 3)
        self.assertEqual(record.sent_count, 3)
        self.assertEqual(record.pending_count, 3)
        self.assertEqual(record.state, "sent_incomplete")
        self.assertFalse(record.stop_requested)
        self.assertFalse(self.queued_jobs(record))
        self.assertEqual(self.sink.count(), 3)
        self.assertFalse(
            record.recipient_ids.filtered("send_started_at"), "no claim is left"
        )
        # Send e-mails goes on with the unsent only
        record.with_user(self.user).action_send()
        self.run_jobs(record)
        self.assertEqual(record.state, "done_auto")
        self.assertEqual(self.sink.count(), 6)
        self.assertEqual(len(self.received()), 6)
        self.assertNobodyTwice()

    def test_stop_with_a_server_that_asks_to_wait_stops_at_once(self):
        record = self.ready_email("Spaeter", 4)
        record.action_send()
        hand_over = SmtpDelivery.hand_over
        count = []

        def stop_and_refuse_the_second(delivery, email):
            count.append(email.recipient_id)
            if len(count) == 2:
                # the user stops, and the server refuses this one for now
                record.action_stop()
                record.env.flush_all()
                self.sink.tempfail(600)
            hand_over(delivery, email)

        with (
            patch.object(SmtpDelivery, "hand_over", stop_and_refuse_the_second),
            patch.object(
                type(record), "_try_lock_sending_for_transaction", lambda s: False
            ),
        ):
            self.run_jobs(record)
        self.sink.tempfail(0)
        # not waiting for the server: stopped, the refused one still pending
        self.assertEqual(record.state, "sent_incomplete")
        self.assertEqual((record.sent_count, record.pending_count), (1, 3))
        self.assertFalse(self.queued_jobs(record, include_planned=True))
        record.action_send()
        self.run_jobs(record)
        self.assertEqual((record.state, self.sink.count()), ("done_auto", 4))
        self.assertNobodyTwice()

    def test_stop_between_batches_of_a_job(self):
        self.params.set_param("serial_correspondence.send_batch_size", "2")
        record = self.ready_email("Stapel", 5)
        record.action_send()
        Correspondence = type(record)
        evaluate = Correspondence._evaluate_recipients
        batches = []

        def evaluate_and_stop(correspondence, batch):
            batches.append(batch.ids)
            if len(batches) == 2:
                record.action_stop()
                record.env.flush_all()
            return evaluate(correspondence, batch)

        with (
            patch.object(Correspondence, "_evaluate_recipients", evaluate_and_stop),
            patch.object(
                Correspondence, "_try_lock_sending_for_transaction", lambda s: False
            ),
        ):
            self.run_jobs(record)
        # the second batch was evaluated, but nobody of it claimed
        self.assertEqual(len(batches), 2)
        self.assertEqual((record.sent_count, record.pending_count), (2, 3))
        self.assertEqual(record.state, "sent_incomplete")
        record.action_send()
        self.run_jobs(record)
        self.assertEqual((record.state, self.sink.count()), ("done_auto", 5))
        self.assertNobodyTwice()

    def test_stop_asked_while_a_job_works_is_done_by_the_next_job(self):
        record = self.ready_email("Naechster", 2)
        record.action_send()
        with patch.object(
            type(record), "_try_lock_sending_for_transaction", lambda s: False
        ):
            record.with_user(self.user).action_stop()
        self.assertEqual(record.state, "in_progress")
        self.assertTrue(record.stop_requested)
        self.assertFalse(record.can_stop)
        self.run_jobs(record)
        self.assertEqual(record.state, "ready")
        self.assertFalse(record.stop_requested)
        self.assertEqual(self.sink.count(), 0)

    def test_stop_while_waiting_for_the_limits(self):
        self.set_limits(max_emails=2, window_minutes=1)
        record = self.ready_email("Limit", 5)
        with freeze_time(T0):
            record.action_send()
            self.run_jobs(record)
        self.assertEqual((record.state, record.sent_count), ("waiting", 2))
        self.assertTrue(record.can_stop)
        with freeze_time(T0 + minutes(0.5)):
            record.with_user(self.user).action_stop()
        self.assertEqual(record.state, "sent_incomplete")
        self.assertEqual(record.pending_count, 3)
        self.assertFalse(record.resume_at)
        self.assertIn("Sending stopped", record.message_ids[:1].body)
        # the job planned for the limits does nothing
        with freeze_time(T0 + minutes(2)):
            planned = self.queued_jobs(record)
            self.assertEqual(len(planned), 1)
            self.perform_job(planned)
            self.assertIn("Nothing to do", planned.result)
        self.assertEqual(self.sink.count(), 2)
        self.set_limits()
        with freeze_time(T0 + minutes(3)):
            record.action_send()
            self.run_jobs(record)
        self.assertEqual((record.state, self.sink.count()), ("done_auto", 5))
        self.assertNobodyTwice()

    def test_stop_before_the_job_started_sends_nothing(self):
        record = self.ready_email("Sofort", 3)
        record.action_send()
        record.action_stop()
        self.assertEqual(record.state, "ready")
        self.assertEqual(self.run_jobs(record), 1)  # the queued job: no-op
        self.assertEqual(self.sink.count(), 0)
        self.assertEqual(set(record.recipient_ids.mapped("state")), {"pending"})

    def test_stop_is_refused_when_nothing_runs(self):
        record = self.ready_email("Nichts", 1)
        self.assertFalse(record.can_stop)
        with self.assertRaisesRegex(UserError, "nothing to stop"):
            record.with_user(self.user).action_stop()
        self.assertEqual(record.state, "ready")

    def test_stop_by_a_user_who_may_not_write_is_refused(self):
        record = self.ready_email("Fremd", 2)
        record.with_user(self.user).action_send()
        stranger = new_test_user(
            self.env,
            login="sc_stranger",
            groups="base.group_user,serial_correspondence.group_serial_correspondence_user",
        )
        with self.assertRaises(AccessError):
            record.with_user(stranger).action_stop()
        self.assertEqual(record.state, "in_progress")
        self.assertFalse(record.stop_requested)
        self.run_jobs(record)
        self.assertEqual((record.state, self.sink.count()), ("done_auto", 2))


@tagged("post_install", "-at_install")
class TestStopLetters(LetterDataMixin, SerialCorrespondenceCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.setup_letter_data()

    def test_stop_during_generation_keeps_the_printed_letters(self):
        self.env["ir.config_parameter"].sudo().set_param(
            "serial_correspondence.letter_part_size", "2"
        )
        record = self.letter(partners=self.printable, sort_order="name")
        record.with_user(self.user).action_generate()
        self.assertTrue(record.can_stop)
        self.perform_job(self.queued_jobs(record))
        self.assertEqual(record.created_count, 2)
        record.with_user(self.user).action_stop()
        self.assertEqual(record.state, "created_incomplete")
        self.assertEqual((record.created_count, record.pending_count), (2, 3))
        self.assertEqual(len(pdf_pages(self.document(record))), 2)
        # the queued part does nothing
        jobs = self.queued_jobs(record)
        self.assertEqual(len(jobs), 1)
        self.perform_job(jobs)
        self.assertIn("Nothing to do", jobs.result)
        self.assertEqual(record.pending_count, 3)
        # generating again processes everybody
        self.generate(record)
        self.assertEqual(record.state, "created")
        self.assertEqual(record.created_count, 5)
        self.assertEqual(len(pdf_pages(self.document(record))), 5)

    def test_stop_before_any_letter_goes_back_to_ready(self):
        record = self.letter(partners=self.printable)
        record.action_generate()
        record.action_stop()
        self.assertEqual(record.state, "ready")
        self.assertFalse(record.document_attachment_id)
        self.run_jobs(record)
        self.assertEqual(record.state, "ready")
        self.assertEqual(record.created_count, 0)


@tagged("post_install", "-at_install")
class TestSendingProgress(EmailCase):
    def test_progress_and_expected_end_under_the_limits(self):
        self.set_limits(max_emails=2, window_minutes=1)
        record = self.ready_email("Fortschritt", 5)
        self.assertFalse(record.expected_end_at)
        with freeze_time(T0):
            record.action_send()
            # in progress, nothing sent: 2 now, 2 a minute later, 1 after two
            self.assertEqual(record.expected_end_at, T0 + minutes(2))
            self.run_jobs(record)
            self.assertEqual((record.sent_count, record.recipient_count), (2, 5))
            self.assertEqual(record.state, "waiting")
            self.assertEqual(record.resume_at, T0 + minutes(1))
            # 3 left: 2 at the resume, 1 a window later
            self.assertEqual(record.expected_end_at, T0 + minutes(2))
        with freeze_time(T0 + minutes(1)):
            self.run_jobs(record)
            self.assertEqual(record.sent_count, 4)
            self.assertEqual(record.expected_end_at, T0 + minutes(2))
        with freeze_time(T0 + minutes(2)):
            self.run_jobs(record)
        self.assertEqual(record.state, "done_auto")
        self.assertFalse(record.expected_end_at)

    def test_no_expected_end_without_limits(self):
        self.set_limits()
        record = self.ready_email("Offen", 2)
        record.action_send()
        self.assertFalse(record.expected_end_at)

    def test_planned_send_expects_its_end_from_the_planned_time(self):
        self.set_limits(max_emails=2, window_minutes=10)
        record = self.ready_email("Plan", 3)
        record.scheduled_at = T0 + minutes(60)
        with freeze_time(T0):
            record.action_send()
            self.assertEqual(record.expected_end_at, T0 + minutes(70))

    def test_expected_end_arithmetic(self):
        window = minutes(1)
        self.assertIsNone(expected_end(T0, 0, 2, window, 2))
        self.assertIsNone(expected_end(T0, 5, 0, window, None))
        self.assertEqual(expected_end(T0, 2, 2, window, 2), T0)
        self.assertEqual(expected_end(T0, 5, 2, window, 0), T0 + minutes(3))
        self.assertEqual(
            expected_end(T0, 3, 2, window, 0, resume_at=T0 + minutes(1)),
            T0 + minutes(2),
        )
        # a waiting correspondence without a planned time (Odoo's False)
        self.assertEqual(
            expected_end(T0, 5, 2, window, 0, resume_at=False), T0 + minutes(3)
        )
