# Copyright 2026 serial_correspondence authors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""Soft failures of a serial e-mail, for the storm brake
(``tools/storm_brake.py``).

One row per temporary refusal of the mail server (SMTP 4xx, a dropped
connection) met by a send job, and per soft bounce (``Status: 4.x.x``, or a
delay warning) that came back through the mail gateway. Counted over a
sliding window in the database: the send jobs and the mail gateway of every
Odoo server on the database see the same count. Written and counted with
SQL by the code that needs it, as the sending log is.
"""

import datetime

from odoo import api, fields, models
from odoo.tools import SQL

KINDS = [
    ("refusal", "Refused for now by the mail server"),
    ("soft_bounce", "Returned as a soft bounce"),
]


class SerialCorrespondenceSoftFailure(models.Model):
    _name = "serial.correspondence.soft.failure"
    _description = "Serial Correspondence Soft Failure"
    _order = "occurred_at desc, id desc"
    _log_access = False

    correspondence_id = fields.Many2one(
        "serial.correspondence", required=True, ondelete="cascade"
    )
    occurred_at = fields.Datetime(required=True)
    kind = fields.Selection(KINDS, required=True)
    recipient_id = fields.Many2one(
        "serial.correspondence.recipient", ondelete="set null"
    )

    def init(self):
        # the count is per correspondence over a window (the index also
        # serves the cascade when a correspondence is deleted)
        self.env.cr.execute(
            SQL(
                "CREATE INDEX IF NOT EXISTS %s ON %s (correspondence_id, occurred_at)",
                SQL.identifier(f"{self._table}_window_idx"),
                SQL.identifier(self._table),
            )
        )

    @api.model
    def _record(self, correspondence, kind, recipient=None):
        """Note one soft failure of ``correspondence`` now."""
        self.env.cr.execute(
            SQL(
                """
                INSERT INTO serial_correspondence_soft_failure
                    (correspondence_id, occurred_at, kind, recipient_id)
                VALUES (%s, %s, %s, %s)
                """,
                correspondence.id,
                datetime.datetime.utcnow(),
                kind,
                recipient.id if recipient else None,
            )
        )

    @api.model
    def _count(self, correspondence, since):
        """How many soft failures of ``correspondence`` came after ``since``
        (UTC)."""
        self.env.cr.execute(
            SQL(
                """
                SELECT count(*) FROM serial_correspondence_soft_failure
                 WHERE correspondence_id = %s AND occurred_at > %s
                """,
                correspondence.id,
                since,
            )
        )
        return self.env.cr.fetchone()[0]
