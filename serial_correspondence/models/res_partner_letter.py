# Copyright 2026 serial_correspondence authors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
import math

from odoo import _, models

# the address field of the window (DIN 5008 form B, report/serial_letter_
# templates.xml): 78 mm wide, 27.3 mm high; up to 6 lines in 10 pt, more in
# 8.5 pt (up to 8). Characters per line: a text in Arial/Liberation Sans
# averages half its size in width, a little less is assumed
ADDRESS_FITS = {False: (6, 42), True: (8, 50)}  # small type: (lines, chars)


class ResPartner(models.Model):
    _inherit = "res.partner"

    def _serial_letter_address_missing(self):
        """What a letter to this contact lacks to be delivered, as words for
        the user (empty when the postal address is complete)."""
        self.ensure_one()
        missing = []
        if not (self.street or self.street2 or "").strip():
            missing.append(_("street"))
        zip_required = not self.country_id or self.country_id.zip_required
        if zip_required and not (self.zip or "").strip():
            missing.append(_("postal code"))
        if not (self.city or "").strip():
            missing.append(_("city"))
        if not self.country_id:
            missing.append(_("country"))
        if not (self.name or "").strip() and not (
            self.parent_id and self.commercial_company_name
        ):
            # an address of a company is addressed to the company
            missing.append(_("name"))
        return missing

    def _serial_letter_address_fits(self, home_country):
        """Whether the address block fits the address field of the window
        envelope, the long lines wrapped as they will be; what does not fit
        would be cut off (and the letter be lost in the post)."""
        lines = self._serial_letter_address_lines(home_country)
        max_lines, chars = ADDRESS_FITS[len(lines) > ADDRESS_FITS[False][0]]
        printed = sum(max(1, math.ceil(len(line) / chars)) for line in lines)
        return printed <= max_lines

    def _serial_letter_address_lines(self, home_country):
        """The lines of the address block of a letter (DIN 5008): company and
        name, then the address in the format of the contact's country; the
        country in capitals, and only when it is not ``home_country``."""
        self.ensure_one()
        lines = []
        if self.parent_id and self.commercial_company_name and not self.is_company:
            lines.append(self.commercial_company_name)
        name = self.name or ""
        if self.title:
            # in the contact's language, like the rest of the letter
            title = self.title.with_context(lang=self.lang) if self.lang else self.title
            name = f"{title.name} {name}"
        lines.append(name)
        address_format, args = self._prepare_display_address(without_company=True)
        foreign = self.country_id and self.country_id != home_country
        args["country_name"] = (self.country_id.name or "").upper() if foreign else ""
        lines += [line.strip() for line in (address_format % args).splitlines()]
        return [line for line in lines if line]
