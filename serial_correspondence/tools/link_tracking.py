# Copyright 2026 serial_correspondence authors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""Open and click tracking of one e-mail body, as plain string work.

Only used when a correspondence tracks opens and clicks (``tracking_enabled``,
off by default): with tracking off, nothing here runs.

The links of a body are the ``href`` of its ``<a>`` elements, as Odoo's
mass mailing shortens them (``mailto:``, ``tel:`` and ``sms:`` left out; a
regular expression, not a parser: it runs for every recipient). Each one
that leads to a web page goes through Odoo's ``link_tracker``:
``<base>/r/<code>/sc/<recipient>/<token>`` (mass mailing's
``/r/<code>/m/<trace>``). Never rewritten: anchors and other
schemes, links that already are short links of this database, and links to
this addon's own pages (the unsubscribe link must work as it is, and must
not count as a click). The open pixel goes at the end of the body, as mass
mailing puts its own.

No model is used here: the codes of ``link.tracker`` come from the caller
(``serial.correspondence._tracked_body``), which creates them once per URL
and batch, not once per recipient.
"""

import html
import re
from urllib.parse import urlsplit

from markupsafe import Markup

from odoo.tools.mail import URL_SKIP_PROTOCOL_REGEX

# (<a ... href=, quote, value): the links mass mailing shortens
HREF = re.compile(
    rf"""(<a\b[^>]*?\bhref=)(["'])(?!{URL_SKIP_PROTOCOL_REGEX})([^"']+)\2""",
    re.IGNORECASE,
)
# this addon's own pages (unsubscribing, the tracking routes)
OWN_PATH = "/serial_correspondence/"


def trackable_url(href, base_url):
    """The absolute URL ``href`` (an attribute value, HTML-escaped) leads to,
    if its clicks are to be tracked; else None."""
    url = html.unescape(href).strip()
    if url.startswith("/") and not url.startswith("//"):
        url = base_url + url
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        return None
    if parts.path.startswith(OWN_PATH) or url.startswith(f"{base_url}/r/"):
        return None
    return url


def rewrite_links(body, base_url, known, codes, suffix):
    """``body`` with every tracked link replaced by its short link of
    ``link_tracker`` (``codes``: {URL: code}) followed by ``suffix``
    (``/sc/<recipient>/<token>``), and the URLs to track that have no code
    yet (their links are left as they are). ``known`` ({``href`` value: URL
    or None}) remembers what each ``href`` value was found to be. One pass
    over the body."""
    missing = []

    def short_link(match):
        start, quote, href = match.groups()
        if href not in known:
            known[href] = trackable_url(href, base_url)
        url = known[href]
        if not url:
            return match.group(0)
        code = codes.get(url)
        if not code:
            if url not in missing:
                missing.append(url)
            return match.group(0)
        return f"{start}{quote}{base_url}/r/{code}{suffix}{quote}"

    rewritten = HREF.sub(short_link, str(body))
    if isinstance(body, Markup):
        rewritten = Markup(rewritten)
    return rewritten, missing


def add_open_pixel(body, pixel_url):
    """``body`` with the open pixel (a 1x1 image at ``pixel_url``) at its
    end: before ``</body>`` if it has one (as ``append_content_to_html``,
    without its rewriting of every tag)."""
    html = str(body or "")
    pixel = Markup(
        '<img src="%s" alt="" width="1" height="1" '
        'style="display:block;height:1px;width:1px;border:0;"/>'
    ) % (pixel_url,)
    end = html.lower().rfind("</body")
    if end == -1:
        end = len(html)
    return Markup(html[:end]) + pixel + Markup(html[end:])
