# Copyright 2026 serial_correspondence authors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
import base64

from odoo import _, api, fields, models
from odoo.exceptions import UserError
from odoo.tools import SQL

from ..tools.processing import is_processing, processing


class IrAttachment(models.Model):
    _inherit = "ir.attachment"

    serial_correspondence_archived = fields.Boolean(
        string="Archived serial letter",
        readonly=True,
        copy=False,
        help="The document of a finalized serial letter: it can be neither "
        "changed nor deleted.",
    )

    @api.model_create_multi
    def create(self, vals_list):
        if not is_processing() and any(
            vals.get("serial_correspondence_archived") for vals in vals_list
        ):
            raise UserError(_("Only finalizing a serial letter archives its document."))
        return super().create(vals_list)

    def write(self, vals):
        if "serial_correspondence_archived" in vals and not is_processing():
            raise UserError(_("Only finalizing a serial letter archives its document."))
        if not self._rewrites_same_content(vals):
            self._check_not_serial_archived()
        return super().write(vals)

    def _serial_archive(self):
        """Make these attachments the unchangeable archive of a serial
        letter (finalizing only)."""
        with processing():
            self.write({"serial_correspondence_archived": True})

    def _rewrites_same_content(self, vals):
        """Whether ``vals`` only store the same content again (moving files
        between the database and the file store does that)."""
        if not vals or not set(vals) <= {"raw", "datas", "mimetype"}:
            return False
        raw = vals.get("raw")
        if raw is None and "datas" in vals:
            raw = base64.b64decode(vals["datas"] or b"")
        if raw is None:
            return False
        if isinstance(raw, str):
            raw = raw.encode()
        checksum = self._compute_checksum(raw)
        return all(
            attachment.checksum == checksum
            and vals.get("mimetype", attachment.mimetype) == attachment.mimetype
            for attachment in self
        )

    def unlink(self):
        self._check_not_serial_archived()
        self._check_not_sent_by_serial_processing()
        return super().unlink()

    def _check_not_sent_by_serial_processing(self):
        """Refuse to delete a file that a serial correspondence being sent or
        generated (or waiting to go on) sends with every e-mail or prints
        after every letter: the recipients still to come would get less
        than the others."""
        ids = [id_ for id_ in self.ids if isinstance(id_, int)]
        if not ids:
            return
        busy = (
            self.env["serial.correspondence"]
            .sudo()
            .search(
                [
                    ("state", "in", ["in_progress", "waiting"]),
                    "|",
                    ("attachment_ids", "in", ids),
                    ("template_id.attachment_ids", "in", ids),
                ],
                limit=1,
            )
        )
        if busy:
            # named only to whom may read it
            readable = busy.with_env(self.env)._filtered_access("read")
            raise UserError(
                _(
                    "This file is sent or printed by %(name)s, which is being "
                    "processed. Stop it first, or wait until it has finished, then "
                    "delete the file.",
                    name=busy.display_name
                    if readable
                    else _("a serial correspondence you cannot see"),
                )
            )

    def _check_not_serial_archived(self):
        """Refuse any change to the archived document of a serial letter, for
        everybody (also administrators and the superuser)."""
        ids = [id_ for id_ in self.ids if isinstance(id_, int)]
        if not ids:
            return
        self.flush_model(["serial_correspondence_archived"])
        self.env.cr.execute(
            SQL(
                "SELECT name FROM ir_attachment "
                "WHERE id IN %s AND serial_correspondence_archived LIMIT 1",
                tuple(ids),
            )
        )
        row = self.env.cr.fetchone()
        if row:
            raise UserError(
                _(
                    "%(name)s is the archived document of a finalized serial "
                    "letter: it can be neither changed nor deleted.",
                    name=row[0],
                )
            )
