# Copyright 2026 serial_correspondence authors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
from markupsafe import Markup

from odoo import _, api, models
from odoo.exceptions import UserError

from ..tools import letter_pdf


class ReportSerialLetter(models.AbstractModel):
    """Selected letters through Odoo's report engine (Print > Letter)."""

    _name = "report.serial_correspondence.report_serial_letter"
    _description = "Serial letter"

    @api.model
    def _get_report_values(self, docids, data=None):
        recipients = (
            self.env["serial.correspondence.recipient"]
            .browse(docids)
            .filtered(lambda recipient: recipient.state == "created")
        )
        if not recipients:
            raise UserError(_("Only created letters can be printed."))
        recipients = recipients.sorted(
            lambda r: (r.correspondence_id.id, r.letter_sequence, r.id)
        )
        # offline, as the generated document: Odoo's report engine runs
        # wkhtmltopdf on these pages too (see letter_pdf.offline_html)
        pages = Markup("").join(
            Markup(
                letter_pdf.offline_fragment(
                    correspondence._letter_pages_html(
                        recipients.filtered(
                            lambda r, c=correspondence: r.correspondence_id == c
                        )
                    ),
                    letter_pdf.AttachmentImages.for_record(correspondence),
                )
            )
            for correspondence in recipients.correspondence_id
        )
        return {
            "doc_ids": recipients.ids,
            "doc_model": "serial.correspondence.recipient",
            "docs": recipients,
            "pages": pages,
            "zoom": letter_pdf.css_zoom(),
        }
