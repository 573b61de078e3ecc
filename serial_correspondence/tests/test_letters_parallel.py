# Copyright 2026 serial_correspondence authors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""Letter parts printed in parallel: fixed ranges of the sort order, queued
together, performed in any order, merged in sort order; real queue_job jobs,
real wkhtmltopdf, the PDF read back with pdftotext."""

import os
from unittest.mock import patch

from odoo.tests import tagged

from ..tools.senders import channel_capacity
from .common import SerialCorrespondenceCase
from .letter_common import LetterDataMixin, pdf_pages, pdf_text

PART = "_generate_letters_part"
ASSEMBLY = "_assemble_letter_document"
# everybody in Briefstadt by name: Frida is excluded ("No letters"), Hans
# and Ida are in error (incomplete addresses)
BY_NAME = [
    "Anna Zimmermann",
    "Bernd Adler",
    "Clara Müller",
    "Dieter Schweizer",
    "Emil Österreicher",
    "Frida Keinbrief",
    "Gustav Werbefrei",
    "Hans Ohnestraße",
    "Ida Irgendwo",
]
LETTERS = [
    "Anna Zimmermann",
    "Bernd Adler",
    "Clara Müller",
    "Dieter Schweizer",
    "Emil Österreicher",
    "Gustav Werbefrei",
]


@tagged("post_install", "-at_install")
class TestLettersParallel(LetterDataMixin, SerialCorrespondenceCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.setup_letter_data()

    def setUp(self):
        super().setUp()
        self.params = self.env["ir.config_parameter"].sudo()
        # parts of 2 positions; as many parts at once as there are
        self.params.set_param("serial_correspondence.letter_part_size", "2")
        self.params.set_param("serial_correspondence.letter_parallel_parts", "10")

    # -- helpers ---------------------------------------------------------------

    def jobs_of(self, record, method, states=("pending", "enqueued")):
        return self.queued_jobs(record, states=states).filtered(
            lambda job: job.method_name == method
        )

    def all_jobs(self, record, method):
        return self.jobs_of(
            record,
            method,
            states=("wait_dependencies", "pending", "enqueued", "started", "done"),
        )

    def part_numbers(self, jobs):
        return [job.args[1] for job in jobs]

    def requeue(self, job):
        job.sudo().write({"state": "pending", "date_done": False, "result": False})

    def assert_sort_order(self, record, names):
        pages = pdf_pages(self.document(record))
        self.assertEqual(len(pages), len(names))
        for page, name in zip(pages, names, strict=True):
            self.assertIn(name, page)
        self.assertOrder(pdf_text(self.document(record)), names)

    # -- tests -----------------------------------------------------------------

    def test_parts_queued_at_once_printed_in_reverse_merged_in_sort_order(self):
        record = self.letter(sort_order="name")
        record.with_user(self.user).action_generate()
        self.assertEqual(record.state, "in_progress")
        parts = self.jobs_of(record, PART)
        # 9 recipients in parts of 2 positions: all 5 parts at once, nothing
        # else
        self.assertEqual(self.part_numbers(parts), [1, 2, 3, 4, 5])
        self.assertEqual(len(self.queued_jobs(record)), 5)
        self.assertFalse(self.all_jobs(record, ASSEMBLY))
        # each part a fixed range of positions, whatever was printed before
        self.assertEqual(
            record.recipient_ids.sorted("letter_sequence").partner_id.mapped("name"),
            BY_NAME,
        )
        for job in reversed(parts):
            self.assertFalse(self.all_jobs(record, ASSEMBLY), "not before the last")
            self.perform_job(job)
            self.assertEqual(job.state, "done")
        # the assembly comes once, after the last part (part 1 here)
        assembly = self.jobs_of(record, ASSEMBLY)
        self.assertEqual(len(assembly), 1)
        self.assertIn("the last one", parts[0].result)
        # no part queued anything else
        self.assertEqual(self.queued_jobs(record), assembly)
        self.assertEqual(record.state, "in_progress")
        self.perform_job(assembly)
        self.assertFalse(self.queued_jobs(record))
        self.assertEqual(record.state, "create_failed")
        # parts by number: part 5 (Ida, in error) has no letter, no part
        self.assertEqual(
            record.sudo().letter_part_ids.sorted("sequence").mapped("sequence"),
            [1, 2, 3, 4],
        )
        self.assertEqual(
            record.sudo().letter_part_ids.sorted("sequence").mapped("letter_count"),
            [2, 2, 1, 1],
        )
        self.assert_sort_order(record, LETTERS)
        self.assertEqual(record.document_page_count, 6)
        # exclusions and errors recorded per recipient
        frida = self.recipient(record, self.no_letters)
        self.assertEqual(frida.state, "excluded")
        self.assertEqual(frida.reason, "The contact is marked 'No letters'.")
        for partner in self.no_street | self.no_zip_country:
            recipient = self.recipient(record, partner)
            self.assertEqual(recipient.state, "error")
            self.assertIn("postal address is incomplete", recipient.reason)
        self.assertEqual(
            (record.created_count, record.excluded_count, record.error_count),
            (6, 1, 2),
        )
        # the outcome once, in the chatter
        notes = record.message_ids.filtered(
            lambda message: "Generated:" in str(message.body)
        )
        self.assertEqual(len(notes), 1)
        self.assertFalse(record.job_uuid)

    def test_parts_in_any_order_give_the_same_document(self):
        record = self.letter(self.printable, sort_order="name")
        record.with_user(self.user).action_generate()
        parts = self.jobs_of(record, PART)
        self.assertEqual(self.part_numbers(parts), [1, 2, 3])
        for index in (1, 2, 0):
            self.perform_job(parts[index])
        self.run_jobs(record)
        self.assertEqual(record.state, "created")
        self.assert_sort_order(record, LETTERS[:5])

    def test_a_part_performed_twice_prints_nothing_twice(self):
        record = self.letter(self.printable, sort_order="name")
        record.with_user(self.user).action_generate()
        parts = self.jobs_of(record, PART)
        self.perform_job(parts[1])
        printed = record.sudo().letter_part_ids
        self.assertEqual(printed.mapped("sequence"), [2])
        pdf = printed._pdf_bytes()
        created = record.recipient_ids.filtered(lambda r: r.state == "created")
        self.assertEqual(
            created.partner_id.mapped("name"), ["Clara Müller", "Dieter Schweizer"]
        )
        # run again (queue_job requeued it): nothing printed, nothing queued
        self.requeue(parts[1])
        self.perform_job(parts[1])
        self.assertIn("already been printed", parts[1].result)
        self.assertEqual(record.sudo().letter_part_ids, printed)
        self.assertEqual(printed._pdf_bytes(), pdf)
        self.assertEqual(
            record.recipient_ids.filtered(lambda r: r.state == "created"), created
        )
        self.assertEqual(self.jobs_of(record, PART), parts[0] | parts[2])
        self.assertFalse(self.all_jobs(record, ASSEMBLY))
        self.run_jobs(record)
        self.assertEqual(record.state, "created")
        self.assert_sort_order(record, LETTERS[:5])
        self.assertEqual(len(self.all_jobs(record, ASSEMBLY)), 1)

    def test_the_assembly_runs_once(self):
        record = self.letter(self.printable, sort_order="name")
        self.generate(record)
        self.assertEqual(record.state, "created")
        [assembly] = self.all_jobs(record, ASSEMBLY)
        raw = self.document(record)
        # run again: the run is over, the document and the outcome stay
        self.requeue(assembly)
        self.perform_job(assembly)
        self.assertIn("Nothing to do", assembly.result)
        self.assertEqual(self.document(record), raw)
        notes = record.message_ids.filtered(
            lambda message: "Generated:" in str(message.body)
        )
        self.assertEqual(len(notes), 1)

    def test_a_window_of_parts(self):
        self.params.set_param("serial_correspondence.letter_parallel_parts", "2")
        record = self.letter(sort_order="name")
        record.with_user(self.user).action_generate()
        parts = self.jobs_of(record, PART)
        self.assertEqual(self.part_numbers(parts), [1, 2])
        # part 2 printed: part 4 follows (the window moves on)
        self.perform_job(parts[1])
        self.assertEqual(self.part_numbers(self.jobs_of(record, PART)), [1, 4])
        self.run_jobs(record)
        self.assertEqual(
            sorted(self.part_numbers(self.all_jobs(record, PART))), [1, 2, 3, 4, 5]
        )
        self.assertEqual(len(self.all_jobs(record, ASSEMBLY)), 1)
        self.assert_sort_order(record, LETTERS)

    def test_stop_while_parts_are_queued(self):
        record = self.letter(self.printable, sort_order="name")
        record.with_user(self.user).action_generate()
        parts = self.jobs_of(record, PART)
        self.perform_job(parts[2])
        record.with_user(self.user).action_stop()
        self.assertEqual(record.state, "created_incomplete")
        self.assertEqual((record.created_count, record.pending_count), (1, 4))
        self.assert_sort_order(record, ["Emil Österreicher"])
        # the queued parts do nothing
        for job in parts[:2]:
            self.perform_job(job)
            self.assertIn("Nothing to do", job.result)
        self.assertFalse(self.queued_jobs(record))
        self.assertEqual(record.pending_count, 4)
        # generating again processes everybody
        self.generate(record)
        self.assertEqual(record.state, "created")
        self.assert_sort_order(record, LETTERS[:5])

    def test_labels_stay_one_part_after_the_other(self):
        record = self.letter(sort_order="name", output="labels")
        record.with_user(self.user).action_generate()
        self.assertEqual(self.part_numbers(self.jobs_of(record, PART)), [1])
        self.run_jobs(record)
        self.assertEqual(record.state, "create_failed")
        self.assertEqual(record.created_count, 6)
        # whole sheets: one sheet holds the 6 labels
        self.assertEqual(len(pdf_pages(self.document(record))), 1)

    def test_one_job_at_a_time_keeps_parts_full(self):
        self.params.set_param("serial_correspondence.letter_parallel_parts", "1")
        record = self.letter(sort_order="name")
        record.with_user(self.user).action_generate()
        self.assertEqual(self.part_numbers(self.jobs_of(record, PART)), [1])
        self.run_jobs(record)
        self.assertEqual(len(record.sudo().letter_part_ids), 3)
        self.assert_sort_order(record, LETTERS)

    def test_the_window_follows_queue_jobs_channel_capacity(self):
        self.params.set_param("serial_correspondence.letter_parallel_parts", "")
        cases = {
            "": 1,
            "root:4": 4,
            "root:4,root.serial_correspondence:2": 2,
            "root:4,root.serial_correspondence:3:throttle=1": 3,
            # the root's one job at a time bounds its channels
            "root:1,root.serial_correspondence:3": 1,
            "root:nonsense": 1,
        }
        for spec, capacity in cases.items():
            with (
                self.subTest(channels=spec),
                patch.dict(os.environ, {"ODOO_QUEUE_JOB_CHANNELS": spec}),
            ):
                self.assertEqual(
                    channel_capacity("root.serial_correspondence"), capacity
                )
                self.assertEqual(self.Correspondence._letter_parallel_parts(), capacity)
