# Copyright 2026 serial_correspondence authors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""The recipient of a serial letter: who may get a letter, and the letter
itself (its text can be edited until the serial letter is finalized)."""

from odoo import _, api, fields, models
from odoo.exceptions import UserError
from odoo.tools.translate import LazyTranslate

from ..tools.processing import is_processing

_lt = LazyTranslate(__name__)


class SerialCorrespondenceRecipient(models.Model):
    _inherit = "serial.correspondence.recipient"

    letter_sequence = fields.Integer(
        string="Position",
        readonly=True,
        copy=False,
        help="Position of the letter in the document (the sort order of the "
        "serial letter when it was generated).",
    )
    letter_subject = fields.Char(string="Letter subject", readonly=True, copy=False)
    letter_body = fields.Html(
        string="Letter text",
        copy=False,
        sanitize="email_outgoing",
        help="The text of this letter, from the template. It can be changed "
        "until the serial letter is finalized; generating the letters again "
        "replaces it.",
    )
    letter_edited = fields.Boolean(
        string="Edited",
        readonly=True,
        copy=False,
        help="The text of this letter was changed after it was generated.",
    )
    letter_page_count = fields.Integer(string="Pages", readonly=True, copy=False)
    letter_address = fields.Text(
        string="Postal address", compute="_compute_letter_address"
    )
    can_edit_letter = fields.Boolean(compute="_compute_can_edit_letter")

    @api.depends(
        "partner_id",
        "partner_id.name",
        "partner_id.street",
        "partner_id.street2",
        "partner_id.zip",
        "partner_id.city",
        "partner_id.country_id",
        "correspondence_id.company_id",
    )
    def _compute_letter_address(self):
        # with the user's rights: nothing of a contact the user may not read
        readable = self.partner_id._filtered_access("read")
        for recipient in self:
            if recipient.partner_id not in readable:
                recipient.letter_address = False
                continue
            home = recipient.correspondence_id.company_id.country_id
            recipient.letter_address = "\n".join(
                recipient.partner_id._serial_letter_address_lines(home)
            )

    @api.depends("state", "correspondence_id.letter_output", "correspondence_id.state")
    def _compute_can_edit_letter(self):
        for recipient in self:
            recipient.can_edit_letter = recipient._letter_editable()

    def _letter_editable(self):
        self.ensure_one()
        return (
            self.state == "created"
            and self.correspondence_id.letter_output == "letters"
            and not self.correspondence_id.is_locked
        )

    # ------------------------------------------------------------------
    # communication status and address: who may get a letter
    # ------------------------------------------------------------------

    def _letter_outcome_before_rendering(self, purpose):
        """Return ``{recipient: (state, reason)}`` for the recipients that will
        not get the letter; the others are missing from the result.

        Exclusions (communication status) first: a contact who wants no letters
        does not get one whatever the address; then errors: an incomplete
        postal address, naming what is missing.
        """
        outcome = {}
        for recipient in self:
            partner = recipient.partner_id
            if partner.no_letters:
                outcome[recipient] = (
                    "excluded",
                    _lt("The contact is marked 'No letters'."),
                )
            elif (
                purpose == "advertising"
                and partner.letter_advertising_consent == "refused"
            ):
                outcome[recipient] = (
                    "excluded",
                    _lt("The contact has refused advertising by letter."),
                )
            elif partner._serial_letter_address_missing():
                outcome[recipient] = ("error", self._address_missing_message(partner))
            elif recipient.correspondence_id.output == "letters" and not (
                partner._serial_letter_address_fits(
                    recipient.correspondence_id.company_id.country_id
                )
            ):
                outcome[recipient] = (
                    "error",
                    _lt(
                        "The postal address does not fit the address window of "
                        "the envelope (at most 8 short lines): shorten the "
                        "contact's address lines."
                    ),
                )
        return self._in_all_languages(outcome)

    @api.model
    def _address_missing_message(self, partner):
        """The reason for an incomplete address, naming what is missing in the
        language of the environment it is made in."""

        def message(env):
            missing = partner.with_env(env)._serial_letter_address_missing()
            return env._(
                "The postal address is incomplete, missing: %(missing)s.",
                missing=", ".join(missing),
            )

        return message

    # ------------------------------------------------------------------
    # editing a letter
    # ------------------------------------------------------------------

    def _processing_fields(self):
        return super()._processing_fields() | {
            "letter_sequence",
            "letter_subject",
            "letter_edited",
            "letter_page_count",
        }

    def write(self, vals):
        if "letter_body" in vals and not is_processing():
            self.correspondence_id._check_unlocked()
            for recipient in self:
                if not recipient._letter_editable():
                    raise UserError(
                        _(
                            "The letter to %(contact)s cannot be edited: only "
                            "created letters of a serial letter that is not "
                            "finalized can be changed.",
                            contact=recipient.partner_id.display_name,
                        )
                    )
            result = super().write(vals)
            # flag the letter and the part of the document it is printed in
            self._internal_write({"letter_edited": True})
            self._letter_parts().write({"outdated": True})
            return result
        return super().write(vals)

    def _letter_parts(self):
        """The parts of the documents these letters are printed in (sudo)."""
        Part = self.env["serial.correspondence.letter.part"].sudo()
        parts = Part.browse()
        for recipient in self.filtered("letter_sequence"):
            parts |= Part.search(
                [
                    ("correspondence_id", "=", recipient.correspondence_id.id),
                    ("first_sequence", "<=", recipient.letter_sequence),
                    ("last_sequence", ">=", recipient.letter_sequence),
                ]
            )
        return parts
