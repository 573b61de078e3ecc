# Copyright 2026 serial_correspondence authors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""The one way past the lock: writes made by processing itself.

Rule: nothing a client sends can switch this on. The flag is a context
variable of the running Python call, set only by :func:`processing` around
code of this addon (the workflow, the jobs). The ORM context, which every
JSON-RPC caller fills as it likes, is never asked: a context key such as
``serial_correspondence_internal`` grants nothing.

Fields that only processing sets (states, outcomes, reasons, documents and
checksums, message links, cursors, run counters, job ids, send marks) are
listed by each model (``_processing_fields``) and refused from clients on
create and write by :func:`check_client_values`.
"""

import contextlib
import contextvars

from odoo.exceptions import AccessError

_PROCESSING = contextvars.ContextVar("serial_correspondence_processing", default=False)


@contextlib.contextmanager
def processing():
    """Writes inside this block are made by processing: they pass the lock
    and may set the fields that only processing sets."""
    token = _PROCESSING.set(True)
    try:
        yield
    finally:
        _PROCESSING.reset(token)


def is_processing():
    """Whether the running code is inside :func:`processing`."""
    return _PROCESSING.get()


def forbidden_client_fields(processing_fields, vals_list):
    """The fields of ``vals_list`` that a client may not set (sorted), or an
    empty list; always empty while processing writes."""
    if is_processing():
        return []
    return sorted({name for vals in vals_list for name in vals} & processing_fields)


def check_client_values(records, vals_list):
    """Refuse values for fields that only processing sets, from clients."""
    forbidden = forbidden_client_fields(records._processing_fields(), vals_list)
    if forbidden:
        labels = ", ".join(
            records._fields[name]._description_string(records.env) for name in forbidden
        )
        raise AccessError(
            records.env._(
                "These fields are set by processing only and cannot be written: "
                "%(fields)s.",
                fields=labels,
            )
        )
