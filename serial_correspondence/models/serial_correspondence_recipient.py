# Copyright 2026 serial_correspondence authors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
from odoo import _, api, fields, models
from odoo.exceptions import UserError
from odoo.tools import SQL

RECIPIENT_STATES = [
    ("pending", "Pending"),
    ("created", "Created"),
    ("sent", "Sent"),
    ("excluded", "Excluded"),
    ("error", "Error"),
]


class SerialCorrespondenceRecipient(models.Model):
    _name = "serial.correspondence.recipient"
    _description = "Serial Correspondence Recipient"
    _order = "correspondence_id, id"
    _rec_name = "partner_id"

    correspondence_id = fields.Many2one(
        "serial.correspondence",
        string="Correspondence",
        required=True,
        ondelete="cascade",
        index=True,
    )
    partner_id = fields.Many2one(
        "res.partner", string="Contact", required=True, ondelete="cascade", index=True
    )
    state = fields.Selection(
        RECIPIENT_STATES, default="pending", required=True, readonly=True, index=True
    )
    reason = fields.Text(
        readonly=True,
        help="Why this recipient did not get the correspondence.",
    )
    company_id = fields.Many2one(related="correspondence_id.company_id", store=True)
    kind = fields.Selection(related="correspondence_id.kind")
    email = fields.Char(related="partner_id.email")
    zip = fields.Char(related="partner_id.zip")
    city = fields.Char(related="partner_id.city")
    country_id = fields.Many2one(related="partner_id.country_id")

    _sql_constraints = [
        (
            "partner_uniq",
            "unique (correspondence_id, partner_id)",
            "A contact is a recipient of a correspondence at most once.",
        ),
    ]

    @api.model
    def _insert_for_partners(self, correspondence, partner_ids):
        """Add ``partner_ids`` as pending recipients of ``correspondence``.

        One statement for the whole batch; contacts that already are
        recipients are left as they are, so running it twice adds nothing.
        """
        self.flush_model()
        self.env.cr.execute(
            SQL(
                """
                INSERT INTO serial_correspondence_recipient
                    (correspondence_id, partner_id, company_id, state,
                     create_uid, create_date, write_uid, write_date)
                SELECT %(correspondence)s, partner_id, %(company)s, 'pending',
                       %(uid)s, now() AT TIME ZONE 'UTC',
                       %(uid)s, now() AT TIME ZONE 'UTC'
                  FROM unnest(%(partner_ids)s::int[]) AS partner_id
                ON CONFLICT (correspondence_id, partner_id) DO NOTHING
                """,
                correspondence=correspondence.id,
                company=correspondence.company_id.id,
                uid=self.env.uid,
                partner_ids=list(partner_ids),
            )
        )
        self.invalidate_model()
        correspondence.invalidate_recordset()

    # ------------------------------------------------------------------
    # the correspondence's lock covers its recipients
    # ------------------------------------------------------------------

    @api.model_create_multi
    def create(self, vals_list):
        if not self.env.context.get("serial_correspondence_internal"):
            correspondences = self.env["serial.correspondence"].browse(
                [vals["correspondence_id"] for vals in vals_list if vals.get("correspondence_id")]
            )
            correspondences._check_unlocked()
            if any(
                key in vals for vals in vals_list for key in ("state", "reason")
            ):
                raise UserError(_("The outcome of a recipient is set by processing only."))
        return super().create(vals_list)

    def write(self, vals):
        if not self.env.context.get("serial_correspondence_internal"):
            self.correspondence_id._check_unlocked()
            if {"state", "reason", "correspondence_id"} & set(vals):
                raise UserError(_("The outcome of a recipient is set by processing only."))
        return super().write(vals)

    def unlink(self):
        self.correspondence_id._check_unlocked()
        return super().unlink()
