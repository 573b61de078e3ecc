# Copyright 2026 serial_correspondence authors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""Printing serial letters: HTML to PDF, page numbers, one document.

Why not Odoo's report engine for the document itself
----------------------------------------------------
``ir.actions.report._render_qweb_pdf`` puts every record in an HTML file of
its own and the company header/footer in ``--header-html``/``--footer-html``.
A wkhtmltopdf built without its patched Qt (Debian's, Ubuntu's) prints neither
more than one HTML file nor headers and footers, and it waits
``report.print_delay`` (1 s) per call for JavaScript. So the letters of a part
are printed from one self-contained HTML document (inline styles, the logo as
a data URI) by a direct wkhtmltopdf call. It needs no HTTP server for assets:
the same code prints in a queue job, a shell or a test.

Page numbers
------------
Without footers, "Page 1 of 2" is stamped onto the PDF afterwards. Every letter
starts on a new page whose first fold mark is drawn in :data:`MARKER_RGB`;
finding that colour in the page contents tells where each letter starts.

Offline
-------
A letter's text comes from a template or from a user, and wkhtmltopdf would
fetch whatever it refers to (``<img src="http://...">``, CSS ``url()``,
``<link>``, ``<iframe>``...): a blind SSRF from the server's network. Two
fences keep it offline. :func:`offline_html` leaves no reference to anything
but ``data:`` URIs in the HTML: images that are attachments the user may read
are embedded (:class:`AttachmentImages`), everything else is removed. And
:func:`html_to_pdf` points wkhtmltopdf at a proxy on a loopback port nobody
listens on, so a request that slipped through still reaches no server
(``--proxy`` also covers ``localhost``, ``https`` and ``ftp``; pages of
``data:`` URIs print as before).

One document
------------
PyPDF2's writer (2.x) is quadratic in the number of objects (10,000 pages take
minutes), so :class:`PdfAssembler` copies the pages of the parts into one file
itself, in one pass, renumbering the objects. It reads the parts through the
PDF reader that Odoo ships (``odoo.tools.pdf``), but copies the objects of a
PDF with a classic cross-reference table (wkhtmltopdf's, its own) as they are
written: references renumbered, stream data byte for byte (parsing every
object with PyPDF2 and writing it again took most of the time of a merge).
"""

import base64
import contextlib
import functools
import io
import logging
import os
import re
import shutil
import socket
import subprocess
import tempfile
import time
import zlib
from urllib.parse import urlsplit

from lxml import html as lxml_html
from markupsafe import escape

from odoo.exceptions import AccessError, MissingError
from odoo.tools.mimetypes import guess_mimetype
from odoo.tools.misc import find_in_path
from odoo.tools.pdf import PdfFileReader, generic

_logger = logging.getLogger(__name__)

# the colour of the first fold mark on the first page of every letter
MARKER_RGB = (1, 2, 3)
_MARKER_RE = re.compile(
    rb"(?<![\d.])(0?\.00392\d*) (0?\.00784\d*) (0?\.01176\d*) (?:rg|RG|sc|SC|scn|SCN)\b"
)
# unpatched Qt prints 1 CSS mm as 0.768 mm, whatever --dpi/--zoom say
UNPATCHED_QT_ZOOM = 1 / 0.768
PT_PER_MM = 72 / 25.4
A4_MM = (210.0, 297.0)
DEFAULT_TIMEOUT = 600


class PdfRenderingError(Exception):
    """wkhtmltopdf did not produce a PDF."""


class InvalidPdfError(Exception):
    """A PDF (e.g. an attached file) that cannot be read or copied."""


def _get_wkhtmltopdf_bin():
    """The wkhtmltopdf binary, found as Odoo's report engine finds it
    (``PATH`` and the ``bin_path`` option), without importing its model."""
    return find_in_path("wkhtmltopdf")


# ----------------------------------------------------------------------
# wkhtmltopdf
# ----------------------------------------------------------------------


@functools.cache
def wkhtmltopdf_patched_qt():
    """Whether the installed wkhtmltopdf is built with its patched Qt."""
    try:
        version = subprocess.run(
            [_get_wkhtmltopdf_bin(), "--version"],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return False
    return "patched qt" in version.lower()


def css_zoom():
    """The CSS zoom that makes 1 CSS mm print as 1 mm on paper."""
    return 1.0 if wkhtmltopdf_patched_qt() else UNPATCHED_QT_ZOOM


def html_to_pdf(html, margins_mm, timeout=DEFAULT_TIMEOUT):
    """Print one self-contained HTML document on A4 and return the PDF.

    :param margins_mm: (top, right, bottom, left) page margins in mm
    """
    top, right, bottom, left = margins_mm
    command = [
        _get_wkhtmltopdf_bin(),
        "--quiet",
        "--encoding",
        "utf-8",
        "--disable-javascript",
        # without JavaScript its 200 ms wait for scripts is idle time
        "--javascript-delay",
        "0",
        "--disable-local-file-access",
        "--page-size",
        "A4",
        "--margin-top",
        f"{top}mm",
        "--margin-right",
        f"{right}mm",
        "--margin-bottom",
        f"{bottom}mm",
        "--margin-left",
        f"{left}mm",
    ]
    if wkhtmltopdf_patched_qt():
        command += ["--disable-smart-shrinking", "--dpi", "96", "--zoom", "1"]
    if time.monotonic() >= _NEXT_SWEEP["at"]:
        _NEXT_SWEEP["at"] = time.monotonic() + SWEEP_INTERVAL
        _remove_stale_work_directories()
    with (
        _closed_loopback_port() as port,
        tempfile.TemporaryDirectory(prefix=_work_directory_prefix()) as directory,
    ):
        # the second fence: whatever wkhtmltopdf still tries to load goes to
        # a proxy that refuses every connection
        command += ["--proxy", f"http://127.0.0.1:{port}"]
        source = os.path.join(directory, "letters.html")
        target = os.path.join(directory, "letters.pdf")
        with open(source, "w", encoding="utf-8") as file:
            file.write(html)
        try:
            process = subprocess.run(
                [*command, source, target],
                capture_output=True,
                timeout=timeout,
                check=False,
            )
        except subprocess.TimeoutExpired as error:
            raise PdfRenderingError(
                f"wkhtmltopdf took longer than {timeout} seconds"
            ) from error
        except OSError as error:
            raise PdfRenderingError(f"wkhtmltopdf cannot run: {error}") from error
        # exit code 1 also means "printed, but a resource was missing"
        if process.returncode not in (0, 1) or not _non_empty(target):
            message = process.stderr.decode("utf-8", "replace").strip()[-1000:]
            raise PdfRenderingError(
                f"wkhtmltopdf failed (exit code {process.returncode}): {message}"
            )
        with open(target, "rb") as file:
            return file.read()


WORK_DIRECTORY_PREFIX = "serial_letters."
# seconds between two looks of a process for leftovers of killed prints
SWEEP_INTERVAL = 60
_NEXT_SWEEP = {"at": 0.0}
_WORK_DIRECTORY_RE = re.compile(rf"^{re.escape(WORK_DIRECTORY_PREFIX)}(\d+)\.")


def _work_directory_prefix():
    """The prefix of a print's temporary directory: it names the process, so
    that a directory left by a killed process can be told apart."""
    return f"{WORK_DIRECTORY_PREFIX}{os.getpid()}."


def _process_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _remove_stale_work_directories():
    """Remove the temporary directories of prints whose process is gone.

    A print writes the letters (names and addresses) as HTML into a
    temporary directory that it removes when it ends; a worker killed
    meanwhile (``kill -9``, the OOM killer, a crash) leaves it behind. The
    next print removes such leftovers, so personal data does not stay in
    the temporary directory after a crash. (A process is recognised by its
    pid: the temporary directory must be this machine's own, not one shared
    with other containers.)"""
    directory = tempfile.gettempdir()
    uid = os.getuid()
    try:
        entries = list(os.scandir(directory))
    except OSError:
        return
    for entry in entries:
        match = _WORK_DIRECTORY_RE.match(entry.name)
        if not match or _process_alive(int(match.group(1))):
            continue
        try:
            if not entry.is_dir(follow_symlinks=False) or entry.stat().st_uid != uid:
                continue
        except OSError:
            continue
        _logger.info("removing %s, left by a print that was interrupted", entry.path)
        shutil.rmtree(entry.path, ignore_errors=True)


@contextlib.contextmanager
def _closed_loopback_port():
    """A loopback port that refuses every connection while the block runs:
    a socket bound to it that does not listen (a fixed "closed" port such as
    9 might be open on some server)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]


