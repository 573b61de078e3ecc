# Copyright 2026 serial_correspondence authors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""Checking the recipients before starting: who will be excluded, and why.

*Check recipients* evaluates every recipient with processing's own code
(``_evaluate_recipients``: communication status, address, and the template
rendered for the contact with the user's rights), so it finds the same
states and the same reasons as *Send e-mails* / *Generate letters*, but it
sends and prints nothing: it stores the result on each recipient
(``check_state``, ``check_reason``) and the time on the correspondence.

E-mails already sent are not evaluated again: *Send e-mails* never sends
twice, so they are reported ``ok`` with the reason "Already sent", and a
delivery that is unknown after an interruption stays an error, as sending
leaves it. Letters are all evaluated: generating again starts from scratch.

The check is allowed to whoever may change the correspondence, in ``ready``
and the outcome states (``workflow.CHECK_STATES``); never while processing
runs or once done. It changes nothing of the correspondence's content.

Speed: synchronous, in batches of 2,000 recipients
(``serial_correspondence.check_batch_size``): per batch the recipients and
contacts are read together, the blacklist is one query, the template is
rendered for the whole batch (one contact at a time only when the batch
fails), and the results are written with one ``UPDATE`` (no ORM write per
recipient). ``bench/run-bench-check.sh``: 100,000 recipients in 21 s over
XML-RPC (goal: 30 s; the naive loop over the same functions, one recipient
at a time: 558 s), so it runs synchronously, without a job chain.
"""

from odoo import _, api, fields, models
from odoo.exceptions import UserError
from odoo.tools import SQL
from odoo.tools.translate import LazyTranslate

from ..tools import workflow
from ..tools.settings import setting
from ..tools.texts import in_all_languages, stored_texts
from .mail_render_mixin import texts_not_needed

_lt = LazyTranslate(__name__)

DEFAULT_CHECK_BATCH_SIZE = 2000
# the recipient states that "Send e-mails" considers again (when not marked
# as being delivered): the others keep what they got
RESENDABLE_STATES = ("pending", "excluded", "error")


class SerialCorrespondence(models.Model):
    _inherit = "serial.correspondence"

    checked_at = fields.Datetime(
        string="Recipients checked on",
        readonly=True,
        copy=False,
        help="When 'Check recipients' last evaluated the recipients.",
    )
    check_ok_count = fields.Integer(
        string="Checked OK", compute="_compute_check_counts"
    )
    check_excluded_count = fields.Integer(
        string="Checked excluded", compute="_compute_check_counts"
    )
    check_error_count = fields.Integer(
        string="Checked with errors", compute="_compute_check_counts"
    )
    check_summary = fields.Char(string="Check result", compute="_compute_check_counts")
    can_check_recipients = fields.Boolean(compute="_compute_can_check_recipients")

    def _processing_fields(self):
        return super()._processing_fields() | {"checked_at"}

    @api.depends("state")
    def _compute_can_check_recipients(self):
        for record in self:
            record.can_check_recipients = record.state in workflow.CHECK_STATES

    @api.depends("recipient_ids.check_state", "checked_at")
    def _compute_check_counts(self):
        counts = {}
        if self.ids:
            groups = self.env["serial.correspondence.recipient"]._read_group(
                [
                    ("correspondence_id", "in", self.ids),
                    ("check_state", "!=", False),
                ],
                ["correspondence_id", "check_state"],
                ["__count"],
            )
            for correspondence, check_state, count in groups:
                counts.setdefault(correspondence.id, {})[check_state] = count
        for record in self:
            by_state = counts.get(record.id, {})
            record.check_ok_count = by_state.get("ok", 0)
            record.check_excluded_count = by_state.get("excluded", 0)
            record.check_error_count = by_state.get("error", 0)
            record.check_summary = (
                _(
                    "%(ok)s OK, %(excluded)s excluded, %(errors)s with errors",
                    ok=record.check_ok_count,
                    excluded=record.check_excluded_count,
                    errors=record.check_error_count,
                )
                if record.checked_at
                else False
            )

    # ------------------------------------------------------------------
    # actions
    # ------------------------------------------------------------------

    def action_check_recipients(self):
        """Check recipients: evaluate every recipient as processing would,
        without sending or printing, and show the result grouped by reason."""
        self.ensure_one()
        self._check_recipients()
        return self.action_view_check_results()

    def action_view_check_results(self):
        """The recipients grouped by the result of the last check."""
        self.ensure_one()
        action = self.action_view_recipients()
        action["name"] = _("Check of the recipients")
        action["domain"] = [
            ("correspondence_id", "=", self.id),
            ("check_state", "!=", False),
        ]
        action["context"] = dict(
            action.get("context") or {},
            search_default_group_check_state=1,
            search_default_group_check_reason=2,
        )
        return action

    # ------------------------------------------------------------------
    # the check
    # ------------------------------------------------------------------

    def _check_recipients(self):
        """Evaluate every recipient and store the result; returns the counts
        ``{"ok": n, "excluded": n, "error": n}``."""
        self.ensure_one()
        self.check_access("write")
        if self.state not in workflow.CHECK_STATES:
            raise UserError(
                _(
                    "The recipients of %(name)s can be checked when it is ready or "
                    "after processing, not in state '%(state)s'.",
                    name=self.display_name,
                    state=dict(self._fields["state"]._description_selection(self.env))[
                        self.state
                    ],
                )
            )
        if missing := self._missing_to_start():
            raise UserError(
                _(
                    "Before checking the recipients, give %(name)s %(missing)s.",
                    name=self.display_name,
                    missing=missing,
                )
            )
        self._check_template_model(self.template_id.ids)
        # written first: the row lock keeps processing from starting meanwhile
        self._internal_write({"checked_at": fields.Datetime.now()})
        self.flush_recordset(["checked_at"])
        Recipient = self.env["serial.correspondence.recipient"]
        ids = Recipient.search([("correspondence_id", "=", self.id)], order="id").ids
        size = setting(
            self.env, "check_batch_size", DEFAULT_CHECK_BATCH_SIZE, minimum=1
        )
        for start in range(0, len(ids), size):
            batch = Recipient.browse(ids[start : start + size])
            self._store_check_results(self._check_batch(batch))
            # the next batch starts with an empty cache: memory stays flat
            self.env.invalidate_all()
        self.invalidate_recordset()
        return {
            "ok": self.check_ok_count,
            "excluded": self.check_excluded_count,
            "error": self.check_error_count,
        }

    def _check_batch(self, batch):
        """``{recipient id: (check_state, reason)}`` for the recipients
        ``batch``: what processing would decide, by processing's code."""
        results = {}
        if self.kind == workflow.EMAIL:
            # "Send e-mails" leaves these as they are (never sends twice)
            kept = batch.filtered(
                lambda r: r.state not in RESENDABLE_STATES or r.send_started_at
            )
            if kept:
                already_sent = in_all_languages(
                    self.env, _lt("Already sent: it is not sent again.")
                )
                reasons = stored_texts(kept, "reason")
                for recipient in kept:
                    if recipient.state in RESENDABLE_STATES:
                        results[recipient.id] = (
                            "error",
                            reasons.get(recipient.id)
                            or self._delivery_unknown_reason(),
                        )
                    else:
                        results[recipient.id] = ("ok", already_sent)
                batch -= kept
        # the same evaluation; the texts themselves are not kept
        with texts_not_needed():
            outcome, _rendered = self._evaluate_recipients(batch)
        for recipient in batch:
            results[recipient.id] = outcome.get(recipient, ("ok", None))
        return results

    def _store_check_results(self, results):
        """Write ``{recipient id: (check_state, reason)}`` in one statement
        (``reason``: a ``Text`` in every language, or None)."""
        if not results:
            return
        ids = list(results)
        self.env.cr.execute(
            SQL(
                """
                UPDATE serial_correspondence_recipient r
                   SET check_state = v.check_state, check_reason = v.check_reason
                  FROM unnest(%(ids)s::int[], %(states)s::varchar[],
                              %(reasons)s::jsonb[]) AS v(id, check_state, check_reason)
                 WHERE r.id = v.id
                """,
                ids=ids,
                states=[results[rid][0] for rid in ids],
                reasons=[
                    results[rid][1].jsonb() if results[rid][1] else None for rid in ids
                ],
            )
        )
