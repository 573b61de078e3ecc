# Copyright 2026 serial_correspondence authors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""A template rendered for many contacts is compiled once, not per contact.

Odoo's mail rendering (``mail.render.mixin._render_template_qweb``) hands
QWeb the template's body as a new element for every record, and QWeb never
caches an element: the template is compiled to Python anew for each contact
(most of the time of rendering a batch: checking 100,000 recipients had not
finished after 75 s; compiled once per batch, it takes 21 s). While
:func:`compiled_once` is active (only around this addon's rendering of a
batch; a context variable of the running Python call, never the ORM
context), ``ir.qweb`` keeps the compiled functions of such elements for the
block, keyed by everything compiling depends on: the source, the user, the
superuser flag and the whole context (which carries the rendering options,
e.g. the restriction of a user who is not a template editor). The code is
the one Odoo compiles for each record; only the repetition goes. A template
that does not compile raises for every record, as before (nothing cached).
"""

import contextlib
import contextvars

from lxml import etree

from odoo import models

_COMPILED = contextvars.ContextVar("serial_correspondence_qweb_compiled", default=None)


@contextlib.contextmanager
def compiled_once():
    """QWeb elements rendered inside this block are compiled once each."""
    token = _COMPILED.set({})
    try:
        yield
    finally:
        _COMPILED.reset(token)


def batch_rendering():
    """Whether this addon is rendering a batch (inside :func:`compiled_once`)."""
    return _COMPILED.get() is not None


class IrQWeb(models.AbstractModel):
    _inherit = "ir.qweb"

    def _compile(self, template):
        cache = _COMPILED.get()
        if cache is None or not isinstance(template, etree._Element):
            return super()._compile(template)
        key = (
            self.env.uid,
            self.env.su,
            etree.tostring(template),
            repr(sorted(self.env.context.items(), key=lambda item: item[0])),
        )
        if key not in cache:
            cache[key] = super()._compile(template)
        return cache[key]