def _non_empty(path):
    try:
        return os.path.getsize(path) > 0
    except OSError:
        return False


# ----------------------------------------------------------------------
# offline HTML: nothing left for wkhtmltopdf to fetch
# ----------------------------------------------------------------------

#: elements that load, embed or point the page at another resource: removed
#: with their content
FETCHING_ELEMENTS = frozenset(
    {
        "applet",
        "audio",
        "frameset",
        "iframe",
        "noscript",
        "object",
        "portal",
        "script",
        "video",
    }
)
#: the same, but void in HTML: removed alone, as libxml2 (HTML 4) may have
#: put what follows them inside them
FETCHING_VOID_ELEMENTS = frozenset(
    {"base", "bgsound", "embed", "frame", "link", "param", "source", "track"}
)
#: attributes whose value is the address of a resource, besides every
#: attribute whose name ends in ``src`` or ``href`` (``lowsrc``, ``xlink:href``)
URL_ATTRIBUTES = frozenset(
    {
        "action",
        "archive",
        "background",
        "cite",
        "classid",
        "codebase",
        "data",
        "formaction",
        "icon",
        "imagesrcset",
        "longdesc",
        "manifest",
        "ping",
        "poster",
        "profile",
        "srcdoc",
        "srcset",
        "usemap",
        "xml:base",
    }
)
_DATA_URI_RE = re.compile(r"[\s\x00-\x1f]*data:", re.IGNORECASE)
_CSS_COMMENT_RE = re.compile(r"/\*.*?(?:\*/|\Z)", re.DOTALL)
_CSS_IMPORT_RE = re.compile(r"@import\b[^;]*(?:;|\Z)", re.IGNORECASE)
# url(...) as browsers read it, also when the closing quote or parenthesis
# is missing at the end of the text
_CSS_URL_RE = re.compile(
    r"""url\s*\(\s*(?P<arg>"(?:[^"\\]|\\.)*(?:"|\Z)|'(?:[^'\\]|\\.)*(?:'|\Z)|[^)]*)"""
    r"""\s*(?:\)|\Z)""",
    re.IGNORECASE | re.DOTALL,
)
_CSS_ESCAPE_RE = re.compile(r"\\(?:([0-9a-fA-F]{1,6})[ \t\r\n\f]?|(.))", re.DOTALL)
# what loads a resource without url(...), or hides one from the checks
_CSS_FETCHING_RE = re.compile(
    r"@import|(?:image-set|\bimage|\bsrc|expression)\s*\(|-moz-binding|behavior\s*:",
    re.IGNORECASE,
)


def _is_data_uri(value):
    return bool(_DATA_URI_RE.match(value or ""))


def _unescape_css(match):
    if match.group(1):
        code = int(match.group(1), 16)
        return chr(code) if 0 < code <= 0x10FFFF else "\ufffd"
    return match.group(2)


