# Copyright 2026 serial_correspondence authors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""The engines in ``tools/`` on their own, without a database: the workflow
table, the label sheets and the PDF engine (wkhtmltopdf prints the PDFs,
poppler's pdftotext/pdfinfo read them back)."""

import ast
import io
import pathlib
import subprocess
import tempfile

from odoo.tests import tagged
from odoo.tests.common import BaseCase
from odoo.tools import email_normalize

from ..tools import addresses, label_sheets, letter_pdf, workflow
from ..tools.label_sheets import LABEL_SHEET_SELECTION, LABEL_SHEETS
from .letter_common import pdf_pages, pdf_words

TOOLS = pathlib.Path(__file__).resolve().parent.parent / "tools"
MARGINS_MM = (15, 20, 20, 25)


@tagged("post_install", "-at_install")
class TestEnginesPlainPython(BaseCase):
    """The engines import no model: they run in a shell, a job or a test."""

    def test_engines_import_no_model(self):
        for name in ("workflow.py", "letter_pdf.py", "label_sheets.py", "addresses.py"):
            tree = ast.parse((TOOLS / name).read_text(encoding="utf-8"))
            for node in ast.walk(tree):
                if isinstance(node, ast.ImportFrom):
                    modules = [node.module or ""]
                    relative = node.level > 0
                elif isinstance(node, ast.Import):
                    modules = [alias.name for alias in node.names]
                    relative = False
                else:
                    continue
                for module in modules:
                    with self.subTest(file=name, module=module):
                        self.assertFalse(relative, "no import from the addon")
                        self.assertFalse(module.startswith("odoo.addons"))
                        self.assertNotIn(
                            module, ("odoo", "odoo.models", "odoo.fields", "odoo.api")
                        )


@tagged("post_install", "-at_install")
class TestEnginesWorkflow(BaseCase):
    """The workflow table: which events a state allows, where they lead."""

    def reachable(self, kind):
        reached = {"importing"}
        frontier = ["importing"]
        while frontier:
            state = frontier.pop()
            for event in workflow.TRANSITIONS:
                target = workflow.next_state(kind, state, event)
                if target and target not in reached:
                    reached.add(target)
                    frontier.append(target)
        return reached

    def allowed_events(self, kind):
        return {
            state: {
                event
                for event in workflow.TRANSITIONS
                if workflow.allows(kind, state, event)
            }
            for state in self.reachable(kind)
        }

    def test_allowed_events_per_state_of_a_letter(self):
        outcomes = {"all_created", "created_with_exclusions", "created_with_errors"}
        self.assertEqual(
            self.allowed_events(workflow.LETTER),
            {
                "importing": {"import_done"},
                "ready": {"generate"},
                "in_progress": {
                    *outcomes,
                    "stop_unstarted",
                    "stop_generating",
                    "stop_generating_with_errors",
                },
                "created": {"generate", "finalize"},
                "created_incomplete": {"generate", "finalize"},
                "create_failed": {"generate", "finalize"},
                "done": set(),
            },
        )

    def test_allowed_events_per_state_of_an_email(self):
        outcomes = {"all_sent", "sent_with_exclusions", "sent_with_errors"}
        stops = {"stop_unstarted", "stop_sending", "stop_sending_with_errors"}
        self.assertEqual(
            self.allowed_events(workflow.EMAIL),
            {
                "importing": {"import_done"},
                "ready": {"send"},
                "in_progress": {"throttle", *outcomes, "schedule", *stops},
                "waiting": {"resume", *stops},
                "done_auto": set(),
                "sent_incomplete": {"send", "finalize"},
                "send_failed": {"send", "finalize"},
                "done": set(),
            },
        )

    def test_next_states(self):
        cases = [
            (workflow.LETTER, "importing", "import_done", "ready"),
            (workflow.EMAIL, "importing", "import_done", "ready"),
            (workflow.LETTER, "ready", "generate", "in_progress"),
            (workflow.LETTER, "create_failed", "generate", "in_progress"),
            (workflow.LETTER, "in_progress", "all_created", "created"),
            (
                workflow.LETTER,
                "in_progress",
                "created_with_exclusions",
                "created_incomplete",
            ),
            (workflow.LETTER, "in_progress", "created_with_errors", "create_failed"),
            (workflow.LETTER, "created_incomplete", "finalize", "done"),
            (workflow.EMAIL, "ready", "send", "in_progress"),
            (workflow.EMAIL, "send_failed", "send", "in_progress"),
            (workflow.EMAIL, "in_progress", "throttle", "waiting"),
            (workflow.EMAIL, "waiting", "resume", "in_progress"),
            (workflow.EMAIL, "in_progress", "all_sent", "done_auto"),
            (workflow.EMAIL, "in_progress", "sent_with_exclusions", "sent_incomplete"),
            (workflow.EMAIL, "in_progress", "sent_with_errors", "send_failed"),
            (workflow.EMAIL, "sent_incomplete", "finalize", "done"),
        ]
        for kind, state, event, expected in cases:
            with self.subTest(kind=kind, state=state, event=event):
                self.assertTrue(workflow.allows(kind, state, event))
                self.assertEqual(workflow.next_state(kind, state, event), expected)

    def test_refused_events_lead_nowhere(self):
        cases = [
            (workflow.LETTER, "ready", "send"),  # e-mail only
            (workflow.EMAIL, "ready", "generate"),  # letters only
            (workflow.LETTER, "in_progress", "throttle"),
            (workflow.EMAIL, "in_progress", "all_created"),
            (workflow.EMAIL, "done_auto", "finalize"),  # already done
            (workflow.LETTER, "done", "generate"),
            (workflow.LETTER, "ready", "finalize"),  # nothing to finalize
            (workflow.EMAIL, "importing", "send"),
            (workflow.LETTER, "ready", "no_such_event"),
        ]
        for kind, state, event in cases:
            with self.subTest(kind=kind, state=state, event=event):
                self.assertFalse(workflow.allows(kind, state, event))
                self.assertIsNone(workflow.next_state(kind, state, event))

    def test_outcome_events(self):
        cases = [
            # kind, excluded, errors -> event; errors win over exclusions
            (workflow.LETTER, 0, 0, "all_created"),
            (workflow.LETTER, 2, 0, "created_with_exclusions"),
            (workflow.LETTER, 0, 1, "created_with_errors"),
            (workflow.LETTER, 3, 1, "created_with_errors"),
            (workflow.EMAIL, 0, 0, "all_sent"),
            (workflow.EMAIL, 5, 0, "sent_with_exclusions"),
            (workflow.EMAIL, 0, 2, "sent_with_errors"),
            (workflow.EMAIL, 1, 1, "sent_with_errors"),
        ]
        for kind, excluded, errors, expected in cases:
            with self.subTest(kind=kind, excluded=excluded, errors=errors):
                event = workflow.outcome_event(kind, excluded, errors)
                self.assertEqual(event, expected)
                # every outcome ends the processing of that kind
                self.assertTrue(workflow.allows(kind, "in_progress", event))

    def test_stop_events(self):
        cases = [
            # kind, processed, errors -> event, the state it leads to
            (workflow.LETTER, 0, 0, "stop_unstarted", "ready"),
            (workflow.LETTER, 2, 0, "stop_generating", "created_incomplete"),
            (workflow.LETTER, 2, 1, "stop_generating_with_errors", "create_failed"),
            (workflow.EMAIL, 0, 0, "stop_unstarted", "ready"),
            (workflow.EMAIL, 3, 0, "stop_sending", "sent_incomplete"),
            (workflow.EMAIL, 3, 1, "stop_sending_with_errors", "send_failed"),
        ]
        for kind, processed, errors, event, state in cases:
            with self.subTest(kind=kind, processed=processed, errors=errors):
                self.assertEqual(workflow.stop_event(kind, processed, errors), event)
                self.assertEqual(workflow.next_state(kind, "in_progress", event), state)
        self.assertTrue(workflow.can_stop(workflow.EMAIL, "waiting"))
        self.assertEqual(
            workflow.next_state(workflow.EMAIL, "waiting", "stop_sending"),
            "sent_incomplete",
        )
        for state in ("importing", "ready", "sent_incomplete", "done", "done_auto"):
            with self.subTest(state=state):
                self.assertFalse(workflow.can_stop(workflow.EMAIL, state))
        # a planned e-mail waits
        self.assertEqual(
            workflow.next_state(workflow.EMAIL, "in_progress", "schedule"), "waiting"
        )
        self.assertIsNone(
            workflow.next_state(workflow.LETTER, "in_progress", "schedule")
        )

    def test_state_groups(self):
        self.assertEqual(workflow.FINAL_STATES, {"done", "done_auto"})
        self.assertLessEqual(workflow.FINAL_STATES, workflow.LOCKED_STATES)
        self.assertIn("waiting", workflow.LOCKED_STATES)
        self.assertFalse(workflow.CHECK_STATES & workflow.PROCESSING_STATES)
        self.assertFalse(workflow.CHECK_STATES & workflow.FINAL_STATES)
        # nothing leaves a final state
        for state in workflow.FINAL_STATES:
            for kind in (workflow.LETTER, workflow.EMAIL):
                with self.subTest(state=state, kind=kind):
                    self.assertFalse(
                        [
                            event
                            for event in workflow.TRANSITIONS
                            if workflow.allows(kind, state, event)
                        ]
                    )


@tagged("post_install", "-at_install")
class TestEnginesLabelSheets(BaseCase):
    """The label sheets: one table for the choices and the geometry."""

    def test_selection_is_derived_from_the_sheets(self):
        # keys, labels and order as the translations (i18n/de.po) know them
        self.assertEqual(
            LABEL_SHEET_SELECTION,
            [
                ("avery_3474", "Avery Zweckform 3474 (70 x 37 mm, 24 per sheet)"),
                ("avery_3490", "Avery Zweckform 3490 (70 x 36 mm, 24 per sheet)"),
                ("avery_l7163", "Avery L7163 (99.1 x 38.1 mm, 14 per sheet)"),
            ],
        )
        self.assertEqual(
            [key for key, _label in LABEL_SHEET_SELECTION], [*LABEL_SHEETS]
        )
        self.assertIs(label_sheets.LABEL_SHEET_SELECTION, LABEL_SHEET_SELECTION)

    def test_labels_tell_the_geometry(self):
        for code, sheet in LABEL_SHEETS.items():
            with self.subTest(sheet=code):
                self.assertIn(
                    f"({sheet.width:g} x {sheet.height:g} mm, "
                    f"{sheet.per_sheet} per sheet)",
                    sheet.label,
                )

    def test_labels_per_sheet(self):
        self.assertEqual(
            {code: sheet.per_sheet for code, sheet in LABEL_SHEETS.items()},
            {"avery_3474": 24, "avery_3490": 24, "avery_l7163": 14},
        )

    def test_positions(self):
        sheet = LABEL_SHEETS["avery_3474"]
        self.assertEqual(sheet.position(0), (0.5, 0.0))
        self.assertEqual(sheet.position(1), (0.5, 70.0))
        self.assertEqual(sheet.position(2), (0.5, 140.0))
        self.assertEqual(sheet.position(3), (37.5, 0.0))
        self.assertEqual(sheet.position(23), (0.5 + 7 * 37.0, 140.0))
        # the next sheet starts at the top left again
        self.assertEqual(sheet.position(24), sheet.position(0))
        self.assertEqual(sheet.position(28), sheet.position(4))

        sheet = LABEL_SHEETS["avery_3490"]
        self.assertEqual(sheet.position(4), (40.5, 70.0))

        sheet = LABEL_SHEETS["avery_l7163"]
        self.assertEqual(sheet.position(0), (15.15, 4.65))
        top, left = sheet.position(1)
        self.assertEqual(top, 15.15)
        self.assertAlmostEqual(left, 106.25)  # 2.5 mm gap after 99.1 mm
        top, left = sheet.position(13)
        self.assertAlmostEqual(top, 15.15 + 6 * 38.1)
        self.assertAlmostEqual(left, 106.25)
        self.assertEqual(sheet.position(14), sheet.position(0))

    def test_labels_fit_on_a4_without_overlapping(self):
        width_a4, height_a4 = letter_pdf.A4_MM
        for code, sheet in LABEL_SHEETS.items():
            with self.subTest(sheet=code):
                self.assertGreaterEqual(sheet.pitch_x, sheet.width)
                self.assertGreaterEqual(sheet.pitch_y, sheet.height)
                top, left = sheet.position(sheet.per_sheet - 1)
                self.assertLessEqual(left + sheet.width, width_a4 + 0.01)
                self.assertLessEqual(top + sheet.height, height_a4 + 0.01)
                self.assertGreaterEqual(min(sheet.position(0)), 0)


def page(text, first_of_letter=False):
    """One A4 page of HTML; the first page of a letter carries the marker."""
    marker = ""
    if first_of_letter:
        red, green, blue = letter_pdf.MARKER_RGB
        marker = (
            '<div style="position: absolute; top: 60mm; left: 0; width: 5mm; '
            f'border-top: 0.5mm solid rgb({red}, {green}, {blue});"></div>'
        )
    return (
        f'<div style="position: relative; height: 200mm;">{marker}<p>{text}</p></div>'
    )


def document(*pages):
    return (
        '<!DOCTYPE html><html><head><meta charset="utf-8"/></head><body>'
        + '<div style="page-break-before: always;"></div>'.join(pages)
        + "</body></html>"
    )


def pdf_info(pdf):
    with tempfile.NamedTemporaryFile(suffix=".pdf") as file:
        file.write(pdf)
        file.flush()
        return subprocess.run(
            ["pdfinfo", "-enc", "UTF-8", file.name],
            capture_output=True,
            check=True,
        ).stdout.decode("utf-8")


@tagged("post_install", "-at_install")
class TestEnginesLetterPdf(BaseCase):
    """The PDF engine: letters found by their marker, PDFs merged and
    stamped, HTML without remote references."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        # two letters, the first one two pages long
        cls.letters_pdf = letter_pdf.html_to_pdf(
            document(
                page("Alpha one", first_of_letter=True),
                page("Alpha two"),
                page("Bravo one", first_of_letter=True),
            ),
            MARGINS_MM,
        )
        cls.plain_pdf = letter_pdf.html_to_pdf(
            document(page("Charlie one")), MARGINS_MM
        )

    def test_html_to_pdf_prints_the_pages(self):
        self.assertTrue(self.letters_pdf.startswith(b"%PDF-"))
        pages = pdf_pages(self.letters_pdf)
        self.assertEqual(len(pages), 3)
        self.assertIn("Alpha one", pages[0])
        self.assertIn("Alpha two", pages[1])
        self.assertIn("Bravo one", pages[2])

    def test_letter_starts(self):
        self.assertEqual(letter_pdf.letter_starts(self.letters_pdf), (3, [0, 2]))
        self.assertEqual(letter_pdf.letter_starts(self.plain_pdf), (1, []))

    def test_merge_pdfs(self):
        out = io.BytesIO()
        count = letter_pdf.merge_pdfs(
            [self.letters_pdf, self.plain_pdf, self.letters_pdf],
            out,
            title="Serienbrief Ä",
        )
        merged = out.getvalue()
        self.assertEqual(count, 7)
        pages = pdf_pages(merged)
        self.assertEqual(
            [text.split("\n")[0].strip() for text in pages],
            [
                "Alpha one",
                "Alpha two",
                "Bravo one",
                "Charlie one",
                "Alpha one",
                "Alpha two",
                "Bravo one",
            ],
        )
        # the pages keep their contents: the markers are still found
        self.assertEqual(letter_pdf.letter_starts(merged), (7, [0, 2, 4, 6]))
        info = pdf_info(merged)
        self.assertRegex(info, r"Title:\s+Serienbrief Ä")
        self.assertRegex(info, r"Pages:\s+7")

    def test_merge_copies_objects_as_written(self):
        """Objects are copied as bytes: references renumbered, but not those
        in strings or comments; stream data as it is; an indirect /Length
        written directly; a damaged object read by PyPDF2 instead."""
        content = b"BT /F1 12 Tf 72 700 Td (Hello 4 0 R \\) (x)) Tj ET endobj"
        objects = [
            b"<< /Type /Catalog /Pages 2 0 R >>",
            b"<< /Type /Pages /Kids [3 0 R] /Count 1 /MediaBox [0 0 595 842] >>",
            b"<< /Type /Page /Parent 2 0 R /Contents 4 0 R "
            b"/Resources << /Font << /F1 6 0 R >> >> >>",
            b"<< /Length 5 0 R >>\nstream\n" + content + b"\nendstream",
            b"%d" % len(content),
            b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica % see 9 0 R\n"
            b" /X (a(b)c 7 0 R) /Y <41 42> /Z [7 0 R] >>",
            b"[ /Name#20x 1.5 -2 true null ]",
        ]
        out = io.BytesIO()
        out.write(b"%PDF-1.4\n")
        offsets = []
        for number, body in enumerate(objects, start=1):
            offsets.append(out.tell())
            out.write(b"%d 0 obj\n%s\nendobj\n" % (number, body))
        xref = out.tell()
        out.write(b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1))
        out.writelines(b"%010d 00000 n \n" % offset for offset in offsets)
        out.write(
            b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n"
            % (len(objects) + 1, xref)
        )
        pdf = out.getvalue()
        self.assertIsNotNone(letter_pdf.PdfPages(pdf).raw)
        merged = io.BytesIO()
        self.assertEqual(letter_pdf.merge_pdfs([pdf, pdf], merged), 2)
        merged = merged.getvalue()
        self.assertEqual(merged.count(b"(a(b)c 7 0 R)"), 2)
        self.assertEqual(merged.count(b"% see 9 0 R"), 2)
        self.assertEqual(merged.count(b"stream\n" + content + b"\nendstream"), 2)
        self.assertEqual(merged.count(b"<< /Length %d >>" % len(content)), 2)
        self.assertIn(b"/Z [6 0 R]", merged)
        self.assertIn(b"/Z [10 0 R]", merged)
        self.assertEqual(merged.count(b"[ /Name#20x 1.5 -2 true null ]"), 2)
        self.assertEqual(
            [text.strip() for text in pdf_pages(merged)],
            ["Hello 4 0 R ) (x)", "Hello 4 0 R ) (x)"],
        )
        # an object without its endobj: read by PyPDF2, not beyond its end
        damaged = pdf.replace(b">>\nendobj\n7 0 obj", b">>\n      \n7 0 obj")
        self.assertEqual(len(damaged), len(pdf))
        merged = io.BytesIO()
        self.assertEqual(letter_pdf.merge_pdfs([damaged], merged), 1)
        self.assertIn(b"/BaseFont /Helvetica", merged.getvalue())
        self.assertIn(b"/Name#20x 1.5 -2 true null", merged.getvalue())
        self.assertEqual(len(pdf_pages(merged.getvalue())), 1)

    def test_page_numbers_are_stamped(self):
        x_pt, y_pt = letter_pdf.page_number_position()
        self.assertAlmostEqual(x_pt, 190 * 72 / 25.4)
        self.assertAlmostEqual(y_pt, 10 * 72 / 25.4)
        stamps = {
            0: ("Page 1 of 2", x_pt, y_pt),
            1: ("Page 2 of 2", x_pt, y_pt),
            2: ("Page 1 of 1", x_pt, y_pt),
        }
        stamped = letter_pdf.stamp_pdf(self.letters_pdf, stamps, title="T")
        pages = pdf_pages(stamped)
        self.assertEqual(len(pages), 3)
        for index, (text, _x, _y) in stamps.items():
            with self.subTest(page=index):
                self.assertIn(text, pages[index])
        # right-aligned at 190 mm, 10 mm above the bottom edge (297 mm)
        words = [word for word in pdf_words(stamped) if word[1] == "Page"]
        self.assertEqual(len(words), 3)
        last = [word for word in pdf_words(stamped) if word[0] == 0][-1]
        self.assertEqual(last[1], "2")
        self.assertAlmostEqual(last[4], 190, delta=1)
        self.assertAlmostEqual(last[5], 287, delta=1.5)
        # stamping keeps the letters apart
        self.assertEqual(letter_pdf.letter_starts(stamped), (3, [0, 2]))

    def test_offline_html_removes_remote_references(self):
        embedded = "data:image/png;base64,iVBORw0KGgo="
        html = letter_pdf.offline_html(
            document(
                '<link rel="stylesheet" href="http://remote.example/a.css"/>'
                "<style>@import url(http://remote.example/b.css);"
                "p { background: url('http://remote.example/c.png'); color: red }"
                "</style>"
                '<img src="http://remote.example/d.png" alt="Logo"/>'
                '<img src="/web/image/7" alt="Seven"/>'
                f'<img src="{embedded}" alt="Inline"/>'
                '<iframe src="http://remote.example/e"></iframe>'
                '<p style="background-image: url(http://remote.example/f.png)">'
                'Text <a href="https://example.com/">link</a></p>'
            ),
            lambda src: embedded if src == "/web/image/7" else None,
        )
        self.assertNotIn("remote.example", html)
        self.assertNotIn("<link", html)
        self.assertNotIn("<iframe", html)
        self.assertNotIn("@import", html)
        self.assertIn("color: red", html)
        # the remote image leaves its alt text; the others are data URIs
        self.assertIn("Logo", html)
        self.assertEqual(html.count(f'src="{embedded}"'), 2)
        self.assertNotIn("/web/image/7", html)
        # a link is not loaded: it stays
        self.assertIn('href="https://example.com/"', html)

    def test_offline_css(self):
        self.assertEqual(
            letter_pdf.offline_css("background: url(http://remote.example/a.png)"),
            "background: none",
        )
        self.assertEqual(
            letter_pdf.offline_css("@import 'http://remote.example/a.css'; p {}"),
            " p {}",
        )
        data = "background: url(data:image/png;base64,AAAA)"
        self.assertEqual(letter_pdf.offline_css(data), data)
        # what still loads something once decoded is dropped altogether
        self.assertIsNone(letter_pdf.offline_css(r"background: \75rl(http://x/a)"))
        self.assertIsNone(letter_pdf.offline_css("background: image-set('a.png' 1x)"))

    def test_offline_fragment(self):
        fragment = letter_pdf.offline_fragment(
            'Dear <img src="https://remote.example/a.png" alt="Anna"/>,<p>text</p>'
        )
        self.assertEqual(fragment, "Dear Anna,<p>text</p>")

    def test_failed_printing_raises(self):
        with self.assertRaises(letter_pdf.PdfRenderingError):
            letter_pdf.html_to_pdf(document(page("x")), MARGINS_MM, timeout=0.001)


@tagged("post_install", "-at_install")
class TestEnginesAddresses(BaseCase):
    """``normalize_address`` gives what ``email_normalize(strict=True)``
    gives, for plain addresses (its fast path) and every other text."""

    SAMPLES = (
        "anna@example.com",
        "Anna.Berg@Example.COM",
        "anna+news@mail.example.co.uk",
        "a_b%c-d@sub-domain.example.de",
        "x@localhost",
        "anna@example",
        ".anna@example.com",
        "anna.@example.com",
        "an..na@example.com",
        "anna@.example.com",
        "anna@example..com",
        "anna@example.com.",
        "@example.com",
        "anna@",
        "anna",
        "",
        " anna@example.com",
        "anna@example.com ",
        "Anna <anna@example.com>",
        '"Berg, Anna" <anna@example.com>',
        "anna@example.com, bert@example.com",
        "anna@example.com;bert@example.com",
        "anna @example.com",
        "anna@exa mple.com",
        "anna@example.com (Anna)",
        "jürgen@example.de",
        "anna@exämple.de",
        "ANNA@EXAMPLE.COM\n",
        "anna@@example.com",
        "a@b@example.com",
        "anna@[127.0.0.1]",
        "o'brien@example.ie",
        "anna#1@example.com",
    )

    def test_same_as_email_normalize(self):
        for text in self.SAMPLES:
            with self.subTest(text=text):
                self.assertEqual(
                    addresses.normalize_address(text),
                    email_normalize(text, strict=True),
                )
        self.assertEqual(addresses.normalize_address(None), False)
        self.assertEqual(addresses.normalize_address(False), False)

    def test_fast_path_only_for_plain_addresses(self):
        plain = addresses.PLAIN_ADDRESS.fullmatch
        self.assertTrue(plain("Anna.Berg@Example.COM"))
        for text in (
            "Anna <anna@example.com>",
            "anna@example",
            "jürgen@example.de",
            "a@b.c, d@e.f",
            " anna@example.com",
            "an..na@example.com",
        ):
            with self.subTest(text=text):
                self.assertFalse(plain(text))
