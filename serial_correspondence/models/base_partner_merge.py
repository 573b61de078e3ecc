# Copyright 2026 serial_correspondence authors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""Merging contacts (Odoo's *Merge* action) keeps one recipient per
correspondence, the one that tells the most.

A contact is a recipient of a correspondence at most once. When the merged
contacts were recipients of the same correspondence, Odoo's merge would
fail to move the rows onto the contact that stays (the unique constraint)
and then delete *every* row of the merged contacts, in every table that
refers to them: a recipient the e-mail was sent to could vanish while its
duplicate, still pending, would then get the e-mail a second time. Here,
before Odoo moves the rows, one row per correspondence is kept: sent,
created or bounced first, then a delivery that is unknown, then an error or
exclusion, a pending one last; the others are deleted. Odoo then moves the
kept rows to the contact that stays, with nothing in the way."""

from odoo import models
from odoo.tools import SQL

# which recipient of the merged contacts a correspondence keeps (lowest first)
KEEP_ORDER = SQL(
    """
    CASE
        WHEN state IN ('sent', 'created', 'bounced') THEN 0
        WHEN send_started_at IS NOT NULL THEN 1
        WHEN state <> 'pending' THEN 2
        ELSE 3
    END
    """
)


class MergePartnerAutomatic(models.TransientModel):
    _inherit = "base.partner.merge.automatic.wizard"

    def _update_foreign_keys(self, src_partners, dst_partner):
        self._serial_keep_one_recipient(src_partners | dst_partner)
        return super()._update_foreign_keys(src_partners, dst_partner)

    def _serial_keep_one_recipient(self, partners):
        """Delete all but the best recipient per correspondence among the
        recipients of ``partners`` (the contacts being merged)."""
        self.env["serial.correspondence.recipient"].flush_model()
        self.env.cr.execute(
            SQL(
                """
                WITH ranked AS (
                    SELECT id,
                           row_number() OVER (
                               PARTITION BY correspondence_id
                               ORDER BY %(keep)s, id
                           ) AS position
                      FROM serial_correspondence_recipient
                     WHERE partner_id = ANY(%(partners)s)
                )
                DELETE FROM serial_correspondence_recipient r
                 USING ranked
                 WHERE r.id = ranked.id AND ranked.position > 1
                """,
                keep=KEEP_ORDER,
                partners=partners.ids,
            )
        )
        self.env.invalidate_all()