def _css_fetches(css):
    """Whether ``css`` still refers to anything but ``data:`` URIs, read
    the way a browser reads it (comments dropped, escapes decoded)."""
    if (
        css.isascii()
        and not any(char in css for char in "\\(@:")
        and "/*" not in css
        and "binding" not in css.lower()
    ):
        # nothing to decode, and no url(, image(..., @import, behavior: or
        # -moz-binding: most attributes (class names...) end here
        return False
    text = _CSS_ESCAPE_RE.sub(_unescape_css, _CSS_COMMENT_RE.sub("", css))
    if _CSS_FETCHING_RE.search(text):
        return True
    return any(
        not _is_data_uri(match.group("arg").strip("\"' \t\r\n\f"))
        for match in _CSS_URL_RE.finditer(text)
    )


def offline_css(css):
    """``css`` (a style sheet or a ``style`` attribute) with every ``url()``
    that is not a ``data:`` URI replaced by ``none`` and every ``@import``
    removed; ``None`` when what is left would still load a resource (an
    escaped ``url``, ``image-set("...")``): then drop all of it."""
    if not css:
        return css

    def replace(match):
        if _is_data_uri(match.group("arg").strip("\"' \t\r\n\f")):
            return match.group(0)
        return "none"

    text = _CSS_COMMENT_RE.sub("", css)
    text = _CSS_URL_RE.sub(replace, _CSS_IMPORT_RE.sub("", text))
    return None if _css_fetches(text) else text


def offline_html(html, embed_image=None):
    """Return the HTML document ``html`` with nothing left that a browser
    would load from elsewhere, as a string.

    ``data:`` URIs stay. An ``<img>`` whose ``src`` ``embed_image(src)``
    turns into a ``data:`` URI gets that URI; any other image is removed
    and leaves its alt text. Elements that load something (``link``,
    ``iframe``, ``object``, ``embed``, ``script``, ``video``...) and
    attributes that hold an address (``background``, ``srcset``,
    ``xlink:href``...) are removed; so is every CSS ``url()`` that is not a
    ``data:`` URI, in ``<style>`` and in attributes. Only ``<a href>``
    stays: a link in a PDF is not loaded.
    """
    parser = lxml_html.HTMLParser(huge_tree=True, remove_comments=True, remove_pis=True)
    document = lxml_html.document_fromstring(str(html), parser=parser)
    for element in list(document.iter()):
        if not isinstance(element.tag, str):  # entities and the like
            element.drop_tree()
            continue
        tag = element.tag.lower().rpartition(":")[2]
        attributes = {name.lower(): name for name in element.attrib}
        if tag in FETCHING_ELEMENTS:
            element.drop_tree()
            continue
        if tag in FETCHING_VOID_ELEMENTS or (
            tag == "meta" and "http-equiv" in attributes
        ):
            element.drop_tag()
            continue
        if tag == "style":
            _offline_style_element(element)
        for key, name in attributes.items():
            if (tag, key) in (("a", "href"), ("img", "src")):
                continue
            value = element.attrib[name]
            if key in URL_ATTRIBUTES or key.endswith(("src", "href")):
                del element.attrib[name]
            elif key == "style":
                css = offline_css(value)
                if css is None:
                    del element.attrib[name]
                elif css != value:
                    element.attrib[name] = css
            elif _css_fetches(value):  # SVG's fill="url(...)", cursor...
                del element.attrib[name]
        if tag == "img" and "src" in attributes:
            _offline_image(element, attributes["src"], embed_image)
    doctype = document.getroottree().docinfo.doctype
    return lxml_html.tostring(
        document, encoding="unicode", method="html", doctype=doctype or None
    )


def offline_fragment(html, embed_image=None):
    """:func:`offline_html` for a part of a document (what goes inside a
    ``<body>``, e.g. the pages Odoo's report engine puts into its layout)."""
    parser = lxml_html.HTMLParser(huge_tree=True)
    document = lxml_html.document_fromstring(
        offline_html(f"<html><body>{html}</body></html>", embed_image), parser=parser
    )
    body = document.find("body")
    return str(escape(body.text or "")) + "".join(
        lxml_html.tostring(child, encoding="unicode", method="html") for child in body
    )


def _offline_style_element(element):
    for child in element:
        child.drop_tree()
    css = offline_css(element.text or "") or ""
    # the text of a <style> is written as it is: no "<" may end it early
    element.text = css.replace("<", "\\3c ")


def _offline_image(element, name, embed_image):
    src = element.attrib[name]
    if _is_data_uri(src):
        return
    data_uri = embed_image(src) if embed_image else None
    if data_uri and _is_data_uri(data_uri):
        element.attrib[name] = data_uri
        return
    alt = (element.get("alt") or "").strip()
    element.tail = f"{alt}{element.tail or ''}"
    element.drop_tree()


def _origin(url):
    parts = urlsplit(url or "")
    return parts.scheme.lower(), parts.netloc.lower()


