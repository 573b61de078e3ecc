# Copyright 2026 serial_correspondence authors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
import random

from markupsafe import escape

from odoo.tests import tagged
from odoo.tools.mail import html_normalize

from ..models.mail_render_mixin import PLACEHOLDER
from ..tools.history_copy import CHECKED_COPIES, HistoryCopies, marked
from .common import SerialCorrespondenceCase

# names that are plain text (the copy comes from the template's shape) and
# names that are not (sanitized in full)
PLAIN_NAMES = [
    "Anna",
    "Müller-Lüdenscheidt",
    "Dr. Hans Meier (Vorstand), Kassel",
    "ß Æ 漢字 0815",
    "Anna - Lena",
    "x",
]
OTHER_NAMES = [
    "O'Brien",
    "Anna--Lena",
    "-Anna",
    "Anna-",
    " Anna ",
    "Tom & Jerry",
    "<b>fett</b><script>alert(1)</script>",
    "Zeile\nzwei",
    "> zitiert",
    "--\nGruß",
    'javascript:alert("x")',
    "a\xa0b",
]

TEMPLATES = {
    "letter": """<div style="font-family: Arial; font-size: 14px;">
<p>Hallo <t t-out="object.name"/>,</p>
<table style="width: 100%"><tr><td><strong>Montag</strong></td>
<td>8:00 bis 18:00 Uhr</td></tr></table>
<p>Viele Grüße<br/>Ihr Verein</p></div>""",
    # signature and quote detection over the values
    "signature": "<p>Gruß\n--\n<t t-out='object.name'/></p>"
    "<p><t t-out='object.name'/>\n--\nEnde</p>",
    "quote": "<p><t t-out='object.name'/> schrieb:\n&gt; <t t-out='object.name'/> "
    "ist schön</p><pre><t t-out='object.name'/>\n&gt;&gt; ja</pre>",
    "entity": "<p>&amp;<t t-out='object.name'/>; <t t-out='object.name'/>"
    "<a href='/kontakt'>Kontakt</a></p>",
    "list": "<ul><li><t t-out='object.name'/></li><li>--<t t-out='object.name'/>--"
    "</li></ul><blockquote><t t-out='object.name'/></blockquote>",
}
# a value the sanitizer does not keep as ordinary text (no shape), or texts
# QWeb renders otherwise than the template's shape says (an expression only
# template editors may use): each copy sanitized in full
NO_SHORTCUT_TEMPLATES = {
    "style": "<style>p { color: red; } <t t-out='object.name'/></style><p>Hallo</p>",
    "comment": "<p>Hallo<!-- <t t-out='object.name'/> --></p>",
    "qweb": "<p>&amp;<t t-out='object.name'/> <t t-out='object.city'/></p>",
}

# pieces of random templates: what quote, signature, entity and tag handling
# of the sanitizer looks at, next to the placeholders
PIECES = [
    *("-", "--", "\n", ">", "&gt;", "&amp;", "&", " ", "  ", "\n\n", "\n>"),
    *("\n-- \n", ";", "&#", "&#39;", "\xa0", "&nbsp;", "Hallo", "wrote:"),
    *("<br/>", "<p>", "</p>", "<pre>", "</pre>", "<b>", "</b>", "<span>"),
    *("</span>", "<blockquote>", "</blockquote>", "<style>", "</style>"),
    *("<!--", "-->", "<table><tr><td>", "</td></tr></table>", "<table>"),
    *("<a href='/x'>", "</a>", "<div class='gmail_quote'>", "</div>", "<div>"),
    *("<hr class='stopSpelling'/>", "<script>", "</script>", "<o:p>", "</o:p>"),
    *("<textarea>", "</textarea>", "<title>", "</title>", "<ul><li>"),
    *("</li></ul>", "<div id='Signature'>", "<div id='divRplyFwdMsg'>", "<hr/>"),
    *("<img src='/i.png'>", "<h1>", "</h1>", "<span t-out='object.name'>x</span>"),
    *(["<t t-out='object.name'/>"] * 3),
]
VALUES = PLAIN_NAMES + OTHER_NAMES + ["gt", "amp", "ampx", "39", "a;b", "a>b"]
LETTERS = "abcXYZäöüßÆ漢字0189 .,()-_"


