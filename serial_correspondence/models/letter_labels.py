# Copyright 2026 serial_correspondence authors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""Label sheets for address labels, all on A4 (measures in mm, from the
manufacturers' data sheets)."""

from typing import NamedTuple


class LabelSheet(NamedTuple):
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
    "avery_3474": LabelSheet(3, 8, 70.0, 37.0, 0.5, 0.0, 70.0, 37.0),
    "avery_3490": LabelSheet(3, 8, 70.0, 36.0, 4.5, 0.0, 70.0, 36.0),
    # 2 x 7 with a gap of 2.5 mm between the columns
    "avery_l7163": LabelSheet(2, 7, 99.1, 38.1, 15.15, 4.65, 101.6, 38.1),
}

LABEL_SHEET_SELECTION = [
    ("avery_3474", "Avery Zweckform 3474 (70 x 37 mm, 24 per sheet)"),
    ("avery_3490", "Avery Zweckform 3490 (70 x 36 mm, 24 per sheet)"),
    ("avery_l7163", "Avery L7163 (99.1 x 38.1 mm, 14 per sheet)"),
]
