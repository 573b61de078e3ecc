# Copyright 2026 serial_correspondence authors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""Serial letters in tests: contacts with postal addresses, a letter
template, and reading the printed PDFs with poppler's pdftotext."""

import base64
import re
import subprocess
import tempfile

MM = 72 / 25.4  # PDF points per mm

WORD_RE = re.compile(
    r'<word xMin="([\d.]+)" yMin="([\d.]+)" '
    r'xMax="([\d.]+)" yMax="([\d.]+)">([^<]*)</word>'
)


def pdf_text(pdf, *args):
    """The text of ``pdf`` (bytes); pages are separated by form feeds."""
    with tempfile.NamedTemporaryFile(suffix=".pdf") as file:
        file.write(pdf)
        file.flush()
        return subprocess.run(
            ["pdftotext", "-enc", "UTF-8", *args, file.name, "-"],
            capture_output=True,
            check=True,
        ).stdout.decode("utf-8")


def pdf_pages(pdf):
    """The text of each page of ``pdf``."""
    pages = pdf_text(pdf).split("\f")
    return pages[:-1] if pages and not pages[-1].strip() else pages


def pdf_words(pdf):
    """``[(page index, word, x_min_mm, y_min_mm, x_max_mm, y_max_mm)]`` from
    the top left corner of each page."""
    html = pdf_text(pdf, "-bbox")
    words = []
    for index, page in enumerate(html.split("<page ")[1:]):
        for x0, y0, x1, y1, word in WORD_RE.findall(page):
            words.append(
                (
                    index,
                    word,
                    float(x0) / MM,
                    float(y0) / MM,
                    float(x1) / MM,
                    float(y1) / MM,
                )
            )
    return words


class LetterDataMixin:
    """Contacts in Briefstadt and a letter template (call in setUpClass)."""

    @classmethod
    def setup_letter_data(cls):
        env = cls.env
        cls.de = env.ref("base.de")
        cls.ch = env.ref("base.ch")
        cls.at = env.ref("base.at")
        env.company.write(
            {
                "name": "Musterverein e.V.",
                "street": "Vereinsweg 1",
                "zip": "12345",
                "city": "Vereinsstadt",
                "country_id": cls.de.id,
                "phone": "+49 30 123456",
                "email": "info@musterverein.example.com",
            }
        )
        cls.letter_template = env["mail.template"].create(
            {
                "name": "Einladung",
                "model_id": env.ref("base.model_res_partner").id,
                "body_html": "<p>Liebe(r) <t t-out='object.name'/>,</p>"
                "<p>wir laden Sie herzlich zu unserer Versammlung ein.</p>"
                "<p>Mit freundlichen Grüßen</p>",
            }
        )
        town = "Briefstadt"

        def address(name, street, zip_code, city, country, **extra):
            return {
                "name": name,
                "street": street,
                "zip": zip_code,
                "city": city,
                "country_id": country.id if country else False,
                "category_id": [(4, cls.letter_tag.id)],
                **extra,
            }

        cls.letter_tag = env["res.partner.category"].create({"name": town})
        Partner = env["res.partner"]
        cls.anna = Partner.create(
            address("Anna Zimmermann", "Hauptstraße 1", "80331", "München", cls.de)
        )
        cls.bernd = Partner.create(
            address("Bernd Adler", "Unter den Linden 5", "10115", "Berlin", cls.de)
        )
        cls.clara = Partner.create(
            address("Clara Müller", "Domplatz 3", "50667", "Köln", cls.de)
        )
        cls.dieter = Partner.create(
            address("Dieter Schweizer", "Bahnhofstrasse 7", "8001", "Zürich", cls.ch)
        )
        cls.emil = Partner.create(
            address("Emil Österreicher", "Ring 2", "1010", "Wien", cls.at)
        )
        cls.printable = cls.anna | cls.bernd | cls.clara | cls.dieter | cls.emil
        cls.no_letters = Partner.create(
            address(
                "Frida Keinbrief", "Weg 1", "20095", "Hamburg", cls.de, no_letters=True
            )
        )
        cls.refuses_ads = Partner.create(
            address(
                "Gustav Werbefrei",
                "Weg 2",
                "20095",
                "Hamburg",
                cls.de,
                letter_advertising_consent="refused",
            )
        )
        cls.no_street = Partner.create(
            address("Hans Ohnestraße", False, "20095", "Hamburg", cls.de)
        )
        cls.no_zip_country = Partner.create(
            address("Ida Irgendwo", "Weg 3", False, "Irgendwo", False)
        )
        cls.letter_domain = repr([("category_id", "in", cls.letter_tag.ids)])

    def letter(self, partners=None, user=None, **vals):
        """A serial letter to ``partners`` (default: everybody in
        Briefstadt), its recipients read."""
        domain = (
            repr([("id", "in", partners.ids)])
            if partners is not None
            else self.letter_domain
        )
        vals.setdefault("subject", "Einladung zur Versammlung")
        vals.setdefault("template_id", self.letter_template.id)
        record = self.create_correspondence(
            user=user, kind="letter", partner_domain=domain, **vals
        )
        self.run_jobs(record)
        return record

    def generate(self, record, user=None):
        record.with_user(user or self.user).action_generate()
        self.assertEqual(record.state, "in_progress")
        self.run_jobs(record)
        return record

    def document(self, record):
        attachment = record.document_attachment_id
        self.assertTrue(attachment, "the serial letter has a document")
        self.assertEqual(attachment.mimetype, "application/pdf")
        raw = base64.b64decode(attachment.with_context(bin_size=False).datas)
        self.assertTrue(raw.startswith(b"%PDF"))
        return raw

    def recipient(self, record, partner):
        return record.recipient_ids.filtered(lambda r: r.partner_id == partner)

    def assertOrder(self, text, names):
        positions = [text.find(name) for name in names]
        self.assertNotIn(-1, positions, f"all of {names} are printed")
        self.assertEqual(positions, sorted(positions), f"printed in the order {names}")
