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

*Check recipients* needs to know for whom the template renders, not the
texts: inside :func:`texts_not_needed` (a context variable of the running
Python call, never the ORM context) the links are left as rendered. That step
only rewrites the links of a text already rendered; it decides nothing about
a contact.
"""

import contextlib
import contextvars

from odoo import api, models

from .ir_qweb import batch_rendering

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
