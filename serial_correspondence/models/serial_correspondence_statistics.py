# Copyright 2026 serial_correspondence authors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""The results of a serial e-mail after sending: bounces, opens, clicks,
replies, counted from the recipients, and where to look at them.

The counters are computed from the recipients, not stored, like the
counters of the recipients' states (``_compute_recipient_stats``): whatever
records a result (the bounce and reply handling, the tracking routes, with
the ORM or with SQL), the next read counts it, and recording one result
never has to update the correspondence row, which the send job keeps busy.
"""

from markupsafe import Markup

from odoo import _, api, fields, models
from odoo.osv import expression

from ..tools import workflow


class SerialCorrespondence(models.Model):
    _inherit = "serial.correspondence"

    tracking_enabled = fields.Boolean(
        string="Track opens and clicks",
        default=False,
        tracking=True,
        help="Record when a recipient opens the e-mail (an invisible image) and "
        "clicks its links. Off by default: in Germany and the EU this needs the "
        "recipients' prior consent (GDPR, section 25 TDDDG); switch it on only "
        "if the recipients have agreed to it.",
    )
    bounced_count = fields.Integer(string="Bounced", compute="_compute_result_stats")
    opened_count = fields.Integer(string="Opened", compute="_compute_result_stats")
    clicked_count = fields.Integer(string="Clicked", compute="_compute_result_stats")
    replied_count = fields.Integer(string="Replied", compute="_compute_result_stats")
    result_summary = fields.Char(
        string="Results",
        compute="_compute_result_stats",
        help="What became of the e-mails sent so far.",
    )

    def _processing_fields(self):
        return super()._processing_fields() | {
            "bounced_count",
            "opened_count",
            "clicked_count",
            "replied_count",
        }

    @api.depends(
        "kind",
        "tracking_enabled",
        "recipient_ids.state",
        "recipient_ids.opened_at",
        "recipient_ids.clicked_at",
        "recipient_ids.replied_at",
    )
    def _compute_result_stats(self):
        counts = {}
        # also while the form is edited (onchange): the saved records' results
        ids = [record_id for record_id in self._origin.ids if record_id]
        if ids:
            groups = self.env["serial.correspondence.recipient"]._read_group(
                [("correspondence_id", "in", ids)],
                ["correspondence_id", "state"],
                ["__count", "opened_at:count", "clicked_at:count", "replied_at:count"],
            )
            for correspondence, state, count, opened, clicked, replied in groups:
                totals = counts.setdefault(
                    correspondence.id,
                    {"sent": 0, "bounced": 0, "opened": 0, "clicked": 0, "replied": 0},
                )
                if state in ("sent", "bounced"):
                    totals[state] += count
                totals["opened"] += opened
                totals["clicked"] += clicked
                totals["replied"] += replied
        for record in self:
            totals = counts.get(record._origin.id, {})
            record.bounced_count = totals.get("bounced", 0)
            record.opened_count = totals.get("opened", 0)
            record.clicked_count = totals.get("clicked", 0)
            record.replied_count = totals.get("replied", 0)
            record.result_summary = record._result_summary(totals.get("sent", 0))

    def _result_summary(self, sent):
        """The results in one line, once anything was sent, e.g. "Sent 120 ·
        bounced 3 · opened 40 (33 %) · clicked 12 (10 %) · replied 2": rates
        of the e-mails sent and not bounced; opens and clicks only when they
        are tracked."""
        self.ensure_one()
        if self.kind != workflow.EMAIL or not (sent or self.bounced_count):
            return False

        def rate(count):
            return f"{round(100 * count / sent) if sent else 0} %"

        parts = [
            _("Sent %(count)s", count=sent),
            _("bounced %(count)s", count=self.bounced_count),
        ]
        if self.tracking_enabled:
            parts += [
                _(
                    "opened %(count)s (%(rate)s)",
                    count=self.opened_count,
                    rate=rate(self.opened_count),
                ),
                _(
                    "clicked %(count)s (%(rate)s)",
                    count=self.clicked_count,
                    rate=rate(self.clicked_count),
                ),
            ]
        parts.append(_("replied %(count)s", count=self.replied_count))
        return " · ".join(parts)

    def _recipient_counts(self):
        """A bounced recipient was sent to: the outcome and its note count it
        as sent."""
        counts = super()._recipient_counts()
        counts["sent"] += self.bounced_count
        return counts

    def _history_link(self):
        """The line above the e-mail's copy in the contact's history that
        links to this correspondence (sanitized with the copy).

        Built once per cursor: the send job needs it for every e-mail, and
        each of its commits empties the ORM cache (a query per e-mail
        otherwise); the subject cannot change while the e-mail is sent."""
        self.ensure_one()
        record_id = self._origin.id
        if not record_id:
            return Markup()
        links = self.env.cr.cache.setdefault("serial_correspondence_history_link", {})
        key = (record_id, self.env.lang)
        if key not in links:
            links[key] = Markup(
                '<p class="text-muted small">%s <a href="/odoo/%s/%s" '
                'data-oe-model="%s" data-oe-id="%s">%s</a></p>'
            ) % (
                _("Serial e-mail:"),
                self._name,
                record_id,
                self._name,
                record_id,
                self.display_name,
            )
        return links[key]

    # ------------------------------------------------------------------
    # smart buttons: the recipients of one result
    # ------------------------------------------------------------------

    def action_view_recipients(self):
        """The recipients, also as a graph and a pivot table."""
        action = super().action_view_recipients()
        views = list(action.get("views") or [])
        modes = {mode for _view, mode in views}
        action["views"] = views + [
            (False, mode) for mode in ("graph", "pivot") if mode not in modes
        ]
        return action

    def _action_view_result(self, name, domain, **context):
        self.ensure_one()
        action = self.action_view_recipients()
        action["name"] = name
        action["domain"] = expression.AND(
            [[("correspondence_id", "=", self.id)], domain]
        )
        action["context"] = dict(action.get("context") or {}, **context)
        return action

    def action_view_recipients_sent(self):
        return self._action_view_result(_("Sent"), [("state", "=", "sent")])

    def action_view_recipients_excluded(self):
        return self._action_view_result(
            _("Excluded"),
            [("state", "=", "excluded")],
            search_default_group_reason=1,
        )

    def action_view_recipients_error(self):
        return self._action_view_result(
            _("Errors"), [("state", "=", "error")], search_default_group_reason=1
        )

    def action_view_recipients_bounced(self):
        return self._action_view_result(
            _("Bounced"),
            [("state", "=", "bounced")],
            search_default_group_bounce_type=1,
        )

    def action_view_recipients_opened(self):
        return self._action_view_result(_("Opened"), [("opened_at", "!=", False)])

    def action_view_recipients_clicked(self):
        return self._action_view_result(_("Clicked"), [("clicked_at", "!=", False)])

    def action_view_recipients_replied(self):
        return self._action_view_result(_("Replied"), [("replied_at", "!=", False)])
