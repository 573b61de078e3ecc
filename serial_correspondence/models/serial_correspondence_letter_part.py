# Copyright 2026 serial_correspondence authors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
import base64

from odoo import fields, models

from ..tools.label_sheets import LABEL_SHEET_SELECTION


class SerialCorrespondenceLetterPart(models.Model):
    """A printed part of a serial letter's document: the PDF of a run of
    consecutive letters (or label sheets) in sort order.

    Generating prints one part per job (letters: parts of fixed ranges of
    the sort order, printed in parallel; labels: one after the other); the
    document is the parts put together by ``sequence``, the part number.
    Editing a letter marks its part outdated: only that part is printed
    again. The parts are deleted when the document is generated anew
    and when the serial letter is finalized (the document is kept).
    """

    _name = "serial.correspondence.letter.part"
    _description = "Serial Letter Document Part"
    _order = "correspondence_id, sequence"

    correspondence_id = fields.Many2one(
        "serial.correspondence", required=True, ondelete="cascade", index=True
    )
    sequence = fields.Integer(required=True)
    output = fields.Selection(
        [("letters", "Letters"), ("labels", "Address labels")], required=True
    )
    label_sheet = fields.Selection(LABEL_SHEET_SELECTION)
    # the letters of the part: the created recipients in this range of
    # positions (see serial.correspondence.recipient.letter_sequence)
    first_sequence = fields.Integer(required=True)
    last_sequence = fields.Integer(required=True)
    pdf = fields.Binary(attachment=True)
    page_count = fields.Integer()
    letter_count = fields.Integer()
    outdated = fields.Boolean(
        help="A letter of this part was edited after it was printed."
    )

    _sql_constraints = [
        (
            "sequence_uniq",
            "unique (correspondence_id, sequence)",
            "A part of the document is printed once.",
        ),
    ]

    def _recipients(self, env):
        """The recipients whose letters (or labels) this part prints, in
        order, in ``env`` (a part itself is read with sudo())."""
        self.ensure_one()
        return env["serial.correspondence.recipient"].search(
            [
                ("correspondence_id", "=", self.correspondence_id.id),
                ("state", "=", "created"),
                ("letter_sequence", ">=", self.first_sequence),
                ("letter_sequence", "<=", self.last_sequence),
            ],
            order="letter_sequence, id",
        )

    def _pdf_bytes(self):
        self.ensure_one()
        return base64.b64decode(self.with_context(bin_size=False).pdf or b"")
