# Copyright 2026 serial_correspondence authors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""A template in use stays: it cannot be deleted while a serial
correspondence is being generated or sent with it (or waits to go on),
because its jobs render it for every recipient still to come. Afterwards
it may go; a correspondence that is ready then asks for a template again."""

from odoo import _, models
from odoo.exceptions import UserError

from ..tools import workflow


class MailTemplate(models.Model):
    _inherit = "mail.template"

    def unlink(self):
        self._check_not_used_by_serial_processing()
        return super().unlink()

    def _check_not_used_by_serial_processing(self):
        if not self.ids:
            return
        # every company's correspondences: a template is shared by all of them
        busy = (
            self.env["serial.correspondence"]
            .sudo()
            .search(
                [
                    ("template_id", "in", self.ids),
                    ("state", "in", sorted(workflow.PROCESSING_STATES - {"importing"})),
                ],
                limit=1,
            )
        )
        if busy:
            # named only to whom may read it
            readable = busy.with_env(self.env)._filtered_access("read")
            name = (
                busy.display_name
                if readable
                else _("a serial correspondence you cannot see")
            )
            raise UserError(
                _(
                    "The template %(template)s is used by %(name)s, which is being "
                    "processed. Stop it first, or wait until it has finished, then "
                    "delete the template.",
                    template=busy.template_id.display_name,
                    name=name,
                )
            )