class AttachmentImages:
    """Turns the address of an image attachment of this database into a
    ``data:`` URI, for :func:`offline_html`.

    The address is ``/web/image/<id>...`` or ``/web/content/<id>...``, alone
    or after the server's own base URL. The attachment is read as the user
    of ``env`` (never as superuser): an attachment that user may not read,
    or that is no image, gives ``None``.
    """

    PATH_RE = re.compile(r"/web/(?:image|content)/(\d+)(?:[-/][^?#]*)?")
    MIMETYPES = frozenset(
        {
            "image/bmp",
            "image/gif",
            "image/jpeg",
            "image/png",
            "image/svg+xml",
            "image/webp",
        }
    )

    def __init__(self, env, base_urls=()):
        self.env = env(su=False)
        self.origins = {_origin(url) for url in base_urls if url}
        self._data_uris = {}

    @classmethod
    def for_record(cls, record):
        """The images ``record``'s user may read; addresses after the base
        URL of ``record`` or of the database are local."""
        base_urls = {
            record.get_base_url(),
            record.env["ir.config_parameter"].sudo().get_param("web.base.url"),
        }
        return cls(record.env, base_urls)

    def attachment_id(self, src):
        """The id of the attachment ``src`` addresses on this server, or
        ``None``."""
        try:
            url = urlsplit((src or "").strip())
        except ValueError:
            return None
        if (url.scheme or url.netloc) and _origin(src.strip()) not in self.origins:
            return None
        match = self.PATH_RE.fullmatch(url.path)
        return int(match.group(1)) if match else None

    def __call__(self, src):
        attachment_id = self.attachment_id(src)
        if attachment_id is None:
            return None
        if attachment_id not in self._data_uris:
            self._data_uris[attachment_id] = self._data_uri(attachment_id)
        return self._data_uris[attachment_id]

    def _data_uri(self, attachment_id):
        attachment = self.env["ir.attachment"].browse(attachment_id)
        try:
            if not attachment.exists():
                return None
            # the access rules of the model, then those of the attached record
            attachment.check_access("read")
            attachment.check("read")
            raw = attachment.raw
        except (AccessError, MissingError):
            return None
        mimetype = guess_mimetype(raw or b"", default="")
        if not raw or mimetype not in self.MIMETYPES:
            return None
        return f"data:{mimetype};base64,{base64.b64encode(raw).decode()}"


# ----------------------------------------------------------------------
# reading what wkhtmltopdf printed
# ----------------------------------------------------------------------


def _resolve(obj):
    return obj.get_object() if isinstance(obj, generic.IndirectObject) else obj


def _raw_items(dictionary):
    """Items of a PDF dictionary without resolving indirect references."""
    return dict.items(dictionary)


def _page_tree(reader, objects=None):
    """The pages of ``reader`` in order, each with the inheritable
    attributes of its ancestors: ``[(page dict, {key: value})]``. ``objects``:
    the same PDF as :class:`_RawObjects`, to read the nodes faster."""
    inheritable = ("/Resources", "/MediaBox", "/CropBox", "/Rotate")
    pages = []
    root = dict.__getitem__(_resolve(reader.trailer["/Root"]), "/Pages")
    stack = [(root, {})]
    while stack:
        node, inherited = stack.pop()
        value = None
        if objects is not None and isinstance(node, generic.IndirectObject):
            value = objects.value(node.idnum, node.generation, reader)
        node = _resolve(node) if value is None else value
        raw = dict(_raw_items(node))
        if raw.get("/Type") == "/Pages" or "/Kids" in raw:
            inherited = dict(inherited)
            inherited.update({key: raw[key] for key in inheritable if key in raw})
            kids = list(_resolve(raw["/Kids"]))
            stack.extend((kid, inherited) for kid in reversed(kids))
        else:
            pages.append((node, inherited))
    return pages


@functools.lru_cache(maxsize=4096)
def _name_bytes(name):
    """A PDF name as written (PyPDF2 writes one character at a time)."""
    return generic.NameObject(name).renumber()


def _write_name(name, buffer):
    buffer.write(_name_bytes(str(name)))


def _stream_data(stream):
    getter = getattr(stream, "get_data", None) or stream.getData
    return getter()


def _page_content(page, objects=None, reader=None):
    """The decoded contents of ``page``; ``objects``: its PDF (read by
    ``reader``) as :class:`_RawObjects`, to read unfiltered and Flate
    streams faster."""
    contents = dict(_raw_items(page)).get("/Contents")
    if objects is not None and isinstance(contents, generic.IndirectObject):
        array = objects.value(contents.idnum, contents.generation, reader)
        if array is None:  # a stream, or left to PyPDF2
            return _content_data(contents, objects)
        if isinstance(array, generic.ArrayObject):
            contents = array
    contents = _resolve(contents)
    if contents is None:
        return b""
    if isinstance(contents, generic.ArrayObject):
        return b"\n".join(_content_data(part, objects) for part in contents)
    return _content_data(contents, objects)


def _content_data(stream, objects):
    """The decoded data of ``stream`` (or a reference to it)."""
    if objects is not None and isinstance(stream, generic.IndirectObject):
        raw = objects.value(stream.idnum, stream.generation, stream.pdf, stream=True)
        if raw is not None:
            dictionary, data = raw
            filters = dictionary.get("/Filter")
            if filters is None and "/DecodeParms" not in dictionary:
                return data
            if filters == "/FlateDecode" and "/DecodeParms" not in dictionary:
                with contextlib.suppress(zlib.error):
                    return zlib.decompress(data)
    return _stream_data(_resolve(stream))


def letter_starts(pdf):
    """Return ``(page count, [index of the first page of each letter])``."""
    reader = PdfFileReader(io.BytesIO(pdf), strict=False)
    starts = []
    objects = _RawObjects.from_pdf(pdf)
    pages = _page_tree(reader, objects)
    for index, (page, _inherited) in enumerate(pages):
        content = _page_content(page, objects, reader)
        # every match holds ".00392": the regex only runs from its first
        # occurrence on (the same matches, without scanning the whole page)
        first = content.find(b".00392")
        if first < 0:
            continue
        for match in _MARKER_RE.finditer(content, max(first - 1, 0)):
            rgb = tuple(round(float(value) * 255) for value in match.groups())
            if rgb == MARKER_RGB:
                starts.append(index)
                break
    return len(pages), starts


# ----------------------------------------------------------------------
# copying objects as they are written (no parsing by PyPDF2)
# ----------------------------------------------------------------------

