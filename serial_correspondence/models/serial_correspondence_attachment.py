# Copyright 2026 serial_correspondence authors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""Files of the correspondence itself (``attachment_ids``): sent with every
e-mail besides the template's own; for serial letters, the PDF files are
printed after each letter (see :meth:`SerialCorrespondence._letter_appendix`).
"""

from odoo import _, api, fields, models
from odoo.exceptions import AccessError, UserError
from odoo.fields import Command

from ..tools import letter_pdf

PDF_MIMETYPE = "application/pdf"


class SerialCorrespondence(models.Model):
    _inherit = "serial.correspondence"

    attachment_ids = fields.Many2many(
        "ir.attachment",
        "serial_correspondence_ir_attachment_rel",
        "correspondence_id",
        "attachment_id",
        string="Attachments",
        help="E-mails: files sent with every e-mail, besides the template's "
        "own attachments; each contact's copy of the e-mail links them. "
        "Letters: PDF files only, printed after each letter (e.g. a flyer "
        "to enclose with every letter); address labels print none.",
    )

    @api.model_create_multi
    def create(self, vals_list):
        for vals in vals_list:
            self._check_linked_attachments(vals.get("attachment_ids"))
        return super().create(vals_list)

    def write(self, vals):
        if "attachment_ids" in vals:
            # the lock first: a locked correspondence refuses any change,
            # readable files or not
            self._check_unlocked()
            self._check_linked_attachments(vals["attachment_ids"])
        result = super().write(vals)
        if "attachment_ids" in vals:
            # the printed letters carry the files after each letter: print
            # them again (as after editing a letter) before the document is
            # opened or finalized
            self.sudo().letter_part_ids.filtered(
                lambda part: part.output == "letters"
            ).write({"outdated": True})
        return result

    @api.model
    def _check_linked_attachments(self, commands):
        """Refuse files the user may not read: a client names any id it
        likes (the ORM links ids without asking whether they may be read).
        Files created through the commands are created with the user's
        rights by the ORM itself."""
        ids = set()
        for command in commands or ():
            if not isinstance(command, (list, tuple)) or not command:
                continue
            if command[0] == Command.LINK:
                ids.add(command[1])
            elif command[0] == Command.SET:
                ids.update(command[2] or ())
        if not ids:
            return
        attachments = self.env["ir.attachment"].browse(sorted(ids))
        existing = attachments.exists()
        try:
            if existing != attachments:
                raise AccessError(_("This file does not exist."))
            existing.check_access("read")
            # the record-level rule of attachments (the document they belong
            # to, or their creator for unattached files)
            existing.check("read")
        except AccessError as error:
            raise AccessError(
                _(
                    "You may only attach files you are allowed to read: %(error)s",
                    error=error,
                )
            ) from error

    def _email_attachments(self):
        """The template's files and the correspondence's own."""
        return super()._email_attachments() | self.attachment_ids

    def _letter_appendix(self):
        """The pages printed after each letter: the correspondence's
        attachments (in the order they were attached), one after the other,
        as a :class:`~..tools.letter_pdf.PdfPages`; ``None`` without any.

        After *each* letter, not once at the end of the document: a flyer
        goes with every letter, so whoever folds the letters encloses each
        letter's flyer with it. The appendix is not part of the letter: the
        letter's "Page x of y" and its page count leave it out.

        Every file must be a PDF the PDF reader can copy: any other file is
        refused with a :class:`UserError` naming it, rather than left out
        without a word. Read with sudo: linking a file checked that the user
        may read it (:meth:`_check_linked_attachments`).
        """
        self.ensure_one()
        attachments = self.sudo().attachment_ids.sorted("id")
        if not attachments:
            return None
        for attachment in attachments:
            if attachment.mimetype != PDF_MIMETYPE:
                raise UserError(
                    _(
                        "The attachment %(file)s is not a PDF file: only PDF "
                        "files can be printed after each letter. Remove it from "
                        "the attachments of %(name)s or attach it as a PDF.",
                        file=attachment.name,
                        name=self.display_name,
                    )
                )
        try:
            return letter_pdf.read_appendix(
                [attachment.raw or b"" for attachment in attachments]
            )
        except letter_pdf.InvalidPdfError as error:
            index = error.args[1] if len(error.args) > 1 else 0
            raise UserError(
                _(
                    "The attachment %(file)s cannot be printed after each "
                    "letter: it is not a valid PDF file (%(error)s). Remove "
                    "it from the attachments of %(name)s or attach an intact, "
                    "unprotected PDF.",
                    file=attachments[index].name,
                    error=error.args[0],
                    name=self.display_name,
                )
            ) from error
