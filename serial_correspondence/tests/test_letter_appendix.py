# Copyright 2026 serial_correspondence authors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""Serial letters with attachments: the PDF files of the correspondence are
printed after each letter (a flyer to enclose with every letter)."""

import base64
import io
import os

from PIL import Image

from odoo.exceptions import UserError
from odoo.tests import tagged

from ..tools import letter_pdf
from .common import SerialCorrespondenceCase
from .letter_common import LetterDataMixin, pdf_pages, pdf_text

FLYER = "FLYER Sommerfest am Vereinsweg"
PROGRAMME = "PROGRAMM der Versammlung"
LETTER_MARGINS = (15, 0, 20, 0)


def _one_page_pdf(text, image=None):
    """A PDF of one A4 page printed by wkhtmltopdf, with ``text`` (and an
    image, as a data URI)."""
    img = ""
    if image:
        img = f'<img src="data:image/png;base64,{base64.b64encode(image).decode()}"/>'
    return letter_pdf.html_to_pdf(
        f"<html><head><meta charset='utf-8'/></head>"
        f"<body><h1>{text}</h1>{img}</body></html>",
        LETTER_MARGINS,
    )


def _noise_png(size=160):
    """A PNG that does not compress: its size shows how often a PDF holds
    it."""
    out = io.BytesIO()
    Image.frombytes("RGB", (size, size), os.urandom(size * size * 3)).save(
        out, format="PNG"
    )
    return out.getvalue()


@tagged("post_install", "-at_install")
class TestLetterAppendix(LetterDataMixin, SerialCorrespondenceCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.setup_letter_data()
        cls.flyer_pdf = _one_page_pdf(FLYER)
        cls.programme_pdf = _one_page_pdf(PROGRAMME)

    def attach(self, record, name, raw, mimetype=None):
        """Upload a file to ``record`` and link it, as the form does."""
        values = {
            "name": name,
            "raw": raw,
            "res_model": "serial.correspondence",
            "res_id": record.id,
        }
        if mimetype:
            values["mimetype"] = mimetype
        attachment = self.env["ir.attachment"].with_user(self.user).create(values)
        record.with_user(self.user).write({"attachment_ids": [(4, attachment.id)]})
        return attachment

    def lengthen(self, record, partner):
        recipient = self.recipient(record, partner).with_user(self.user)
        recipient.letter_body = "<p>LANGER BRIEF</p>" + "".join(
            f"<p>Absatz {i}: Wir freuen uns ganz besonders auf Ihren Besuch und "
            f"möchten Ihnen deshalb noch einiges über den Ablauf mitteilen.</p>"
            for i in range(60)
        )
        return recipient

    # -- after each letter ---------------------------------------------------

    def test_flyer_follows_each_letter_in_every_part(self):
        self.env["ir.config_parameter"].sudo().set_param(
            "serial_correspondence.letter_part_size", "2"
        )
        record = self.letter(self.printable, sort_order="name")
        flyer = self.attach(record, "Flyer.pdf", self.flyer_pdf)
        self.assertEqual(flyer.mimetype, "application/pdf")
        self.generate(record)
        self.assertEqual(record.state, "created")
        self.assertEqual(len(record.sudo().letter_part_ids), 3)
        pages = pdf_pages(self.document(record))
        names = [
            "Anna Zimmermann",
            "Bernd Adler",
            "Clara Müller",
            "Dieter Schweizer",
            "Emil Österreicher",
        ]
        # each letter of one page, then its flyer
        self.assertEqual(len(pages), 2 * len(names))
        self.assertEqual(record.document_page_count, 2 * len(names))
        for index, name in enumerate(names):
            letter, appendix = pages[2 * index], pages[2 * index + 1]
            self.assertIn(f"Liebe(r) {name}", letter)
            self.assertNotIn(FLYER, letter)
            self.assertIn(FLYER, appendix)
            self.assertNotIn("Liebe(r)", appendix)
        # the letter's own pages: the flyer is no part of the letter
        for recipient in record.recipient_ids:
            self.assertEqual(recipient.letter_page_count, 1)
        self.assertEqual(
            sum(record.sudo().letter_part_ids.mapped("page_count")), 2 * len(names)
        )

    def test_page_numbers_count_the_letter_only(self):
        record = self.letter(self.anna | self.bernd | self.clara, sort_order="name")
        self.attach(record, "Flyer.pdf", self.flyer_pdf)
        self.generate(record)
        bernd = self.lengthen(record, self.bernd)
        record.with_user(self.user).action_update_document()
        self.assertFalse(record.document_outdated)
        count = bernd.letter_page_count
        self.assertGreater(count, 1)
        pages = pdf_pages(self.document(record))
        # sorted by name: Anna (1 page), her flyer, Bernd's pages, his flyer,
        # Clara (1 page), her flyer
        self.assertEqual(len(pages), 1 + 1 + count + 1 + 1 + 1)
        self.assertEqual(record.document_page_count, len(pages))
        self.assertIn("Liebe(r) Anna Zimmermann", pages[0])
        self.assertIn(FLYER, pages[1])
        bernd_pages = pages[2 : 2 + count]
        self.assertIn("LANGER BRIEF", bernd_pages[0])
        self.assertIn("Absatz 59", bernd_pages[-1])
        for number, page in enumerate(bernd_pages, start=1):
            self.assertIn(f"Page {number} of {count}", page)
            self.assertNotIn(FLYER, page)
        self.assertIn(FLYER, pages[2 + count])
        self.assertIn("Liebe(r) Clara Müller", pages[3 + count])
        self.assertIn(FLYER, pages[4 + count])
        # no page number on the one-page letters nor on any flyer
        for page in pages[:2] + pages[2 + count :]:
            self.assertNotIn("Page ", page)
        self.assertEqual(self.recipient(record, self.anna).letter_page_count, 1)

    def test_several_pdfs_follow_in_the_order_they_were_attached(self):
        record = self.letter(self.anna | self.bernd, sort_order="name")
        self.attach(record, "Programm.pdf", self.programme_pdf)
        self.attach(record, "Flyer.pdf", self.flyer_pdf)
        self.generate(record)
        pages = pdf_pages(self.document(record))
        self.assertEqual(len(pages), 6)
        for start, name in ((0, "Anna Zimmermann"), (3, "Bernd Adler")):
            self.assertIn(name, pages[start])
            self.assertIn(PROGRAMME, pages[start + 1])
            self.assertIn(FLYER, pages[start + 2])

    def test_the_flyer_is_stored_once_per_part_not_once_per_letter(self):
        image = _noise_png()
        flyer_pdf = _one_page_pdf(FLYER, image)
        self.assertGreater(len(flyer_pdf), 20000)
        plain = self.generate(self.letter(self.printable))
        with_flyer = self.letter(self.printable)
        self.attach(with_flyer, "Flyer.pdf", flyer_pdf)
        self.generate(with_flyer)
        text = pdf_text(self.document(with_flyer))
        self.assertEqual(text.count(FLYER), 5)
        growth = len(self.document(with_flyer)) - len(self.document(plain))
        # one part: its five copies of the flyer's page share its image
        self.assertGreater(growth, len(flyer_pdf) // 2)
        self.assertLess(growth, 2 * len(flyer_pdf), "the image is in it once")

    def test_changed_attachments_print_the_letters_again(self):
        record = self.generate(self.letter(self.anna | self.bernd))
        self.assertEqual(record.document_page_count, 2)
        self.attach(record, "Flyer.pdf", self.flyer_pdf)
        self.assertTrue(record.document_outdated)
        record.with_user(self.user).action_open_document()
        self.assertFalse(record.document_outdated)
        pages = pdf_pages(self.document(record))
        self.assertEqual(len(pages), 4)
        self.assertEqual(record.document_page_count, 4)
        self.assertEqual([FLYER in page for page in pages], [False, True] * 2)
        # and without it again
        record.with_user(self.user).write({"attachment_ids": [(5, 0, 0)]})
        record.with_user(self.user).action_update_document()
        self.assertNotIn(FLYER, pdf_text(self.document(record)))
        self.assertEqual(record.document_page_count, 2)

    # -- labels: the address only --------------------------------------------

    def test_labels_get_no_flyer(self):
        record = self.letter(self.anna | self.bernd, output="labels")
        self.attach(record, "Flyer.pdf", self.flyer_pdf)
        # labels print no attachment: nothing to refuse either
        self.attach(record, "Notizen.txt", b"nur Notizen", "text/plain")
        self.generate(record)
        self.assertEqual(record.letter_output, "labels")
        pdf = self.document(record)
        self.assertEqual(len(pdf_pages(pdf)), 1)
        self.assertEqual(record.document_page_count, 1)
        self.assertNotIn(FLYER, pdf_text(pdf))
        self.assertIn("Anna Zimmermann", pdf_text(pdf))

    # -- refused on generate, clearly --------------------------------------------

    def assertRefused(self, record, message):
        for action in ("action_confirm_generate", "action_generate"):
            with self.assertRaisesRegex(UserError, message):
                getattr(record.with_user(self.user), action)()
        self.assertEqual(record.state, "ready")
        self.assertFalse(self.queued_jobs(record))
        self.assertFalse(record.document_attachment_id)

    def test_broken_pdf_is_refused_on_generate(self):
        record = self.letter(self.anna)
        self.attach(record, "Flyer.pdf", self.flyer_pdf)
        broken = self.attach(record, "Kaputt.pdf", b"%PDF-1.4 kein echtes PDF")
        self.assertEqual(broken.mimetype, "application/pdf")
        self.assertRefused(
            record, r"The attachment Kaputt\.pdf cannot be printed .* not a valid PDF"
        )
        # truncated: the pages are gone
        broken.with_user(self.user).raw = self.flyer_pdf[: len(self.flyer_pdf) // 3]
        self.assertRefused(record, r"Kaputt\.pdf .* not a valid PDF")
        broken.with_user(self.user).raw = self.programme_pdf
        self.generate(record)
        self.assertEqual(len(pdf_pages(self.document(record))), 3)

    def test_non_pdf_is_refused_naming_the_file(self):
        record = self.letter(self.anna)
        notes = self.attach(record, "Notizen.txt", b"nur Notizen", "text/plain")
        self.assertRefused(
            record,
            r"The attachment Notizen\.txt is not a PDF file: only PDF files can be "
            r"printed after each letter",
        )
        record.with_user(self.user).write({"attachment_ids": [(3, notes.id)]})
        self.generate(record)
        self.assertEqual(record.document_page_count, 1)

    def test_appendix_is_read_once_per_part(self):
        self.env["ir.config_parameter"].sudo().set_param(
            "serial_correspondence.letter_part_size", "2"
        )
        record = self.letter(self.printable)
        self.attach(record, "Flyer.pdf", self.flyer_pdf)
        calls = []
        original = letter_pdf.read_appendix

        def counting(pdfs):
            calls.append(1)
            return original(pdfs)

        self.patch(letter_pdf, "read_appendix", counting)
        self.generate(record)
        # the check on generate, then one per part (3 parts of 5 letters)
        self.assertEqual(len(calls), 1 + 3)
        self.assertEqual(record.document_page_count, 10)
