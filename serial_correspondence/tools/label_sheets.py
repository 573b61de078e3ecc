# Copyright 2026 serial_correspondence authors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""Label sheets for address labels, all on A4 (measures in mm, from the
manufacturers' data sheets).

:data:`LABEL_SHEETS` is the only place a sheet is defined: its geometry and
the label users choose it by. The choices of the ``label_sheet`` fields
(:data:`LABEL_SHEET_SELECTION`) are derived from it, so a sheet can be
neither printed without being offered nor offered without being printable.
The labels stay literal strings here: Odoo translates them as the values of
the selection fields (``ir.model.fields.selection``).
"""

from typing import NamedTuple


class LabelSheet(NamedTuple):
    label: str  # what the user chooses (the selection label)
    columns: int
    rows: int
    width: float  # of one label
    height: float
    top: float  # from the top edge of the sheet to the first row
    left: float  # from the left edge of the sheet to the first column
    pitch_x: float  # from the left edge of a label to the next one's
    pitch_y: float
    padding_x: float = 5.0  # where the text starts inside a label
    padding_y: float = 4.0

    @property
    def per_sheet(self):
        return self.columns * self.rows

    def position(self, index):
        """(top, left) in mm of label ``index`` (0-based) on its sheet."""
        row, column = divmod(index % self.per_sheet, self.columns)
        return self.top + row * self.pitch_y, self.left + column * self.pitch_x


LABEL_SHEETS = {
    # 3 x 8, no margins left and right
    "avery_3474": LabelSheet(
        label="Avery Zweckform 3474 (70 x 37 mm, 24 per sheet)",
        columns=3,
        rows=8,
        width=70.0,
        height=37.0,
        top=0.5,
        left=0.0,
        pitch_x=70.0,
        pitch_y=37.0,
    ),
    "avery_3490": LabelSheet(
        label="Avery Zweckform 3490 (70 x 36 mm, 24 per sheet)",
        columns=3,
        rows=8,
        width=70.0,
        height=36.0,
        top=4.5,
        left=0.0,
        pitch_x=70.0,
        pitch_y=36.0,
    ),
    # 2 x 7 with a gap of 2.5 mm between the columns
    "avery_l7163": LabelSheet(
        label="Avery L7163 (99.1 x 38.1 mm, 14 per sheet)",
        columns=2,
        rows=7,
        width=99.1,
        height=38.1,
        top=15.15,
        left=4.65,
        pitch_x=101.6,
        pitch_y=38.1,
    ),
}

#: the choices of the ``label_sheet`` fields, in the order of the table
LABEL_SHEET_SELECTION = [(code, sheet.label) for code, sheet in LABEL_SHEETS.items()]
