# Copyright 2026 serial_correspondence authors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""Serial letters, printed for real: wkhtmltopdf makes the PDFs, poppler's
pdftotext reads them back."""

import base64
import hashlib

from odoo.exceptions import UserError
from odoo.tests import tagged

from ..tools.label_sheets import LABEL_SHEETS
from .common import SerialCorrespondenceCase
from .letter_common import LetterDataMixin, pdf_pages, pdf_text, pdf_words


@tagged("post_install", "-at_install")
class TestLetters(LetterDataMixin, SerialCorrespondenceCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.setup_letter_data()

    # -- refusing to start -------------------------------------------------

    def test_generate_requires_subject_and_template_and_queues_nothing(self):
        record = self.letter(subject=False, template_id=False)
        with self.assertRaisesRegex(UserError, "a subject and a template"):
            record.with_user(self.user).action_generate()
        self.assertEqual(record.state, "ready")
        self.assertFalse(self.queued_jobs(record))
        record.subject = "Betreff"
        with self.assertRaisesRegex(UserError, "give .* a template"):
            record.with_user(self.user).action_generate()
        self.assertEqual(record.state, "ready")
        self.assertFalse(self.queued_jobs(record))

    def test_template_that_does_not_render_is_refused_nothing_queued(self):
        broken = self.letter_template.copy(
            {"body_html": "<p><t t-out='object.no_such_field'/></p>"}
        )
        record = self.letter(template_id=broken.id)
        with self.assertRaisesRegex(
            UserError, "template cannot be rendered.*no_such_field"
        ):
            record.with_user(self.user).action_generate()
        self.assertEqual(record.state, "ready")
        self.assertFalse(self.queued_jobs(record))
        self.assertFalse(record.document_attachment_id)
        self.assertEqual(set(record.recipient_ids.mapped("state")), {"pending"})

    def test_e_mails_cannot_generate_letters(self):
        record = self.create_correspondence(kind="email", subject="Hallo")
        self.run_jobs(record)
        self.assertFalse(record.can_generate)
        with self.assertRaisesRegex(UserError, "cannot generate letters"):
            record.action_generate()

    # -- processing: outcomes and reasons ------------------------------------

    def test_each_recipient_gets_its_outcome_and_reason_only_created_are_printed(self):
        record = self.generate(self.letter(purpose="advertising"))
        expected = {
            self.no_letters: ("excluded", "No letters"),
            self.refuses_ads: ("excluded", "refused advertising by letter"),
            self.no_street: ("error", "missing: street"),
            self.no_zip_country: ("error", "missing: postal code, country"),
        }
        for partner, (state, reason) in expected.items():
            recipient = self.recipient(record, partner)
            self.assertEqual(recipient.state, state, partner.name)
            self.assertIn(reason, recipient.reason, partner.name)
            self.assertFalse(recipient.letter_body, partner.name)
        for partner in self.printable:
            recipient = self.recipient(record, partner)
            self.assertEqual(recipient.state, "created", partner.name)
            self.assertFalse(recipient.reason)
            self.assertIn(f"Liebe(r) {partner.name}", recipient.letter_body)
            self.assertEqual(recipient.letter_page_count, 1)
        # errors take precedence over exclusions
        self.assertEqual(record.state, "create_failed")
        self.assertEqual(
            (record.created_count, record.excluded_count, record.error_count), (5, 2, 2)
        )
        pdf = self.document(record)
        pages = pdf_pages(pdf)
        self.assertEqual(len(pages), 5, "one page per created letter")
        self.assertEqual(record.document_page_count, 5)
        text = pdf_text(pdf)
        for partner in self.printable:
            self.assertIn(partner.name, text)
            self.assertIn(f"Liebe(r) {partner.name}", text)
        for partner in (
            self.no_letters | self.refuses_ads | self.no_street | self.no_zip_country
        ):
            self.assertNotIn(partner.name, text, "not printed")
        # the job and the chatter tell the result
        self.assertFalse(self.queued_jobs(record))
        self.assertIn("5 letters created", record.message_ids[0].body)

    def test_information_letters_ignore_advertising_refusal(self):
        record = self.generate(
            self.letter(
                self.printable | self.refuses_ads | self.no_letters,
                purpose="information",
            )
        )
        self.assertEqual(self.recipient(record, self.refuses_ads).state, "created")
        self.assertEqual(self.recipient(record, self.no_letters).state, "excluded")
        self.assertEqual(record.state, "created_incomplete")

    def test_everybody_printed_is_created(self):
        record = self.generate(self.letter(self.printable))
        self.assertEqual(record.state, "created")
        self.assertTrue(record.can_finalize)
        self.assertTrue(record.can_generate)

    def test_generating_locks_the_correspondence(self):
        record = self.letter(self.printable)
        record.with_user(self.user).action_generate()
        self.assertEqual(record.state, "in_progress")
        self.assertEqual(record.processing_status, "waiting")
        with self.assertRaisesRegex(UserError, "being processed"):
            record.with_user(self.user).write({"subject": "Anders"})
        with self.assertRaisesRegex(UserError, "being processed"):
            self.recipient(record, self.anna).with_user(self.user).write(
                {"letter_body": "<p>Anders</p>"}
            )
        self.run_jobs(record)
        self.assertEqual(record.state, "created")

    def test_parts_keep_the_order_and_the_document_is_one_pdf(self):
        self.env["ir.config_parameter"].sudo().set_param(
            "serial_correspondence.letter_part_size", "2"
        )
        record = self.letter(sort_order="name")
        record.with_user(self.user).action_generate()
        jobs = self.run_jobs(record)
        # 6 letters in parts of 2 (Frida's exclusion between Emil and Gustav),
        # a job that finds the last two in error, then the one that puts the
        # document together
        self.assertEqual(jobs, 5)
        self.assertEqual(len(record.sudo().letter_part_ids), 3)
        self.assertEqual(record.state, "create_failed")
        text = pdf_text(self.document(record))
        self.assertOrder(
            text,
            [
                "Anna Zimmermann",
                "Bernd Adler",
                "Clara Müller",
                "Dieter Schweizer",
                "Emil Österreicher",
                "Gustav Werbefrei",
            ],
        )
        self.assertEqual(len(pdf_pages(self.document(record))), 6)

    # -- sort orders -----------------------------------------------------------

    def test_sort_orders_decide_the_order_of_the_letters(self):
        orders = {
            "name": [
                "Anna Zimmermann",
                "Bernd Adler",
                "Clara Müller",
                "Dieter Schweizer",
                "Emil Österreicher",
            ],
            # postal codes as text: 1010 < 10115 < 50667 < 8001 < 80331
            "zip": [
                "Emil Österreicher",
                "Bernd Adler",
                "Clara Müller",
                "Dieter Schweizer",
                "Anna Zimmermann",
            ],
            # domestic (Germany) first by postal code, then Austria, Switzerland
            "country_zip": [
                "Bernd Adler",
                "Clara Müller",
                "Anna Zimmermann",
                "Emil Österreicher",
                "Dieter Schweizer",
            ],
        }
        record = self.letter(self.printable)
        for sort_order, names in orders.items():
            with self.subTest(sort_order=sort_order):
                record.with_user(self.user).sort_order = sort_order
                self.generate(record)
                pages = pdf_pages(self.document(record))
                self.assertEqual(len(pages), 5)
                for page, name in zip(pages, names, strict=True):
                    self.assertIn(name, page)
                self.assertEqual(
                    record.recipient_ids.sorted("letter_sequence").partner_id.mapped(
                        "name"
                    ),
                    names,
                )

    # -- the layout ------------------------------------------------------------

    def test_letter_layout_din_5008_window_envelope(self):
        record = self.generate(self.letter(self.anna | self.dieter, sort_order="name"))
        pdf = self.document(record)
        words = pdf_words(pdf)

        def first(word, page, below=0):
            found = [w for w in words if w[0] == page and w[1] == word and w[3] > below]
            self.assertTrue(found, f"{word!r} on page {page + 1}")
            return found[0]

        # the address in the window field: 45 mm from the top, 20 mm from the
        # left, 85 x 45 mm; its text starts at 25 mm
        for page, words_in_window in enumerate(
            (("Anna", "Hauptstraße", "80331", "München"), ("Dieter", "8001", "Zürich"))
        ):
            for word in words_in_window:
                _page, _word, x0, y0, x1, y1 = first(word, page)
                if word[0].isdigit() or word in ("Anna", "Dieter", "Hauptstraße"):
                    self.assertAlmostEqual(x0, 25, delta=1.5, msg=word)
                self.assertLess(x1, 20 + 85, word)
                self.assertGreater(y0, 45 + 17.7 - 1, word)
                self.assertLess(y1, 45 + 45, word)
            # the return address: small, above the address, in the window
            _page, _word, x0, y0, x1, y1 = first("Vereinsweg", page, below=45)
            self.assertTrue(45 + 5 < y0 < 45 + 17.7, "return address above the address")
            self.assertLess(y1 - y0, 3.5, "return address in small type")
        # a foreign address ends with the country in capitals; a domestic
        # one has no country line
        pages = pdf_pages(pdf)
        self.assertIn("SWITZERLAND", pages[1])
        self.assertNotIn("GERMANY", pages[0])
        self.assertIn(
            "Musterverein e.V. · Vereinsweg 1 · 12345 Vereinsstadt · GERMANY", pages[1]
        )
        # letterhead, date, subject, body
        for page in pages:
            self.assertIn("Musterverein e.V.", page)
            self.assertIn("Date", page)
            self.assertIn("Einladung zur Versammlung", page)
            self.assertIn("wir laden Sie herzlich zu unserer Versammlung ein.", page)
        _page, _word, x0, y0, _x1, _y1 = first("Einladung", 0)
        self.assertAlmostEqual(x0, 25, delta=1.5, msg="the subject starts at 25 mm")
        self.assertAlmostEqual(y0, 98.5, delta=3, msg="the subject below the window")
        # single-page letters carry no page number
        self.assertNotIn("Page 1", pdf_text(pdf))

    def test_long_return_address_fits_the_window_also_abroad(self):
        self.env.company.write(
            {
                "name": "Musterverein Berlin-Brandenburg für Kultur e. V.",
                "street": "Karl-Marx-Allee 101",
                "zip": "10243",
                "city": "Berlin",
            }
        )
        record = self.generate(self.letter(self.anna | self.emil, sort_order="name"))
        words = pdf_words(self.document(record))
        expected = (
            "Musterverein Berlin-Brandenburg für Kultur e. V. · Karl-Marx-Allee 101 "
            "· 10243 Berlin"
        )
        for page, line in enumerate((expected, f"{expected} · GERMANY")):
            in_line = [
                w
                for w in words
                if w[0] == page and 45 + 5 < w[3] < 45 + 17.7 and w[2] < 20 + 85
            ]
            self.assertEqual(" ".join(w[1] for w in in_line), line)
            # every word of it, the country too, inside the window (20 + 85 mm)
            # and not cut at the right edge of the line (25 + 78 mm)
            for _page, word, x0, _y0, x1, _y1 in in_line:
                self.assertGreaterEqual(x0, 20, word)
                self.assertLessEqual(x1, 103.5, word)

    def test_title_in_the_address_is_in_the_contacts_language(self):
        self.env["res.lang"]._activate_lang("de_DE")
        madam = self.env.ref("base.res_partner_title_madam")
        madam.with_context(lang="de_DE").name = "Frau"
        self.anna.write({"title": madam.id, "lang": "de_DE"})
        self.bernd.write({"title": madam.id, "lang": "en_US"})
        home = self.env.company.country_id
        as_english = self.env["res.partner"].with_context(lang="en_US")
        self.assertEqual(
            as_english.browse(self.anna.id)._serial_letter_address_lines(home)[0],
            "Frau Anna Zimmermann",
        )
        self.assertEqual(
            as_english.browse(self.bernd.id)._serial_letter_address_lines(home)[0],
            "Madam Bernd Adler",
        )

    def test_labels_per_sheet_one_address_per_label(self):
        partners = self.env["res.partner"].create(
            [
                {
                    "name": f"Etikett {i:02d}",
                    "street": f"Etikettenweg {i}",
                    "zip": f"{20000 + i}",
                    "city": "Etikettstadt",
                    "country_id": self.de.id,
                }
                for i in range(30)
            ]
        )
        record = self.letter(
            partners | self.no_letters, output="labels", sort_order="zip"
        )
        expected_pages = {
            "avery_3474": [24, 6],
            "avery_3490": [24, 6],
            "avery_l7163": [14, 14, 2],
        }
        for code, per_page in expected_pages.items():
            with self.subTest(label_sheet=code):
                record.with_user(self.user).label_sheet = code
                self.generate(record)
                self.assertEqual(record.state, "created_incomplete")
                self.assertEqual(record.letter_output, "labels")
                pdf = self.document(record)
                pages = pdf_pages(pdf)
                self.assertEqual(
                    [page.count("Etikettstadt") for page in pages], per_page
                )
                self.assertNotIn("Frida Keinbrief", pdf_text(pdf))
                self.assertEqual(record.document_page_count, len(per_page))
                # every label's text lies inside its label
                sheet = LABEL_SHEETS[code]
                words = [w for w in pdf_words(pdf) if w[1] == "Etikett"]
                self.assertEqual(len(words), 30)
                for index, (page, _word, x0, y0, x1, _y1) in enumerate(words):
                    self.assertEqual(page, index // sheet.per_sheet)
                    top, left = sheet.position(index)
                    self.assertAlmostEqual(x0, left + sheet.padding_x, delta=1.5)
                    self.assertAlmostEqual(y0, top + sheet.padding_y, delta=2)
                    self.assertLess(x1, left + sheet.width)
                # the last line of the last label of a full sheet is on it
                last_city = [w for w in pdf_words(pdf) if w[1] == "Etikettstadt"][
                    sheet.per_sheet - 1
                ]
                top, _left = sheet.position(sheet.per_sheet - 1)
                self.assertLess(last_city[5], top + sheet.height)
                self.assertLess(last_city[5], 297)

    # -- check, edit, print, regenerate --------------------------------------

    def test_edit_a_letter_then_the_document_shows_it_with_page_numbers(self):
        record = self.generate(self.letter(self.printable, sort_order="name"))
        document = record.document_attachment_id
        self.assertEqual(len(pdf_pages(self.document(record))), 5)
        letters = record.action_view_letters()
        found = self.env["serial.correspondence.recipient"].search(letters["domain"])
        self.assertEqual(found, record.recipient_ids)
        clara = self.recipient(record, self.clara).with_user(self.user)
        self.assertTrue(clara.can_edit_letter)
        long_text = "".join(
            f"<p>Absatz {i}: Wir freuen uns ganz besonders auf Ihren Besuch und "
            f"möchten Ihnen deshalb noch einiges über den Ablauf mitteilen.</p>"
            for i in range(60)
        )
        clara.letter_body = f"<p>GEÄNDERTER TEXT für Clara</p>{long_text}"
        self.assertTrue(clara.letter_edited)
        self.assertTrue(record.document_outdated)
        self.assertEqual(record.edited_letter_count, 1)
        # opening the document prints the edited letter again first
        action = record.with_user(self.user).action_open_document()
        self.assertIn(f"/web/content/{document.id}", action["url"])
        self.assertFalse(record.document_outdated)
        self.assertEqual(record.document_attachment_id, document)
        pdf = self.document(record)
        text = pdf_text(pdf)
        self.assertIn("GEÄNDERTER TEXT für Clara", text)
        self.assertIn("Absatz 59", text)
        pages = clara.letter_page_count
        self.assertGreater(pages, 1)
        self.assertEqual(len(pdf_pages(pdf)), 4 + pages)
        self.assertEqual(record.document_page_count, 4 + pages)
        # "Page x of n" on every page of the long letter only
        all_pages = pdf_pages(pdf)
        clara_pages = all_pages[2 : 2 + pages]
        for number, page in enumerate(clara_pages, start=1):
            self.assertIn(f"Page {number} of {pages}", page)
        for page in all_pages[:2] + all_pages[2 + pages :]:
            self.assertNotIn("Page ", page)
        self.assertOrder(
            text, ["Bernd Adler", "Clara Müller", "GEÄNDERTER", "Dieter Schweizer"]
        )
        # the other letters are unchanged
        self.assertEqual(self.recipient(record, self.anna).letter_page_count, 1)

    def test_update_document_button(self):
        record = self.generate(self.letter(self.anna | self.bernd))
        self.recipient(record, self.bernd).with_user(
            self.user
        ).letter_body = "<p>Nur für Bernd</p>"
        record.with_user(self.user).action_update_document()
        self.assertFalse(record.document_outdated)
        text = pdf_text(self.document(record))
        self.assertIn("Nur für Bernd", text)
        self.assertNotIn("Liebe(r) Bernd", text)
        self.assertIn("Liebe(r) Anna", text)

    def test_only_created_letters_can_be_edited(self):
        record = self.generate(self.letter())
        for partner in self.no_letters | self.no_street:
            recipient = self.recipient(record, partner).with_user(self.user)
            self.assertFalse(recipient.can_edit_letter)
            with self.assertRaisesRegex(UserError, "cannot be edited"):
                recipient.letter_body = "<p>Doch ein Brief</p>"
        labels = self.generate(self.letter(self.anna, output="labels"))
        with self.assertRaisesRegex(UserError, "cannot be edited"):
            self.recipient(labels, self.anna).with_user(
                self.user
            ).letter_body = "<p>x</p>"

    def test_regenerate_leaves_no_trace_of_the_earlier_run(self):
        record = self.generate(self.letter())
        first_document = record.document_attachment_id
        first_parts = record.sudo().letter_part_ids
        self.assertTrue(first_parts)
        self.recipient(record, self.anna).with_user(
            self.user
        ).letter_body = "<p>Alter Text</p>"
        self.assertEqual(record.edited_letter_count, 1)
        # meanwhile the contacts changed
        self.no_street.street = "Neue Straße 9"
        self.bernd.no_letters = True
        self.generate(record)
        self.assertFalse(first_document.exists(), "the earlier document is deleted")
        self.assertFalse(first_parts.exists(), "and its parts")
        self.assertTrue(record.document_attachment_id)
        self.assertNotEqual(record.document_attachment_id, first_document)
        anna = self.recipient(record, self.anna)
        self.assertFalse(anna.letter_edited)
        self.assertNotIn("Alter Text", anna.letter_body)
        self.assertEqual(record.edited_letter_count, 0)
        self.assertEqual(self.recipient(record, self.no_street).state, "created")
        bernd = self.recipient(record, self.bernd)
        self.assertEqual((bernd.state, bernd.letter_body), ("excluded", False))
        text = pdf_text(self.document(record))
        self.assertNotIn("Alter Text", text)
        self.assertNotIn("Bernd Adler", text)
        self.assertIn("Hans Ohnestraße", text)
        attachments = self.env["ir.attachment"].search(
            [("res_model", "=", record._name), ("res_id", "=", record.id)]
        )
        self.assertEqual(
            attachments, record.document_attachment_id, "one document only"
        )

    # -- finalize ----------------------------------------------------------------

    def test_finalize_archives_the_document_and_logs_on_each_contact(self):
        record = self.generate(self.letter())
        self.recipient(record, self.anna).with_user(
            self.user
        ).letter_body = "<p>Letzte Änderung</p>"
        record.with_user(self.user).action_finalize()
        self.assertEqual(record.state, "done")
        self.assertFalse(record.can_generate)
        pdf = self.document(record)
        self.assertIn(
            "Letzte Änderung", pdf_text(pdf), "edits are printed before archiving"
        )
        document = record.document_attachment_id
        self.assertTrue(document.serial_correspondence_archived)
        self.assertTrue(record.document_archived)
        self.assertEqual(record.document_checksum, hashlib.sha256(pdf).hexdigest())
        self.assertTrue(record._verify_archived_document())
        self.assertFalse(record.sudo().letter_part_ids)
        # every contact who got a letter: a message with date and link
        for partner in self.printable:
            recipient = self.recipient(record, partner)
            message = recipient.message_id
            self.assertEqual(
                (message.model, message.res_id), ("res.partner", partner.id)
            )
            self.assertRegex(message.body, f"data-oe-id=[\"']{record.id}[\"']")
            self.assertIn("Einladung zur Versammlung", message.body)
            self.assertIn("sent on", message.body)
        for partner in self.no_letters | self.no_street:
            self.assertFalse(self.recipient(record, partner).message_id)
            self.assertFalse(
                self.env["mail.message"].search(
                    [
                        ("model", "=", "res.partner"),
                        ("res_id", "=", partner.id),
                        ("body", "ilike", "Einladung zur Versammlung"),
                    ]
                )
            )

    def test_finalized_letter_and_archive_refuse_changes(self):
        record = self.generate(self.letter(self.printable))
        record.with_user(self.user).action_finalize()
        document = record.document_attachment_id
        anna = self.recipient(record, self.anna)
        attempts = {
            "subject": lambda: record.with_user(self.user).write({"subject": "Neu"}),
            "delete": lambda: record.with_user(self.user).unlink(),
            "generate": lambda: record.with_user(self.user).action_generate(),
            "letter text": lambda: anna.with_user(self.user).write(
                {"letter_body": "<p>x</p>"}
            ),
            "recipient": lambda: anna.with_user(self.user).unlink(),
            "archive content": lambda: document.with_user(self.user).write(
                {"raw": b"%PDF-1.4 forged"}
            ),
            "archive name": lambda: document.sudo().write({"name": "anders.pdf"}),
            "archive flag": lambda: document.sudo().write(
                {"serial_correspondence_archived": False}
            ),
            "archive deletion": lambda: document.sudo().unlink(),
        }
        for name, attempt in attempts.items():
            with self.subTest(change=name), self.assertRaises(UserError):
                attempt()
        self.assertEqual(record.state, "done")
        self.assertTrue(document.exists())
        self.assertTrue(record._verify_archived_document())
        # storing the very same content again (moving it between the database
        # and the file store) is no change
        document.sudo().write({"raw": self.document(record)})
        self.assertTrue(record._verify_archived_document())

    def test_archived_flag_is_set_by_finalize_only(self):
        attachment = self.env["ir.attachment"].create({"name": "x.txt", "raw": b"x"})
        with self.assertRaisesRegex(UserError, "Only finalizing"):
            attachment.write({"serial_correspondence_archived": True})
        with self.assertRaisesRegex(UserError, "Only finalizing"):
            self.env["ir.attachment"].create(
                {"name": "y.txt", "raw": b"y", "serial_correspondence_archived": True}
            )
        attachment.unlink()

    def test_finalize_without_any_letter(self):
        record = self.generate(self.letter(self.no_letters | self.no_street))
        self.assertEqual(record.state, "create_failed")
        self.assertFalse(record.document_attachment_id)
        record.with_user(self.user).action_finalize()
        self.assertEqual(record.state, "done")

    # -- Odoo's report: the selected letters -----------------------------------

    def test_print_selected_letters_through_odoo_report(self):
        record = self.generate(self.letter(self.anna | self.no_letters))
        report = self.env.ref("serial_correspondence.action_report_serial_letter")
        html, report_type = report._render_qweb_html(report, record.recipient_ids.ids)
        self.assertEqual(report_type, "html")
        html = html.decode()
        self.assertIn("Anna Zimmermann", html)
        self.assertNotIn("Frida Keinbrief", html)
        with self.assertRaisesRegex(UserError, "Only created letters"):
            report._render_qweb_html(
                report, self.recipient(record, self.no_letters).ids
            )

    def test_pdf_text_is_extractable(self):
        record = self.generate(self.letter(self.clara))
        raw = base64.b64decode(record.document_attachment_id.datas)
        text = pdf_text(raw)
        self.assertIn("Clara Müller", text)
        self.assertIn("Köln", text)
        self.assertIn("Mit freundlichen Grüßen", text)