_DELIMITERS = rb"()<>\[\]{}/%"
# a token after optional white space (not a token of its own: half the
# matches)
_RAW_TOKEN_RE = re.compile(
    rb"\s*(?:(?P<ref>(?P<num>\d+)\s+(?P<gen>\d+)\s+R)(?=[\s" + _DELIMITERS + rb"]|\Z)"
    rb"|(?P<number>[+-]?(?:\d+\.?\d*|\.\d+))"
    rb"|(?P<open><<|\[)"
    rb"|(?P<close>>>|\])"
    rb"|(?P<hex><[0-9A-Fa-f\s]*>)"
    rb"|(?P<name>/[^\s" + _DELIMITERS + rb"]*)"
    rb"|(?P<string>\()"
    rb"|(?P<comment>%[^\r\n]*)"
    rb"|(?P<keyword>[A-Za-z]+))"
)
_RAW_HEADER_RE = re.compile(rb"\s*(\d+)\s+(\d+)\s+obj\b")
_STRING_CHAR_RE = re.compile(rb"[()\\]")
_XREF_SECTION_RE = re.compile(rb"(\d+)\s+(\d+)\s*[\r\n]+")


class _RawObjects:
    """The objects of a PDF with one classic cross-reference table, read as
    bytes: :meth:`renumbered` gives an object's bytes with its references
    renumbered and a stream's data as it is (neither decoded nor written
    again), :meth:`value` a node of the page tree. ``None`` from them (or
    from :meth:`from_pdf`) means "read this one with PyPDF2": anything
    unusual (strings in a node, a damaged object, cross-reference streams,
    incremental updates, encryption) is left to it."""

    def __init__(self, data, offsets):
        self.data = data
        self.offsets = offsets

    @classmethod
    def from_pdf(cls, data):
        try:
            tail = data[-1024:]
            at = tail.rfind(b"startxref")
            if at < 0:
                return None
            start = int(tail[at + 9 :].split()[0])
            if data[start : start + 4] != b"xref":
                return None
            position = start + 4
            while data[position : position + 1] in b" \r\n\t":
                position += 1
            offsets = {}
            while True:
                match = _XREF_SECTION_RE.match(data, position)
                if not match:
                    break
                first, count = int(match.group(1)), int(match.group(2))
                position = match.end()
                for number in range(first, first + count):
                    entry = data[position : position + 20]
                    fields = entry.split()
                    if len(fields) != 3 or len(entry) != 20:
                        return None
                    if fields[2] == b"n":
                        offsets[number] = (int(fields[0]), int(fields[1]))
                    position += 20
            if data[position : position + 7] != b"trailer":
                return None
            trailer_end = data.find(b"startxref", position)
            trailer = data[position + 7 : trailer_end]
            if any(key in trailer for key in (b"/Prev", b"/XRefStm", b"/Encrypt")):
                return None
        except (ValueError, IndexError):
            return None
        return cls(data, offsets)

    def _tokens(self, position):
        """The tokens of the object from ``position`` to its end (``stream``
        or ``endobj`` outside of any dictionary or array), as ``(kind,
        match)``; strings as ``("string", (start, end))``."""
        data = self.data
        depth = 0
        while True:
            match = _RAW_TOKEN_RE.match(data, position)
            if not match:
                raise ValueError("unexpected byte")
            kind = match.lastgroup  # "ref" for a reference (the outer group)
            if kind == "string":
                end = _string_end(data, match.end())
                yield "string", (position, end)
                position = end
                continue
            position = match.end()
            if kind == "open":
                depth += 1
            elif kind == "close":
                depth -= 1
                if depth < 0:
                    raise ValueError("unbalanced")
            elif kind == "keyword" and depth == 0:
                if match.group(kind) in (b"stream", b"endobj"):
                    yield kind, match
                    return
                if match.group(kind) == b"obj":  # the next object: no endobj
                    raise ValueError("object without its end")
            yield kind, match

    def renumbered(self, number, generation, reference):
        """The body of object ``number`` with its references renumbered by
        ``reference((number, generation))``, or ``None``."""
        entry = self.offsets.get(number)
        if entry is None or entry[1] != generation:
            return None
        data = self.data
        try:
            header = _RAW_HEADER_RE.match(data, entry[0])
            if (
                not header
                or int(header.group(1)) != number
                or int(header.group(2)) != generation
            ):
                return None
            out = []
            last = header.end()
            depth = 0
            after_length = False
            length = length_span = None
            refs = []
            for kind, match in self._tokens(header.end()):
                if kind == "string":
                    after_length = False
                    continue
                if kind == "comment":
                    continue
                if kind == "open":
                    depth += 1
                elif kind == "close":
                    depth -= 1
                if after_length and depth == 1:
                    if kind == "number":
                        length = int(match.group(kind))
                        length_span = None
                    elif kind == "ref":
                        length = self._integer(
                            int(match.group("num")), int(match.group("gen"))
                        )
                        length_span = match.span(kind)
                after_length = (
                    kind == "name" and depth == 1 and (match.group(kind) == b"/Length")
                )
                if kind == "ref":
                    refs.append(match)
                if kind == "keyword" and match.group(kind) in (b"stream", b"endobj"):
                    end_keyword = match
                    break
            else:  # pragma: no cover
                return None
            body_end = end_keyword.start("keyword")
            for match in refs:
                out.append(data[last : match.start("ref")])
                if match.span("ref") == length_span:
                    out.append(b"%d" % length)
                else:
                    key = (int(match.group("num")), int(match.group("gen")))
                    out.append(b"%d 0 R" % reference(key))
                last = match.end("ref")
            out.append(data[last:body_end])
            body = b"".join(out).strip()
            if end_keyword.group("keyword") == b"endobj":
                return body
            if length is None or length < 0:
                return None
            span = _stream_span(data, end_keyword.end(), length)
            if span is None:
                return None
            return b"%s\nstream\n%s\nendstream" % (body, data[span[0] : span[1]])
        except (ValueError, IndexError):
            return None

    def value(self, number, generation, reader, stream=False):
        """Object ``number`` (a node of the page tree) as PyPDF2 reads it,
        when it holds only dictionaries, arrays, names, numbers, booleans,
        null and references; else ``None``. ``stream``: the object is a
        stream, returned as ``(dictionary, data as written)``."""
        entry = self.offsets.get(number)
        if entry is None or entry[1] != generation:
            return None
        try:
            header = _RAW_HEADER_RE.match(self.data, entry[0])
            if (
                not header
                or int(header.group(1)) != number
                or int(header.group(2)) != generation
            ):
                return None
            stack = [[]]
            for kind, match in self._tokens(header.end()):
                if kind == "comment":
                    continue
                token = match.group(kind) if kind != "string" else None
                if kind == "keyword" and token == b"endobj" and not stream:
                    break
                if kind == "keyword" and token == b"stream" and stream:
                    return self._stream(stack, match, reader)
                if kind == "open":
                    stack.append([token])
                    continue
                if kind == "close":
                    items = stack.pop()
                    opening = items.pop(0)
                    if opening == b"[" and token == b"]":
                        value = generic.ArrayObject(items)
                    elif opening == b"<<" and token == b">>" and len(items) % 2 == 0:
                        value = generic.DictionaryObject()
                        for key, item in zip(items[::2], items[1::2], strict=True):
                            if not isinstance(key, generic.NameObject):
                                return None
                            value[key] = item
                    else:
                        return None
                elif kind == "ref":
                    value = generic.IndirectObject(
                        int(match.group("num")), int(match.group("gen")), reader
                    )
                elif kind == "number":
                    value = (
                        generic.NumberObject(token)
                        if token.lstrip(b"+-").isdigit()
                        else generic.FloatObject(token.decode())
                    )
                elif kind == "name" and b"#" not in token:
                    value = generic.NameObject(token.decode("ascii"))
                elif kind == "keyword" and token in (b"true", b"false"):
                    value = generic.BooleanObject(token == b"true")
                elif kind == "keyword" and token == b"null":
                    value = generic.NullObject()
                else:  # strings, streams, escaped names: PyPDF2 reads them
                    return None
                stack[-1].append(value)
            if len(stack) != 1 or len(stack[0]) != 1:
                return None
            return stack[0][0]
        except (ValueError, IndexError, UnicodeDecodeError):
            return None

    def _stream(self, stack, keyword, reader):
        """``(dictionary, data)`` of a stream whose dictionary is parsed in
        ``stack`` and whose keyword ``stream`` is ``keyword``."""
        if len(stack) != 1 or len(stack[0]) != 1:
            return None
        dictionary = stack[0][0]
        if not isinstance(dictionary, generic.DictionaryObject):
            return None
        length = dictionary.get("/Length")
        if isinstance(length, generic.IndirectObject):
            length = self._integer(length.idnum, length.generation)
        if not isinstance(length, int) or length < 0:
            return None
        span = _stream_span(self.data, keyword.end(), length)
        if span is None:
            return None
        return dictionary, self.data[span[0] : span[1]]

    def _integer(self, number, generation):
        entry = self.offsets.get(number)
        if entry is None or entry[1] != generation:
            raise ValueError("no length")
        header = _RAW_HEADER_RE.match(self.data, entry[0])
        if not header or int(header.group(1)) != number:
            raise ValueError("no length")
        end = self.data.index(b"endobj", header.end())
        return int(self.data[header.end() : end].strip())


