# Copyright 2026 serial_correspondence authors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""Normalizing one e-mail address, fast for the plain ones.

Processing normalizes the address of every recipient (``email_normalize``
with ``strict=True``: False unless the text holds exactly one address).
Odoo's function parses the text as an address header (``email.utils``),
about a tenth of a millisecond per address: seconds for 100,000 recipients.
Most addresses are plain ASCII ``local@domain.tld`` texts, for which that
parse returns the text itself; for those the result is computed directly
(``text.lower()``, as ``_normalize_email`` lowers an ASCII address). Every
other text goes through Odoo's function unchanged, so the result is always
the one Odoo gives (``tests/test_engines.py`` compares both).
"""

import re

from odoo.tools import email_normalize

# ASCII only; dot-separated atoms of letters, digits and ``_%+-`` on each
# side of one @; at least one dot in the domain; no spaces, quotes, angle
# brackets, commas or comments: nothing the header parser would interpret
PLAIN_ADDRESS = re.compile(
    r"[A-Za-z0-9_%+-]+(?:\.[A-Za-z0-9_%+-]+)*@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+"
)


def normalize_address(text):
    """``email_normalize(text, strict=True)``, without parsing a plain
    address."""
    if text and PLAIN_ADDRESS.fullmatch(text):
        return text.lower()
    return email_normalize(text or "", strict=True)