@tagged("post_install", "-at_install")
class TestHistoryCopies(SerialCorrespondenceCase):
    """The history copy of each e-mail is the e-mail sanitized as the ORM
    would, also where it comes from the template's sanitized shape
    (``tools/history_copy.py``)."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.town = "Kopiehausen"
        cls.contacts = cls.env["res.partner"].create(
            [
                {
                    "name": name,
                    "email": f"kopie{index}@example.com",
                    "city": cls.town,
                }
                for index, name in enumerate(PLAIN_NAMES + OTHER_NAMES)
            ]
        )

    def _correspondence(self, body):
        template = self.env["mail.template"].create(
            {
                "name": "Kopie",
                "model_id": self.env.ref("base.model_res_partner").id,
                "body_html": body,
            }
        )
        return self.create_correspondence(
            kind="email",
            purpose="information",
            subject="Hallo",
            template_id=template.id,
            email_from="verein@example.com",
            partner_domain=repr([("city", "=", self.town)]),
        )

    def _copies_and_full(self, record):
        """Each contact's copy through ``_history_copies`` and sanitized in
        full, of the texts rendered as the send job renders them."""
        rendered, failures = record._render_messages(self.contacts)
        self.assertFalse(failures)
        copies = record._history_copies()
        link = str(record._history_link())
        return copies, {
            partner_id: (
                copies.sanitized(body),
                str(record._sanitized_body(link + str(body))),
            )
            for partner_id, (_subject, body) in rendered.items()
        }

    def test_copies_from_the_shape_are_the_copies_sanitized_in_full(self):
        plain = set(self.contacts[: len(PLAIN_NAMES)].ids)
        for name, body in TEMPLATES.items():
            with self.subTest(template=name):
                record = self._correspondence(body)
                copies, results = self._copies_and_full(record)
                self.assertTrue(copies.shapes, "the template has a shape")
                for partner_id, (copy, full) in results.items():
                    name = self.env["res.partner"].browse(partner_id).name
                    self.assertEqual(copy, full, name)
                # the plain names came from the shape, the others not (the
                # first contact of the batch included: its own shape)
                self.assertEqual(copies.shortcuts, len(plain))
                self.assertNotIn("<script", "".join(c for c, _f in results.values()))

    def test_texts_that_fit_no_shape_are_sanitized_in_full(self):
        for name, body in NO_SHORTCUT_TEMPLATES.items():
            with self.subTest(template=name):
                record = self._correspondence(body)
                copies, results = self._copies_and_full(record)
                self.assertEqual(bool(copies.shapes), name == "qweb")
                self.assertEqual(copies.shortcuts, 0)
                for copy, full in results.values():
                    self.assertEqual(copy, full)

    def test_a_shape_that_differs_from_the_full_copy_is_dropped(self):
        """The first copies of a run are compared with the e-mail
        sanitized in full: a shape that gives another copy is not used."""
        sanitize = self.env["serial.correspondence"]._sanitized_body
        marker = "Sc0vabcdef012345x"
        # a shape that claims the text says "Hallo" where the e-mail says
        # "Guten Tag": as if the sanitizer had changed
        copies = HistoryCopies(sanitize, "", [(f"<p>Hallo {marker}</p>", [marker])])
        copies.shapes[0].pieces[0] = "<p>Guten Tag "
        with self.assertLogs(
            "odoo.addons.serial_correspondence.tools.history_copy", "WARNING"
        ):
            copy = copies.sanitized("<p>Hallo Anna</p>")
        self.assertEqual(copy, "<p>Hallo Anna</p>")
        self.assertFalse(copies.shapes)
        self.assertEqual(copies.sanitized("<p>Hallo Berta</p>"), "<p>Hallo Berta</p>")

    def test_random_templates_and_values_copy_as_sanitized_in_full(self):
        """Random templates of the pieces the sanitizer looks at, random
        values: every copy from a shape is the copy sanitized in full (the
        comparison of a run's first copies left out)."""
        sanitize = self.env["serial.correspondence"]._sanitized_body
        prefix = '<p class="text-muted small">E-Mail <a href="/odoo/x/1">X</a></p>'
        generator = random.Random(15)
        shortcuts = 0
        for _number in range(2000):
            source = "".join(generator.choices(PIECES, k=generator.randint(2, 14)))
            once = html_normalize(f"<div>{source}</div>")
            texts = dict.fromkeys((once, html_normalize(f"<div>{once}</div>")))
            shapes = [marked(text, PLACEHOLDER) for text in texts]
            copies = HistoryCopies(sanitize, prefix, [s for s in shapes if s[1]])
            copies.checked = CHECKED_COPIES
            for text in texts:
                for _value in range(4):
                    if generator.random() < 0.4:
                        value = generator.choice(VALUES)
                    else:
                        value = "".join(
                            generator.choices(LETTERS, k=generator.randint(1, 8))
                        )

                    def fill(match, value=value):
                        tag = match.group(1)
                        if tag.lower() == "t":
                            return str(escape(value))
                        return f"<{tag}>{escape(value)}</{tag}>"

                    body = PLACEHOLDER.sub(fill, text)
                    before = copies.shortcuts
                    copy = copies.sanitized(body)
                    if copies.shortcuts > before:
                        shortcuts += 1
                        self.assertEqual(
                            copy, str(sanitize(prefix + body)), (source, value)
                        )
        # the shortcut was taken often enough to mean something
        self.assertGreater(shortcuts, 1000)

    def test_a_value_after_an_unfinished_entity_has_no_shape(self):
        sanitize = self.env["serial.correspondence"]._sanitized_body
        marker = "Sc0vabcdef012345x"
        copies = HistoryCopies(sanitize, "", [(f"<p>&amp{marker}</p>", [marker])])
        self.assertFalse(copies.shapes)
        self.assertEqual(
            copies.sanitized("<p>&ampx</p>"), str(sanitize("<p>&ampx</p>"))
        )
        self.assertEqual(copies.shortcuts, 0)

    def test_sent_emails_keep_copies_sanitized_in_full(self):
        record = self._correspondence(TEMPLATES["letter"])
        self.run_jobs(record)
        rendered, _failures = record._render_messages(self.contacts)
        link = str(record._history_link())
        record.with_user(self.user).action_send()
        self.run_jobs(record)
        self.assertEqual(set(record.recipient_ids.mapped("state")), {"sent"})
        for recipient in record.recipient_ids:
            body = rendered[recipient.partner_id.id][1]
            self.assertEqual(
                str(recipient.message_id.body),
                str(record._sanitized_body(link + str(body))),
                recipient.partner_id.name,
            )