def _string_end(data, position):
    """The end of a literal string whose ``(`` ends before ``position``."""
    depth = 1
    while depth:
        match = _STRING_CHAR_RE.search(data, position)
        if not match:
            raise ValueError("unterminated string")
        char = match.group()
        position = match.end()
        if char == b"\\":
            position += 1
        elif char == b"(":
            depth += 1
        else:
            depth -= 1
    return position


# ----------------------------------------------------------------------
# writing one document
# ----------------------------------------------------------------------


class PdfPages:
    """A PDF read once, whose pages :meth:`PdfAssembler.add_pdf` can append
    in runs and more than once.

    Raises :class:`InvalidPdfError` when the PDF reader of Odoo cannot read
    it, or it is encrypted (its objects could not be copied as they are).
    """

    def __init__(self, pdf):
        try:
            reader = PdfFileReader(io.BytesIO(pdf), strict=False)
            encrypted = getattr(reader, "is_encrypted", None)
            if encrypted is None:
                encrypted = reader.isEncrypted
            if encrypted:
                raise InvalidPdfError("the PDF is encrypted")
            self.raw = _RawObjects.from_pdf(pdf)
            self.pages = _page_tree(reader, self.raw)
        except InvalidPdfError:
            raise
        except Exception as error:
            # whatever the reader raises on a damaged file
            raise InvalidPdfError(str(error) or type(error).__name__) from error
        self.reader = reader

    def __len__(self):
        return len(self.pages)


