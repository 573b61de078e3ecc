# Copyright 2026 serial_correspondence authors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
from odoo.tests import tagged

from .common import SerialCorrespondenceCase


class Interrupted(Exception):
    """Stands for a worker that dies before its transaction commits."""


@tagged("post_install", "-at_install")
class TestImportRecipients(SerialCorrespondenceCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.big_town = "Großstadt"
        cls.many = cls.Partner.create(
            [
                {
                    "name": f"Mitglied {i:05d}",
                    "city": cls.big_town,
                    "zip": f"{i % 99999:05d}",
                }
                for i in range(10000)
            ]
        )
        # archived contacts are not selected
        cls.Partner.create(
            {"name": "Ausgetreten", "city": cls.big_town, "active": False}
        )

    def _big_correspondence(self):
        return self.create_correspondence(
            partner_domain=repr([("city", "=", self.big_town)])
        )

    def _assert_exactly_the_10000(self, record):
        self.assertEqual(record.state, "ready")
        self.assertEqual(record.recipient_count, 10000)
        self.env.cr.execute(
            "SELECT count(*), count(DISTINCT partner_id) "
            "FROM serial_correspondence_recipient WHERE correspondence_id = %s",
            [record.id],
        )
        self.assertEqual(self.env.cr.fetchone(), (10000, 10000))
        self.assertEqual(record.recipient_ids.partner_id, self.many)
        self.assertEqual((record.import_done, record.import_total), (10000, 10000))

    def test_10000_contacts_become_exactly_10000_recipients(self):
        self.set_batch_size(1000)
        record = self._big_correspondence()
        self.assertEqual(record.import_total, 10000)
        ran = self.run_jobs(record)
        # ten full batches, then one that finds nothing more and finishes
        self.assertEqual(ran, 11)
        self._assert_exactly_the_10000(record)

    def test_progress_is_visible_between_batches(self):
        self.set_batch_size(2500)
        record = self._big_correspondence()
        self.perform_job(self.queued_jobs(record))
        self.assertEqual((record.import_done, record.import_total), (2500, 10000))
        self.assertEqual(record.recipient_count, 2500)
        self.assertEqual(record.state, "importing")

    def test_interrupted_batch_is_read_again_without_duplicates(self):
        self.set_batch_size(1000)
        record = self._big_correspondence()
        for _i in range(3):
            self.perform_job(self.queued_jobs(record))
        interrupted = self.queued_jobs(record)
        # the worker dies in the middle of the fourth batch: PostgreSQL
        # rolls its whole transaction back
        with self.assertRaises(Interrupted), self.env.cr.savepoint():
            self.perform_job(interrupted)
            self.assertEqual(record.recipient_count, 4000)
            raise Interrupted()
        self.env.invalidate_all()
        self.assertEqual(record.recipient_count, 3000)
        # queue_job starts the dead job again: it reads the same batch
        self.assertEqual(self.queued_jobs(record), interrupted)
        self.run_jobs(record)
        self._assert_exactly_the_10000(record)

    def test_job_run_twice_adds_nothing(self):
        self.set_batch_size(4000)
        record = self._big_correspondence()
        first = self.queued_jobs(record)
        self.perform_job(first)
        # the same job delivered once more (e.g. requeued after a timeout)
        first.sudo().state = "pending"
        self.perform_job(first)
        self.assertEqual(record.import_done, 4000)
        self.assertEqual(record.recipient_count, 4000)
        self.run_jobs(record)
        self._assert_exactly_the_10000(record)

    def test_contacts_already_recipients_are_not_added_again(self):
        self.set_batch_size(3000)
        record = self._big_correspondence()
        # a crash left recipients of a later batch in the table
        ahead = self.many[5000:5010]
        self.env["serial.correspondence.recipient"]._insert_for_partners(
            record, ahead.ids
        )
        self.run_jobs(record)
        self._assert_exactly_the_10000(record)

    def test_queries_per_batch_do_not_grow_with_batch_size(self):
        counts = {}
        for size in (100, 2000):
            self.set_batch_size(size)
            record = self._big_correspondence()
            # the second batch: a full batch that enqueues the next one
            self.perform_job(self.queued_jobs(record))
            job = self.queued_jobs(record)
            self.env.invalidate_all()
            before = self.env.cr.sql_log_count
            self.perform_job(job)
            counts[size] = self.env.cr.sql_log_count - before
        self.assertEqual(counts[100], counts[2000], counts)
        self.assertLess(counts[2000], 60, counts)
