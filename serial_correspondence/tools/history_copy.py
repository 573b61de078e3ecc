# Copyright 2026 serial_correspondence authors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""The contacts' history copies of one sending run, sanitized as the ORM
would, without sanitizing every e-mail anew.

Every e-mail gets a copy in the contact's history, inserted with SQL and so
sanitized as the ORM sanitizes ``mail.message.body`` (``_sanitized_body``):
parsing, quote detection, cleaning and writing the HTML again took a quarter
of the sender's time per e-mail. The e-mails of a serial e-mail differ only
in what the template's placeholders put in. So the template is sanitized
once per run with a marker (letters and digits) in place of each value (a
*shape*), and an e-mail whose text is that shape with values in place of the
markers gets the sanitized shape with the same values in place of the
markers, when every value is plain text:

- a value is letters, digits, spaces, ``. , ( ) -``; it starts and ends with
  neither a space nor ``-`` and has no ``--`` (escaped text is left alone:
  ``&``, ``<``, ``>``, quotes, line breaks are not plain);
- every marker stands in the text of an element that holds ordinary text
  (not in a tag, an attribute, a comment, a ``<style>`` or ``<script>``),
  before and after sanitizing, exactly once, and not right after an
  unfinished entity (``&amp`` without its ``;``).

What sanitizing does to text depends only on line breaks, ``>``, ``--`` and
``<``/``&`` (quote and signature detection, tags, entities), which such a
value neither contains nor forms with the text around it, just as the
marker does not; the cleaning itself decides by tags and attributes; and
text of such characters is written back as it was read. A value that is not
plain, an e-mail that is not the shape (another template, a footer), or a
shape whose markers do not stay in ordinary text: the e-mail's copy is
sanitized in full, as before. The first copies of each run are sanitized in
full as well and compared: a difference (it would be a change in Odoo's
sanitizer) turns the shortcut off for the run and is logged.
"""

import logging
import re
import secrets

from lxml import html

_logger = logging.getLogger(__name__)

# a value that is plain text (see above)
VALUE = r"[\w.,()](?:[\w .,()-]*[\w.,()])?"

# text before a value that would make the value part of an entity
UNFINISHED_ENTITY = re.compile(r"&[#\w]*$")

# elements whose text is not ordinary text to the parser or the cleaner
NOT_ORDINARY_TEXT = frozenset(
    {
        "script",
        "style",
        "textarea",
        "title",
        "xmp",
        "iframe",
        "noembed",
        "noframes",
        "noscript",
        "plaintext",
        "template",
    }
)

# copies of each run also sanitized in full and compared
CHECKED_COPIES = 2


def new_marker(number):
    """A marker for the ``number``-th value: letters and digits, unlike
    anything a template says."""
    return f"Sc{number}v{secrets.token_hex(6)}x"


def marked(text, placeholder):
    """``(text, markers)``: ``text`` with a new marker in place of each match
    of the regular expression ``placeholder`` (Odoo's placeholder of the
    regex rendering: the value alone for ``<t>``, else in its tag)."""
    markers = []

    def replace(match):
        markers.append(new_marker(len(markers)))
        tag = match.group(1)
        if tag.lower() == "t":
            return markers[-1]
        return f"<{tag}>{markers[-1]}</{tag}>"

    return placeholder.sub(replace, text), markers


def _ordinary_text_markers(text, markers):
    """The markers of ``markers`` that stand, once each, in the ordinary
    text of ``text`` (an HTML fragment)."""
    found = []
    for marker in markers:
        if text.count(marker) != 1:
            continue
        index = text.index(marker)
        # not inside a tag, an attribute or a comment
        if text.rfind("<", 0, index) > text.rfind(">", 0, index):
            continue
        found.append(marker)
    if not found:
        return set()
    root = html.fragment_fromstring(text, create_parent="div")
    ordinary = set()
    for element in root.iter():
        texts = []
        # the text of comments and processing instructions is none
        if isinstance(element.tag, str):
            texts.append((element.text, element))
        if element.getparent() is not None:
            texts.append((element.tail, element.getparent()))
        for content, holder in texts:
            if not content or holder.tag in NOT_ORDINARY_TEXT:
                continue
            ordinary.update(marker for marker in found if marker in content)
    return ordinary


class _Shape:
    """One template's sanitized shape: the pattern of its e-mails and the
    sanitized pieces between its values."""

    def __init__(self, pattern, pieces, order):
        self.pattern = pattern
        self.pieces = pieces  # sanitized text between the values
        self.order = order  # the value (group) each gap takes

    def fill(self, body):
        match = self.pattern.fullmatch(body)
        if match is None:
            return None
        values = match.groups()
        if any("--" in value for value in values):
            return None
        parts = [self.pieces[0]]
        for gap, piece in zip(self.order, self.pieces[1:], strict=True):
            parts.append(values[gap])
            parts.append(piece)
        return "".join(parts)


class HistoryCopies:
    """The history copies of one run: ``sanitized(body)`` is
    ``sanitize(prefix + body)``, from a shape when ``body`` fits one (see
    above).

    ``sanitize``: the ORM's sanitizing of ``mail.message.body``; ``prefix``:
    what stands above each copy (the link to the correspondence);
    ``shapes``: ``(text, markers)`` pairs, an e-mail's text as the template
    gives it with ``markers`` (from ``new_marker``) in place of its values."""

    def __init__(self, sanitize, prefix, shapes=()):
        self.sanitize = sanitize
        self.prefix = prefix
        self.checked = 0
        self.shortcuts = 0
        self.shapes = []
        for text, markers in shapes:
            shape = self._shape(text, markers)
            if shape is not None:
                self.shapes.append(shape)

    def _shape(self, text, markers):
        markers = list(markers)
        if not markers or len(markers) > 100:
            return None
        source = self.prefix + text
        if _ordinary_text_markers(source, markers) != set(markers):
            return None
        sanitized = str(self.sanitize(source))
        if _ordinary_text_markers(sanitized, markers) != set(markers):
            return None
        any_marker = "|".join(re.escape(marker) for marker in markers)
        # the e-mail's text: the template's text with a value (a group of
        # the pattern) for each marker
        texts = re.split(f"({any_marker})", text)
        group = {marker: index for index, marker in enumerate(texts[1::2])}
        if len(group) != len(markers) or any(
            UNFINISHED_ENTITY.search(piece) for piece in texts[0:-1:2]
        ):
            return None
        split = re.split(f"({any_marker})", sanitized)
        pieces, order = split[0::2], [group[marker] for marker in split[1::2]]
        pattern = "".join(
            re.escape(piece) if index % 2 == 0 else f"({VALUE})"
            for index, piece in enumerate(texts)
        )
        return _Shape(re.compile(pattern), pieces, order)

    def sanitized(self, body):
        """``body``'s copy for the contact's history, sanitized."""
        body = str(body or "")
        for shape in self.shapes:
            copied = shape.fill(body)
            if copied is None:
                continue
            if self.checked < CHECKED_COPIES:
                self.checked += 1
                full = str(self.sanitize(self.prefix + body))
                if full != copied:
                    _logger.warning(
                        "The history copy from the template's sanitized shape "
                        "differs from the e-mail sanitized in full; sanitizing "
                        "every e-mail of this run in full."
                    )
                    self.shapes = []
                    return full
            self.shortcuts += 1
            return copied
        return str(self.sanitize(self.prefix + body))