class PdfAssembler:
    """Write the pages of several PDFs into one PDF file, in one pass.

    Optionally a short line of text (a page number) is stamped at a position
    on a page. Only the objects the pages use are copied; each part keeps its
    own fonts.
    """

    STAMP_FONT = b"/SCPageNo"

    def __init__(self, out, title=None):
        self.out = out
        self.offsets = {}
        self.page_ids = []
        self.next_id = 3  # 1: catalog, 2: page tree
        self.font_id = None
        self.title = title
        # the objects already copied from each PdfPages: {source: {key: id}}
        self._mappings = {}
        out.write(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")

    def _new_id(self):
        object_id = self.next_id
        self.next_id += 1
        return object_id

    def _write_object(self, object_id, body):
        self.offsets[object_id] = self.out.tell()
        self.out.write(b"%d 0 obj\n" % object_id)
        self.out.write(body)
        self.out.write(b"\nendobj\n")

    def add_pdf(self, pdf, stamps=None, pages=None):
        """Append the pages of ``pdf`` (bytes, or a :class:`PdfPages` read
        once); ``stamps`` maps a page index to ``(text, x_pt, y_pt)`` (right
        end of the text, from the bottom left). ``pages``: the indexes of the
        pages to append, in order (default: all). The objects of a
        :class:`PdfPages` added more than once (a flyer after every letter)
        are written once and shared by its copies of the pages.
        Returns the number of pages added."""
        stamps = stamps or {}
        if isinstance(pdf, PdfPages):
            source = pdf
            mapping = self._mappings.setdefault(source, {})
        else:
            source = PdfPages(pdf)
            mapping = {}
        queue = []

        def reference(indirect):
            if isinstance(indirect, tuple):  # from a raw copy
                key = indirect
            else:
                key = (indirect.idnum, indirect.generation)
            if key not in mapping:
                mapping[key] = self._new_id()
                queue.append((mapping[key], key))
            return mapping[key]

        indexes = range(len(source.pages)) if pages is None else pages
        for index in indexes:
            page, inherited = source.pages[index]
            values = dict(inherited)
            values.update(
                (key, value) for key, value in _raw_items(page) if key != "/Parent"
            )
            if index in stamps:
                self._stamp(values, *stamps[index])
            buffer = io.BytesIO()
            buffer.write(b"<<\n/Parent 2 0 R\n")
            for key, value in values.items():
                _write_name(key, buffer)
                buffer.write(b" ")
                self._serialize(value, buffer, reference)
                buffer.write(b"\n")
            buffer.write(b">>")
            page_id = self._new_id()
            self.page_ids.append(page_id)
            self._write_object(page_id, buffer.getvalue())
            # copy what the page refers to, depth first, before the next page
            while queue:
                object_id, key = queue.pop()
                # as written in the source (references renumbered, streams
                # as they are), else read and written again by PyPDF2
                body = source.raw.renumbered(*key, reference) if source.raw else None
                if body is None:
                    buffer = io.BytesIO()
                    indirect = generic.IndirectObject(*key, source.reader)
                    self._serialize(_resolve(indirect), buffer, reference)
                    body = buffer.getvalue()
                self._write_object(object_id, body)
        return len(indexes)

    def _stamp(self, values, text, x_pt, y_pt):
        """Draw ``text`` right-aligned at ``(x_pt, y_pt)`` on top of the page
        (in Helvetica, a standard font every PDF reader has)."""
        if self.font_id is None:
            self.font_id = self._new_id()
            self._write_object(
                self.font_id,
                b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica "
                b"/Encoding /WinAnsiEncoding >>",
            )
        try:
            encoded = text.encode("cp1252")
        except UnicodeEncodeError:
            encoded = re.sub(r"[^0-9 /]", "", text).strip().encode("cp1252")
        size = 8
        width = _helvetica_width(encoded, size)
        escaped = (
            encoded.replace(b"\\", b"\\\\").replace(b"(", b"\\(").replace(b")", b"\\)")
        )
        before = self._new_id()
        self._write_object(before, _stream(b"q"))
        after = self._new_id()
        self._write_object(
            after,
            _stream(
                b"Q q BT %s %d Tf 0 g 1 0 0 1 %.2f %.2f Tm (%s) Tj ET Q"
                % (self.STAMP_FONT, size, x_pt - width, y_pt, escaped)
            ),
        )
        contents = values.get("/Contents")
        resolved = _resolve(contents)
        parts = (
            list(resolved) if isinstance(resolved, generic.ArrayObject) else [contents]
        )
        values["/Contents"] = _Direct(b"[%d 0 R " % before, parts, b" %d 0 R]" % after)
        resources = _resolve(values.get("/Resources"))
        resources = dict(_raw_items(resources)) if resources is not None else {}
        fonts = _resolve(resources.get("/Font"))
        fonts = dict(_raw_items(fonts)) if fonts is not None else {}
        fonts[self.STAMP_FONT.decode()] = _Reference(self.font_id)
        resources["/Font"] = fonts
        values["/Resources"] = resources

    def _serialize(self, obj, buffer, reference):
        if isinstance(obj, generic.IndirectObject):
            buffer.write(b"%d 0 R" % reference(obj))
        elif isinstance(obj, _Reference):
            buffer.write(b"%d 0 R" % obj.object_id)
        elif isinstance(obj, _Direct):
            buffer.write(obj.prefix)
            for part in obj.parts:
                buffer.write(b" ")
                self._serialize(part, buffer, reference)
            buffer.write(obj.suffix)
        elif isinstance(obj, generic.StreamObject):
            data = obj._data
            buffer.write(b"<<\n")
            for key, value in _raw_items(obj):
                if key == "/Length":
                    continue
                _write_name(key, buffer)
                buffer.write(b" ")
                self._serialize(value, buffer, reference)
                buffer.write(b"\n")
            buffer.write(b"/Length %d\n>>\nstream\n" % len(data))
            buffer.write(data)
            buffer.write(b"\nendstream")
        elif isinstance(obj, dict):
            buffer.write(b"<<\n")
            for key, value in _raw_items(obj):
                _write_name(key, buffer)
                buffer.write(b" ")
                self._serialize(value, buffer, reference)
                buffer.write(b"\n")
            buffer.write(b">>")
        elif isinstance(obj, list):
            buffer.write(b"[")
            for value in list.__iter__(obj):
                buffer.write(b" ")
                self._serialize(value, buffer, reference)
            buffer.write(b" ]")
        elif isinstance(obj, generic.NameObject):
            _write_name(obj, buffer)
        else:
            obj.write_to_stream(buffer, None)

    def close(self):
        """Write the page tree, the catalog, the cross-reference table and
        the trailer."""
        kids = b" ".join(b"%d 0 R" % page_id for page_id in self.page_ids)
        self._write_object(
            2,
            b"<< /Type /Pages /Count %d /Kids [%s] >>" % (len(self.page_ids), kids),
        )
        self._write_object(1, b"<< /Type /Catalog /Pages 2 0 R >>")
        info_id = self._new_id()
        info = b"<< /Producer (Odoo serial_correspondence) /Creator (Odoo)"
        if self.title:
            info += b" /Title " + _pdf_text(self.title)
        self._write_object(info_id, info + b" >>")
        xref = self.out.tell()
        size = self.next_id
        self.out.write(b"xref\n0 %d\n0000000000 65535 f \n" % size)
        for object_id in range(1, size):
            # ids handed out but never written (none today) stay free entries
            offset = self.offsets.get(object_id)
            if offset is None:
                self.out.write(b"0000000000 65535 f \n")
            else:
                self.out.write(b"%010d 00000 n \n" % offset)
        self.out.write(
            b"trailer\n<< /Size %d /Root 1 0 R /Info %d 0 R >>\n"
            b"startxref\n%d\n%%%%EOF\n" % (size, info_id, xref)
        )
        return len(self.page_ids)


class _Reference:
    """A reference to an object this assembler wrote itself."""

    __slots__ = ("object_id",)

    def __init__(self, object_id):
        self.object_id = object_id


class _Direct:
    """A direct array written as ``prefix parts... suffix``."""

    __slots__ = ("parts", "prefix", "suffix")

    def __init__(self, prefix, parts, suffix):
        self.prefix, self.parts, self.suffix = prefix, parts, suffix


def _stream_span(data, after_keyword, length):
    """Where the data of a stream is in ``data``: from the end of line that
    follows its ``stream`` keyword (which ends at ``after_keyword``),
    ``length`` bytes, followed by ``endstream``; None when the file is not
    written so."""
    start = after_keyword
    if data[start : start + 2] == b"\r\n":
        start += 2
    elif data[start : start + 1] == b"\n":
        start += 1
    else:
        return None
    end = start + length
    if not data[end : end + 32].lstrip().startswith(b"endstream"):
        return None
    return start, end


def _stream(data):
    compressed = zlib.compress(data)
    return (
        b"<< /Length %d /Filter /FlateDecode >>\nstream\n" % len(compressed)
        + compressed
        + b"\nendstream"
    )


def _pdf_text(text):
    """A PDF text string (UTF-16 with BOM), as a hex string."""
    return b"<" + ("\ufeff" + text).encode("utf-16-be").hex().encode() + b">"


# Helvetica widths (1/1000 em) of the characters page numbers are made of;
# anything else counts as an average letter
_HELVETICA_WIDTHS = {
    **{chr(code): 556 for code in range(ord("0"), ord("9") + 1)},
    " ": 278,
    "/": 278,
    ".": 278,
}


def _helvetica_width(encoded, size):
    text = encoded.decode("cp1252")
    return sum(_HELVETICA_WIDTHS.get(char, 520) for char in text) * size / 1000


def read_appendix(pdfs):
    """One PDF of the PDFs ``pdfs`` (bytes), one after the other, to append
    after each letter, as a :class:`PdfPages`; each is checked to be a PDF
    whose pages can be copied (:class:`InvalidPdfError` with the index of
    the first that cannot, as ``error.args[1]``)."""
    out = io.BytesIO()
    assembler = PdfAssembler(out)
    for index, pdf in enumerate(pdfs):
        try:
            source = PdfPages(pdf)
            if not source.pages:
                raise InvalidPdfError("the PDF has no pages")
            assembler.add_pdf(source)
        except InvalidPdfError as error:
            raise InvalidPdfError(error.args[0], index) from error
        except Exception as error:
            raise InvalidPdfError(str(error) or type(error).__name__, index) from error
    assembler.close()
    return PdfPages(out.getvalue())


def append_after_each(pdf, page_counts, appendix, title=None):
    """``pdf`` (bytes: documents of ``page_counts`` pages each, one after the
    other) with the pages of ``appendix`` (a :class:`PdfPages`) after each
    document. The appendix's objects are written once, all its copies of the
    pages share them. Returns ``(pdf, page count)``."""
    out = io.BytesIO()
    assembler = PdfAssembler(out, title=title)
    source = PdfPages(pdf)
    start = 0
    for count in page_counts:
        assembler.add_pdf(source, pages=range(start, start + count))
        assembler.add_pdf(appendix)
        start += count
    if start != len(source):
        raise ValueError(f"{len(source)} pages, {start} expected")
    pages = assembler.close()
    return out.getvalue(), pages


def merge_pdfs(parts, out, title=None, stamps=None):
    """Write the PDFs ``parts`` (bytes) as one PDF to the binary file ``out``.
    ``stamps`` maps a part index to that part's stamps (see
    :meth:`PdfAssembler.add_pdf`). Returns the number of pages."""
    assembler = PdfAssembler(out, title=title)
    for index, pdf in enumerate(parts):
        assembler.add_pdf(pdf, (stamps or {}).get(index))
    return assembler.close()


def stamp_pdf(pdf, stamps, title=None):
    """Return ``pdf`` with ``stamps`` (see :meth:`PdfAssembler.add_pdf`)."""
    out = io.BytesIO()
    merge_pdfs([pdf], out, title=title, stamps={0: stamps})
    return out.getvalue()


def page_number_position():
    """Where the page number goes: right-aligned at the right text margin
    (20 mm), 10 mm above the bottom edge, in PDF points."""
    width, _height = A4_MM
    return (width - 20) * PT_PER_MM, 10 * PT_PER_MM
