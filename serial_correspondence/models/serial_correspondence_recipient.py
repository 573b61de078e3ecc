# Copyright 2026 serial_correspondence authors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
import re

from odoo import _, api, fields, models
from odoo.exceptions import UserError
from odoo.tools import SQL
from odoo.tools.translate import LazyTranslate

from ..tools.addresses import normalize_address
from ..tools.processing import check_client_values, is_processing, processing
from ..tools.texts import Translator, in_all_languages, write_text

_lt = LazyTranslate(__name__)

# an address we can deliver to: one @, a domain with a dot, no spaces
DELIVERABLE_EMAIL = re.compile(r"^[^@\s]+@[^@\s.]+(\.[^@\s.]+)+$")

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
    # written by processing in every installed language (tools/texts.py):
    # each viewer reads it in their own
    reason = fields.Text(
        readonly=True,
        translate=True,
        help="Why this recipient did not get the correspondence.",
    )
    company_id = fields.Many2one(related="correspondence_id.company_id", store=True)
    kind = fields.Selection(related="correspondence_id.kind")
    # the contact's data as the user may read it: computed with the user's
    # rights, never written through to the contact
    email = fields.Char(compute="_compute_contact_data")
    zip = fields.Char(compute="_compute_contact_data")
    city = fields.Char(compute="_compute_contact_data")
    country_id = fields.Many2one("res.country", compute="_compute_contact_data")
    send_started_at = fields.Datetime(
        string="Delivery started",
        readonly=True,
        copy=False,
        help="Set, and committed, just before the e-mail is handed to the mail "
        "server; cleared with the outcome. Still set after an interruption means "
        "the delivery is unknown.",
    )
    # which sender claimed it (tools/senders.py): whoever holds that
    # sender's slot knows a claim without an outcome was left by one that died
    send_slot = fields.Integer(readonly=True, copy=False)
    delivery_unknown = fields.Boolean(
        compute="_compute_delivery_unknown",
        help="The e-mail may or may not have left before an interruption.",
    )
    processed_at = fields.Datetime(string="Processed on", readonly=True, copy=False)
    message_id = fields.Many2one(
        "mail.message",
        readonly=True,
        copy=False,
        index="btree_not_null",
        ondelete="set null",
        help="The e-mail as it appears in the contact's history.",
    )

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

    @api.depends(
        "partner_id.email", "partner_id.zip", "partner_id.city", "partner_id.country_id"
    )
    def _compute_contact_data(self):
        readable = self.partner_id._filtered_access("read")
        for recipient in self:
            partner = recipient.partner_id
            if partner not in readable:
                partner = partner.browse()
            recipient.email = partner.email
            recipient.zip = partner.zip
            recipient.city = partner.city
            recipient.country_id = partner.country_id

    def _processing_fields(self):
        """Fields that only processing sets: refused from clients."""
        return frozenset(
            {
                "state",
                "reason",
                "processed_at",
                "send_started_at",
                "send_slot",
                "message_id",
                "company_id",
                "kind",
            }
        )

    def _internal_write(self, vals):
        """Write on behalf of processing, past the lock (see
        ``tools/processing.py``: no client can take this path)."""
        with processing():
            return self.write(vals)

    @api.depends("state", "send_started_at")
    def _compute_delivery_unknown(self):
        for recipient in self:
            recipient.delivery_unknown = recipient.state == "error" and bool(
                recipient.send_started_at
            )

    def action_allow_resend(self):
        """The user checked a delivery that is unknown after an interruption
        and wants it sent again with the next "Send e-mails"."""
        unknown = self.filtered("delivery_unknown")
        for correspondence in unknown.correspondence_id:
            if correspondence.state not in ("sent_incomplete", "send_failed"):
                raise UserError(
                    _(
                        "%(name)s must be sent completely or have failed before a "
                        "delivery can be allowed again.",
                        name=correspondence.display_name,
                    )
                )
        unknown._internal_write({"send_started_at": False})
        unknown._write_reason(
            _lt(
                "Delivery unknown after an interruption; will be sent again "
                "with the next 'Send e-mails'."
            )
        )
        return True

    # ------------------------------------------------------------------
    # communication status: who may get what
    # ------------------------------------------------------------------

    def _email_outcome_before_sending(self, purpose):
        """Return ``{recipient: (state, reason)}`` for the recipients that will
        not get the e-mail; the others are missing from the result.

        Exclusions (communication status) come from the blacklist and, for
        advertising, the missing opt-in; errors from a missing or invalid
        address. One query for the blacklist of the whole batch.
        """
        # strict: False unless the text holds exactly one address (as
        # email_split would count it)
        normalized = {
            recipient: normalize_address(recipient.partner_id.email)
            for recipient in self
        }
        blacklisted = set()
        emails = [email for email in normalized.values() if email]
        if emails:
            blacklisted = set(
                self.env["mail.blacklist"]
                .sudo()
                .search([("email", "in", emails)])
                .mapped("email")
            )
        outcome = {}
        for recipient in self:
            partner = recipient.partner_id
            email = normalized[recipient]
            if not (partner.email or "").strip():
                outcome[recipient] = (
                    "error",
                    _lt("The contact has no e-mail address."),
                )
            elif not email or not DELIVERABLE_EMAIL.match(email):
                outcome[recipient] = (
                    "error",
                    _lt(
                        "The e-mail address '%(email)s' is not valid.",
                        email=partner.email,
                    ),
                )
            elif email in blacklisted:
                outcome[recipient] = (
                    "excluded",
                    _lt("The e-mail address %(email)s is blacklisted.", email=email),
                )
            elif (
                purpose == "advertising"
                and partner.email_advertising_consent != "granted"
            ):
                outcome[recipient] = (
                    "excluded",
                    _lt(
                        "The contact has not consented to advertising by e-mail "
                        "(required for advertising e-mails)."
                    ),
                )
        return self._in_all_languages(outcome)

    def _in_all_languages(self, outcome):
        """``outcome`` (``{recipient: (state, message)}``) with each message
        made a ``Text`` in every installed language."""
        translate = Translator(self.env)
        return {
            recipient: (state, translate(message))
            for recipient, (state, message) in outcome.items()
        }

    def _set_outcome(self, state, reason=False, **values):
        """Record the outcome of processing for these recipients; ``reason``
        is a ``Text`` (``tools/texts.py``), a lazy translation, or False."""
        self._internal_write(self._outcome_values(state, **values))
        self._write_reason(reason)

    @api.model
    def _outcome_values(self, state, **values):
        """The values of an outcome (``_set_outcome``) but its reason."""
        return dict(
            values,
            state=state,
            processed_at=fields.Datetime.now(),
            send_started_at=False,
        )

    def _write_reason(self, reason):
        """Store ``reason`` (a ``Text``, a lazy translation or False) in every
        installed language."""
        if reason and not isinstance(reason, tuple):
            reason = in_all_languages(self.env, reason)
        write_text(self, "reason", reason)

    # ------------------------------------------------------------------
    # the correspondence's lock covers its recipients
    # ------------------------------------------------------------------

    @api.model_create_multi
    def create(self, vals_list):
        if not is_processing():
            check_client_values(self, vals_list)
            correspondences = self.env["serial.correspondence"].browse(
                [
                    vals["correspondence_id"]
                    for vals in vals_list
                    if vals.get("correspondence_id")
                ]
            )
            # adding a recipient changes the correspondence: the user must
            # be allowed to change it, and to read the contact
            correspondences.check_access("write")
            correspondences._check_unlocked()
            partners = self.env["res.partner"].browse(
                [vals["partner_id"] for vals in vals_list if vals.get("partner_id")]
            )
            partners.check_access("read")
        return super().create(vals_list)

    def write(self, vals):
        if not is_processing():
            self.correspondence_id._check_unlocked()
            if "correspondence_id" in vals:
                raise UserError(
                    _("A recipient cannot be moved to another correspondence.")
                )
            check_client_values(self, [vals])
            if "partner_id" in vals:
                self.env["res.partner"].browse(vals["partner_id"]).check_access("read")
        return super().write(vals)

    def unlink(self):
        self.correspondence_id._check_unlocked()
        return super().unlink()
