# Copyright 2026 serial_correspondence authors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""The result of *Check recipients* on each recipient (set by the check
only: see ``serial_correspondence_check.py``)."""

from odoo import fields, models

CHECK_STATES = [
    ("ok", "OK"),
    ("excluded", "Excluded"),
    ("error", "Error"),
]


class SerialCorrespondenceRecipient(models.Model):
    _inherit = "serial.correspondence.recipient"

    check_state = fields.Selection(
        CHECK_STATES,
        string="Check result",
        readonly=True,
        copy=False,
        help="What processing would do with this recipient, as found by the last "
        "'Check recipients': OK (gets it, or already got it), excluded or error.",
    )
    check_reason = fields.Text(
        string="Check reason",
        readonly=True,
        translate=True,  # in every installed language (tools/texts.py)
        copy=False,
        help="Why, as processing would say it.",
    )

    def _processing_fields(self):
        return super()._processing_fields() | {"check_state", "check_reason"}
