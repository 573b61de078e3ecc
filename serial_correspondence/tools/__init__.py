# Copyright 2026 serial_correspondence authors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""Plain Python next to the models: importable and testable without a
database (``tests/test_engines.py``). No module here imports a model.

- :mod:`.workflow`: the workflow table (states, events, transitions)
- :mod:`.letter_pdf`: HTML to PDF with wkhtmltopdf, offline HTML, page
  numbers, one PDF from many
- :mod:`.label_sheets`: the label sheets, geometry and selection in one table
- :mod:`.addresses`: one e-mail address normalized as Odoo does, fast
- :mod:`.domain_literal`, :mod:`.processing`, :mod:`.texts`: helpers of the
  models
"""

from . import label_sheets
from . import letter_pdf
from . import workflow
