# Copyright 2026 serial_correspondence authors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
from odoo import _, models


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
        return missing

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
