# Copyright 2026 serial_correspondence authors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""Letters print offline: wkhtmltopdf fetches nothing a letter's text refers
to (no blind SSRF from the server's network). A real HTTP server on loopback
counts every connection; real letters are printed by wkhtmltopdf."""

import base64
import io
import subprocess
import tempfile
import threading
from html import escape
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from PIL import Image

from odoo.exceptions import AccessError
from odoo.tests import tagged
from odoo.tests.common import BaseCase

from odoo.addons.base.models.ir_actions_report import _get_wkhtmltopdf_bin

from ..tools import letter_pdf
from ..tools.letter_pdf import AttachmentImages, offline_css, offline_html
from .common import SerialCorrespondenceCase
from .letter_common import LetterDataMixin, pdf_text

LETTER_MARGINS_MM = (15, 20, 20, 25)


def png(width, height, colour):
    out = io.BytesIO()
    Image.new("RGB", (width, height), colour).save(out, format="PNG")
    return out.getvalue()


def pdf_image_sizes(pdf):
    """``[(width, height)]`` of the images in ``pdf`` (poppler's pdfimages)."""
    with tempfile.NamedTemporaryFile(suffix=".pdf") as file:
        file.write(pdf)
        file.flush()
        listing = subprocess.run(
            ["pdfimages", "-list", file.name],
            capture_output=True,
            check=True,
            text=True,
        ).stdout
    sizes = []
    for line in listing.splitlines()[2:]:
        columns = line.split()
        if len(columns) > 4 and columns[2] == "image":
            sizes.append((int(columns[3]), int(columns[4])))
    return sizes


class _CountingServer(ThreadingHTTPServer):
    """Answers every request with a small PNG and counts the connections."""

    daemon_threads = True

    def __init__(self):
        self.connections = 0
        self.paths = []
        super().__init__(("127.0.0.1", 0), _CountingHandler)

    def verify_request(self, request, client_address):
        self.connections += 1
        return True


class _CountingHandler(BaseHTTPRequestHandler):
    def do_GET(self):
        self.server.paths.append(self.path)
        body = png(2, 2, "blue")
        self.send_response(200)
        self.send_header("Content-Type", "image/png")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_POST = do_HEAD = do_CONNECT = do_GET

    def log_message(self, *args):
        pass


@tagged("post_install", "-at_install")
class TestOfflineHtml(BaseCase):
    """The sanitizing itself, on HTML strings."""

    ATTACKER = "attacker.example"

    def offline(self, body, embed_image=None):
        html = (
            '<!DOCTYPE html><html><head><meta charset="utf-8"/><title>T</title>'
            f"</head><body>{body}</body></html>"
        )
        return offline_html(html, embed_image)

    def assertNothingToFetch(self, html):
        self.assertNotIn(self.ATTACKER, html)
        self.assertNotIn("127.0.0.1", html)

    def test_remote_images_are_removed_keeping_their_alt_text(self):
        for src in (
            "http://attacker.example/a.png",
            "https://attacker.example/a.png",
            "ftp://attacker.example/a.png",
            "file:///etc/passwd",
            "//attacker.example/a.png",
            "/web/image/1/../../attacker.example",
            "images/attacker.example.png",
            " HTTP://attacker.example/a.png ",
        ):
            with self.subTest(src=src):
                html = self.offline(f'<p>a <img src="{src}" alt="Logo"/> b</p>')
                self.assertNothingToFetch(html)
                self.assertNotIn("<img", html)
                self.assertIn("<p>a Logo b</p>", html)
        html = self.offline('<p>x<img src="http://attacker.example/a.png">y</p>')
        self.assertIn("<p>xy</p>", html)

    def test_data_uris_stay(self):
        body = (
            '<img src="data:image/png;base64,iVBORw0KGgo=" alt="A"/>'
            '<p style="background: url(data:image/gif;base64,R0lGOD==)">b</p>'
            '<style>.c { background: url("data:image/png;base64,iVBO") }</style>'
        )
        html = self.offline(body)
        self.assertIn('<img src="data:image/png;base64,iVBORw0KGgo=" alt="A">', html)
        self.assertIn("url(data:image/gif;base64,R0lGOD==)", html)
        self.assertIn('url("data:image/png;base64,iVBO")', html)

    def test_images_are_embedded_through_the_callback_only_as_data_uris(self):
        def embed(src):
            return {
                "/web/image/7": "data:image/png;base64,SEVJ",
                "/web/image/8": "http://attacker.example/not-a-data-uri.png",
            }.get(src)

        html = self.offline(
            '<img src="/web/image/7"/><img src="/web/image/8" alt="acht"/>', embed
        )
        self.assertIn('<img src="data:image/png;base64,SEVJ">', html)
        self.assertIn("acht", html)
        self.assertNothingToFetch(html)

    def test_elements_that_load_something_are_removed(self):
        body = (
            '<link rel="stylesheet" href="http://attacker.example/s.css"/>'
            '<iframe src="http://attacker.example/f"></iframe>'
            '<frame src="http://attacker.example/f2"/>'
            '<object data="http://attacker.example/o">fallback</object>'
            '<embed src="http://attacker.example/e"/>nach embed '
            '<script src="http://attacker.example/s.js"></script>'
            '<video src="http://attacker.example/v" poster="http://attacker.example/p">'
            '<source src="http://attacker.example/v.mp4"/></video>'
            '<audio src="http://attacker.example/a"></audio>'
            '<applet code="x" codebase="http://attacker.example/"></applet>'
            '<base href="http://attacker.example/"/>'
            '<meta http-equiv="refresh" content="0; url=http://attacker.example/r"/>'
            "<p>Text bleibt</p>"
        )
        html = self.offline(body)
        self.assertNothingToFetch(html)
        for tag in ("link", "iframe", "frame", "object", "embed", "script"):
            self.assertNotIn(f"<{tag}", html)
        self.assertIn("nach embed", html)
        self.assertIn("<p>Text bleibt</p>", html)
        self.assertIn('<meta charset="utf-8">', html)

    def test_attributes_holding_addresses_are_removed(self):
        body = (
            '<body background="http://attacker.example/b">'
            '<table background="http://attacker.example/t"><tr>'
            '<td background="http://attacker.example/td">Zelle</td></tr></table>'
            '<img src="data:image/png;base64,iVBO"'
            ' srcset="http://attacker.example/2x 2x"'
            ' lowsrc="http://attacker.example/low"/>'
            '<input type="image" src="http://attacker.example/i"/>'
            '<svg><image xlink:href="http://attacker.example/svg" href="http://attacker.example/h"/>'
            '<rect fill="url(http://attacker.example/g#x)"/></svg>'
            '<a href="https://www.example.com/info">Link</a>'
        )
        html = self.offline(body)
        self.assertNothingToFetch(html)
        self.assertIn("Zelle", html)
        # a link is no resource: a PDF does not load it
        self.assertIn('<a href="https://www.example.com/info">Link</a>', html)

    def test_css_urls_and_imports_are_removed(self):
        body = (
            "<p style=\"color: red; background-image: url('http://attacker.example/p')\">"
            "a</p>"
            "<style>@import 'http://attacker.example/i.css';"
            "@import url(http://attacker.example/j.css) screen;"
            ".x { background: URL( http://attacker.example/x ); color: blue }"
            "@font-face { font-family: F; src: url(//attacker.example/f.woff) }"
            ".y { background: url(http://attacker.example/unclosed</style>"
        )
        html = self.offline(body)
        self.assertNothingToFetch(html)
        self.assertIn("color: red; background-image: none", html)
        self.assertIn("color: blue", html)

    def test_css_that_hides_an_address_is_dropped_whole(self):
        for css in (
            r".a { background: \75rl(http://attacker.example/esc) }",
            ".a { background: u/**/rl(http://attacker.example/comment) }",
            '.a { background: -webkit-image-set("http://attacker.example/s" 1x) }',
            r"@\69mport 'http://attacker.example/esc.css';",
        ):
            with self.subTest(css=css):
                self.assertNotIn(self.ATTACKER, offline_css(css) or "")
                html = self.offline(
                    f'<style>{css}</style><p style="{escape(css)}">t</p>'
                )
                self.assertNothingToFetch(html)

    def test_style_text_cannot_end_the_style_element(self):
        html = self.offline(
            "<svg><style><img src='http://attacker.example/x'></style></svg>"
            "<style>a{}</sty<b>le><img src=http://attacker.example/y></style>"
        )
        self.assertNotIn("<img", html)
        # what is left of it is text inside <style>, without a "<"
        style_texts = [part.split("</style>")[0] for part in html.split("<style>")[1:]]
        self.assertTrue(style_texts)
        for text in style_texts:
            self.assertNotIn("<", text)


@tagged("post_install", "-at_install")
class TestLetterOffline(LetterDataMixin, SerialCorrespondenceCase):
    """Real letters, real wkhtmltopdf, a real server that must hear nothing."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.setup_letter_data()
        cls.server = _CountingServer()
        thread = threading.Thread(target=cls.server.serve_forever, daemon=True)
        thread.start()
        cls.addClassCleanup(cls.server.server_close)
        cls.addClassCleanup(cls.server.shutdown)
        cls.origin = f"http://127.0.0.1:{cls.server.server_address[1]}"

    def setUp(self):
        super().setUp()
        self.server.connections = 0
        self.server.paths.clear()

    def assertServerHeardNothing(self):
        self.assertEqual(self.server.connections, 0, self.server.paths)
        self.assertEqual(self.server.paths, [])

    def references(self, tag):
        """HTML that refers to the counting server in every way a letter's
        text can."""
        origin = self.origin
        return (
            f"<p style=\"background-image: url('{origin}/{tag}/p-style.png')\">"
            f'Bild: <img src="{origin}/{tag}/img.png" alt="Bild {tag}"/></p>'
            f'<div style="background: url({origin}/{tag}/div-style.png)">'
            "Hintergrund</div>"
            f'<link rel="stylesheet" href="{origin}/{tag}/style.css"/>'
            f'<iframe src="{origin}/{tag}/frame.html"></iframe>'
            f"<style>@import url({origin}/{tag}/import.css);"
            f".sc-x {{ background: url('{origin}/{tag}/block.png') }}</style>"
            f'<table background="{origin}/{tag}/table.png"><tr><td>Tabelle</td></tr>'
            "</table>"
            f'<img src="{origin.replace("http:", "")}/{tag}/protocol-relative.png"/>'
            f'<svg width="10" height="10"><image xlink:href="{origin}/{tag}/svg.png"'
            ' width="10" height="10"/></svg>'
        )

    def test_the_server_hears_wkhtmltopdf_without_the_fences(self):
        """The counting server does count: a bare wkhtmltopdf call fetches."""
        with tempfile.TemporaryDirectory() as directory:
            source = f"{directory}/page.html"
            with open(source, "w", encoding="utf-8") as file:
                file.write(f'<html><body><img src="{self.origin}/bare.png"/></body>')
            subprocess.run(
                [_get_wkhtmltopdf_bin(), "--quiet", source, f"{directory}/page.pdf"],
                capture_output=True,
                timeout=120,
                check=False,
            )
        self.assertIn("/bare.png", self.server.paths)

    def test_letters_fetch_nothing_the_template_or_an_edit_refers_to(self):
        template = self.letter_template.copy(
            {
                "body_html": "<p>Liebe(r) <t t-out='object.name'/>,</p>"
                + self.references("template")
                + "<p>Mit freundlichen Grüßen</p>"
            }
        )
        record = self.generate(
            self.letter(self.anna | self.bernd, template_id=template.id)
        )
        anna = self.recipient(record, self.anna)
        self.assertEqual(anna.state, "created")
        # the references reach the letter: Odoo's HTML sanitizer keeps them
        self.assertIn(f"{self.origin}/template/img.png", anna.letter_body)
        text = pdf_text(self.document(record))
        self.assertIn("Liebe(r) Anna Zimmermann", text)
        self.assertIn("Liebe(r) Bernd Adler", text)
        self.assertIn("Bild template", text)  # the alt text of the image
        self.assertIn("Tabelle", text)
        self.assertServerHeardNothing()

        # a user edits a letter: the edit is printed offline too
        anna.with_user(self.user).letter_body = (
            "<p>GEÄNDERT für Anna</p>" + self.references("edit")
        )
        record.with_user(self.user).action_update_document()
        text = pdf_text(self.document(record))
        self.assertIn("GEÄNDERT für Anna", text)
        self.assertIn("Bild edit", text)
        self.assertServerHeardNothing()

    def test_letter_text_that_escaped_the_html_sanitizer_is_printed_offline(self):
        record = self.generate(self.letter(self.anna))
        anna = self.recipient(record, self.anna)
        # e.g. written before the field was sanitized: stored as it is
        raw = (
            "<p>ROH für Anna</p>"
            + self.references("raw")
            + f'<object data="{self.origin}/raw/object"></object>'
            f'<embed src="{self.origin}/raw/embed"/>'
            f'<script src="{self.origin}/raw/script.js"></script>'
            f'<video poster="{self.origin}/raw/poster.png"></video>'
        )
        self.env.cr.execute(
            "UPDATE serial_correspondence_recipient SET letter_body = %s WHERE id = %s",
            (raw, anna.id),
        )
        anna.invalidate_recordset(["letter_body"])
        self.assertIn("<iframe", anna.letter_body)
        html = record.with_user(self.user)._letters_html(anna)
        self.assertNotIn(self.origin.split("://")[1], html)
        pdf = letter_pdf.html_to_pdf(html, LETTER_MARGINS_MM)
        self.assertIn("ROH für Anna", pdf_text(pdf))
        self.assertServerHeardNothing()

    def test_wkhtmltopdf_itself_reaches_no_server(self):
        """The second fence, alone: HTML that was not made offline."""
        localhost = self.origin.replace("127.0.0.1", "localhost")
        green = base64.b64encode(png(29, 17, "green")).decode()
        html = (
            '<!DOCTYPE html><html><head><meta charset="utf-8"/>'
            f'<link rel="stylesheet" href="{self.origin}/fence/style.css"/></head>'
            "<body><p>Zaun hält</p>"
            f'<img src="{self.origin}/fence/img.png"/>'
            f'<img src="{localhost}/fence/localhost.png"/>'
            f'<iframe src="{self.origin}/fence/frame.html"></iframe>'
            f'<img src="data:image/png;base64,{green}"/>'
            "</body></html>"
        )
        pdf = letter_pdf.html_to_pdf(html, LETTER_MARGINS_MM)
        self.assertIn("Zaun hält", pdf_text(pdf))
        # data: URIs still print
        self.assertIn((29, 17), pdf_image_sizes(pdf))
        self.assertServerHeardNothing()

    def test_images_the_user_may_read_are_embedded_others_are_not(self):
        Attachment = self.env["ir.attachment"]
        readable_png = png(37, 23, "red")
        readable = Attachment.create(
            {
                "name": "lesbar.png",
                "raw": readable_png,
                "res_model": "res.partner",
                "res_id": self.anna.id,
            }
        )
        other_company = self.env["res.company"].create({"name": "Andere Firma"})
        foreign = self.Partner.create(
            {"name": "Fremder Kontakt", "company_id": other_company.id}
        )
        secret_png = png(41, 19, "black")
        secret = Attachment.create(
            {
                "name": "geheim.png",
                "raw": secret_png,
                "res_model": "res.partner",
                "res_id": foreign.id,
            }
        )
        # the user reads the one and not the other
        self.assertTrue(readable.with_user(self.user).has_access("read"))
        with self.assertRaises(AccessError):
            secret.with_user(self.user).check("read")
        base_url = self.env["ir.config_parameter"].sudo().get_param("web.base.url")
        template = self.letter_template.copy(
            {
                "body_html": "<p>Liebe(r) <t t-out='object.name'/>,</p>"
                f'<p><img src="/web/image/{readable.id}" alt="Lesbares Bild"/></p>'
                f'<p><img src="{base_url}/web/image/{secret.id}/geheim.png"'
                ' alt="Geheimes Bild"/></p>'
                f'<p><img src="/web/content/{secret.id}" alt="Noch geheimer"/></p>'
            }
        )
        record = self.generate(self.letter(self.anna, template_id=template.id))
        anna = self.recipient(record, self.anna)
        self.assertEqual(anna.state, "created")
        html = record.with_user(self.user)._letters_html(anna)
        self.assertIn(
            f"data:image/png;base64,{base64.b64encode(readable_png).decode()}", html
        )
        self.assertNotIn(base64.b64encode(secret_png).decode(), html)
        self.assertNotIn(f"/web/image/{secret.id}", html)
        self.assertNotIn(f"/web/content/{secret.id}", html)
        # as superuser the very same user still reads only what it may read
        images = AttachmentImages(self.env(user=self.user.id, su=True), [base_url])
        self.assertTrue(images(f"/web/image/{readable.id}"))
        self.assertIsNone(images(f"/web/image/{secret.id}"))
        # the printed letter shows the readable image and the other's alt text
        pdf = self.document(record)
        sizes = pdf_image_sizes(pdf)
        self.assertIn((37, 23), sizes)
        self.assertNotIn((41, 19), sizes)
        text = pdf_text(pdf)
        self.assertIn("Geheimes Bild", text)
        self.assertIn("Noch geheimer", text)
        self.assertNotIn("Lesbares Bild", text)
        self.assertServerHeardNothing()

    def test_attachment_addresses_on_this_server_only(self):
        images = AttachmentImages(self.env, ["https://erp.example.com"])
        for src, expected in (
            ("/web/image/5", 5),
            ("/web/image/5-1a2b3c/logo.png", 5),
            ("/web/image/5/300x200", 5),
            ("/web/content/5?download=true", 5),
            ("https://erp.example.com/web/image/5/logo.png", 5),
            ("HTTPS://ERP.example.com/web/content/5", 5),
            ("http://erp.example.com/web/image/5", None),
            ("https://attacker.example/web/image/5", None),
            ("//attacker.example/web/image/5", None),
            ("web/image/5", None),
            ("/web/image/res.partner/5/image_128", None),
            ("/web/image/abc", None),
        ):
            with self.subTest(src=src):
                self.assertEqual(images.attachment_id(src), expected)

    def test_print_letter_report_gets_offline_pages_too(self):
        """Print > Letter (Odoo's report engine) prints the same pages: they
        are cleaned the same way before its wkhtmltopdf sees them."""
        record = self.generate(self.letter(self.anna))
        anna = self.recipient(record, self.anna)
        anna.with_user(self.user).letter_body = (
            "<p>BERICHT für Anna</p>" + self.references("report")
        )
        values = (
            self.env["report.serial_correspondence.report_serial_letter"]
            .with_user(self.user)
            ._get_report_values(anna.ids)
        )
        pages = str(values["pages"])
        self.assertIn("BERICHT für Anna", pages)
        self.assertIn("Bild report", pages)
        self.assertNotIn(self.origin.split("://")[1], pages)
