# Copyright 2026 serial_correspondence authors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""After rendering a batch: the links of the texts, once per batch.

After rendering, Odoo makes the local links of each contact's text absolute
(``_render_template_postprocess``), asking every record for its base URL:
for the contacts that is the system parameter ``web.base.url`` unless an
addon overrides ``get_base_url`` (``website`` does). Inside this addon's
batch rendering (:func:`..models.ir_qweb.compiled_once`) and only when the
model keeps Odoo's own ``get_base_url``, the URL is read once for the batch
and each text gets exactly what Odoo would give it; otherwise Odoo's code
runs unchanged.

A template of plain placeholders (``<t t-out="object.name"/>``) is rendered
by Odoo without QWeb (``_render_template_qweb_regex``), normalizing the
template's HTML again for every contact: a third of rendering. Inside a
batch it is normalized as often as Odoo would need it for the first two
contacts only, as long as normalizing no longer changes it (normalizing the
normalized HTML again gives the same text); the placeholders are filled in
exactly as Odoo fills them in.

*Check recipients* needs to know for whom the template renders, not the
texts: inside :func:`texts_not_needed` (a context variable of the running
Python call, never the ORM context) the links are left as rendered. That step
only rewrites the links of a text already rendered; it decides nothing about
a contact.
"""

import contextlib
import contextvars
import re
from functools import reduce

from markupsafe import Markup, escape

from odoo import api, models
from odoo.tools.mail import html_normalize

from .ir_qweb import batch_rendering

# Odoo's placeholder of the regex rendering (mail_render_mixin.py, 18.0)
PLACEHOLDER = re.compile(
    r"""<(\w+)[\s|\n]+t-out=[\s|\n]*(\'|\")((\w|\.)+)(\2)[\s|\n]*"""
    r"""((\/>)|(>[\s|\n]*([^<>]*?))[\s|\n]*<\/\1>)""",
    re.DOTALL,
)


def normalized_for_regex(template_src):
    """``[once, twice]``: the template as Odoo's regex rendering fills it in
    for the first contact of a batch (normalized once) and for the others
    (twice; Odoo's loop gives the n-th contact the template normalized n
    times); None when normalizing it again still changes it."""
    once = html_normalize(f"<div>{template_src}</div>")
    twice = html_normalize(f"<div>{once}</div>")
    if html_normalize(f"<div>{twice}</div>") != twice:
        return None
    return [once, twice]


_TEXTS_NOT_NEEDED = contextvars.ContextVar(
    "serial_correspondence_texts_not_needed", default=False
)


@contextlib.contextmanager
def texts_not_needed():
    """Rendering inside this block only tells whether it succeeds."""
    token = _TEXTS_NOT_NEEDED.set(True)
    try:
        yield
    finally:
        _TEXTS_NOT_NEEDED.reset(token)


class MailRenderMixin(models.AbstractModel):
    _inherit = "mail.render.mixin"

    @api.model
    def _render_template_postprocess(self, model, rendered):
        if batch_rendering() and _TEXTS_NOT_NEEDED.get():
            return rendered
        if not (
            batch_rendering()
            and model
            and type(self.env[model]).get_base_url is models.BaseModel.get_base_url
        ):
            return super()._render_template_postprocess(model, rendered)
        base_url = self.env[model].get_base_url()
        for res_id, rendered_html in rendered.items():
            rendered[res_id] = self._replace_local_links(rendered_html, base_url)
        return rendered

    @api.model
    def _render_template_qweb_regex(self, template_src, model, res_ids):
        """Odoo's rendering without QWeb, with the template normalized once
        per batch (see above); outside a batch, Odoo's own."""
        if not batch_rendering() or len(res_ids) < 3:
            return super()._render_template_qweb_regex(template_src, model, res_ids)
        normalized = normalized_for_regex(template_src)
        if normalized is None:
            return super()._render_template_qweb_regex(template_src, model, res_ids)
        allowed = self.env["ir.qweb"]._is_expression_allowed
        result = {}
        for number, record in enumerate(self.env[model].browse(res_ids)):

            def replace(match, record=record):
                # as Odoo's ``replace`` in _render_template_qweb_regex
                tag = match.group(1)
                expr = match.group(3)
                default = match.group(9)
                if not allowed(expr, model):
                    raise SyntaxError(f"Invalid expression for the regex mode {expr!r}")
                try:
                    value = (
                        reduce(
                            lambda rec, field: rec[field], expr.split(".")[1:], record
                        )
                        or default
                    )
                except KeyError:
                    value = default
                value = escape(value or "")
                return value if tag.lower() == "t" else f"<{tag}>{value}</{tag}>"

            result[record.id] = Markup(
                PLACEHOLDER.sub(replace, normalized[min(number, 1)])
            )
        return result
