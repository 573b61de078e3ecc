# Copyright 2026 serial_correspondence authors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""What was really sent, for the sending limits.

One row per e-mail handed to a mail server. The limits count these rows over a
sliding window, in the database, under one transaction-level advisory lock: all
serial e-mails, all workers and all Odoo servers on the database share one
budget, and two of them can never both take the last e-mail of a window.
"""

import datetime
import math

from odoo import api, fields, models
from odoo.tools import SQL

from ..tools.settings import setting
from .ir_mail_server import MAX_EMAILS_PER_WINDOW, MAX_WINDOW_MINUTES

# the advisory lock all senders take to count and reserve budget
BUDGET_LOCK = 0x5C0B0D
# rows older than this are no longer needed by any window
LOG_RETENTION = datetime.timedelta(days=8)
# the window of Settings when none is set
DEFAULT_WINDOW_MINUTES = 60.0


class SerialCorrespondenceSendLog(models.Model):
    _name = "serial.correspondence.send.log"
    _description = "Serial Correspondence Sending Log"
    _order = "sent_at desc, id desc"
    _log_access = False

    sent_at = fields.Datetime(required=True, index=True)
    mail_server_id = fields.Many2one("ir.mail_server", ondelete="set null", index=True)
    email_domain = fields.Char(index=True)
    correspondence_id = fields.Many2one(
        "serial.correspondence", ondelete="set null", index="btree_not_null"
    )

    # ------------------------------------------------------------------
    # limits
    # ------------------------------------------------------------------

    @api.model
    def _limits(self, mail_server_id=False):
        """``(max_emails, window, max_per_domain, server_scope)`` in force for
        e-mails through ``mail_server_id``: the server's own override, else
        the global settings. ``max_*`` 0 means no limit; ``server_scope`` is
        the server whose e-mails alone count, or False for the shared budget
        of all servers without an override."""
        server = self.env["ir.mail_server"].sudo().browse(mail_server_id or [])
        if server and server.serial_throttle_max_emails:
            return (
                server.serial_throttle_max_emails,
                _window(server.serial_throttle_window_minutes),
                self._param_int("throttle_max_per_domain"),
                server.id,
            )
        return (
            self._param_int("throttle_max_emails"),
            _window(self._param_float("throttle_window_minutes")),
            self._param_int("throttle_max_per_domain"),
            False,
        )

    @api.model
    def _param_int(self, name):
        return int(min(self._param_float(name), MAX_EMAILS_PER_WINDOW))

    @api.model
    def _param_float(self, name):
        return setting(self.env, name, 0.0, cast=float, minimum=0.0)

    @api.model
    def _overridden_server_ids(self):
        return (
            self.env["ir.mail_server"]
            .sudo()
            .with_context(active_test=False)
            .search([("serial_throttle_max_emails", ">", 0)])
            .ids
        )

    # ------------------------------------------------------------------
    # accounting
    # ------------------------------------------------------------------

    def _scope_sql(self, server_scope):
        if server_scope:
            return SQL("mail_server_id = %s", server_scope)
        overridden = self._overridden_server_ids()
        if not overridden:
            return SQL("TRUE")
        return SQL("(mail_server_id IS NULL OR mail_server_id != ALL(%s))", overridden)

    def _window_usage(self, now, window, server_scope, domain=None):
        """``(count, oldest)`` of e-mails in the window ending at ``now``."""
        conditions = [
            SQL("sent_at > %s", now - window),
            self._scope_sql(server_scope),
        ]
        if domain is not None:
            conditions.append(SQL("email_domain = %s", domain))
        self.env.cr.execute(
            SQL(
                "SELECT count(*), min(sent_at) "
                "FROM serial_correspondence_send_log WHERE %s",
                SQL(" AND ").join(conditions),
            )
        )
        return self.env.cr.fetchone()

    @api.model
    def _reserve(
        self, correspondence, mail_server_id, email_domain, now=None, limits=None
    ):
        """Take one e-mail of the budget, or say when there is room again.

        Returns the id of the row written (committed with the caller's
        transaction) when reserved, else ``(resume_at, scope)`` with
        ``scope`` "global" or "domain". ``limits``: those of
        ``mail_server_id`` when the caller already has them (``_limits``).
        The caller's next commit releases the lock.
        """
        now = now or datetime.datetime.utcnow()
        max_emails, window, max_per_domain, server_scope = limits or self._limits(
            mail_server_id
        )
        if max_emails or max_per_domain:
            self.env.cr.execute(SQL("SELECT pg_advisory_xact_lock(%s)", BUDGET_LOCK))
            if max_emails:
                count, oldest = self._window_usage(now, window, server_scope)
                if count >= max_emails:
                    return oldest + window, "global"
            if max_per_domain and email_domain:
                count, oldest = self._window_usage(
                    now, window, server_scope, domain=email_domain
                )
                if count >= max_per_domain:
                    return oldest + window, "domain"
        self.env.cr.execute(
            SQL(
                """
                INSERT INTO serial_correspondence_send_log
                    (sent_at, mail_server_id, email_domain, correspondence_id)
                VALUES (%s, %s, %s, %s)
             RETURNING id
                """,
                now,
                mail_server_id or None,
                email_domain,
                correspondence.id,
            )
        )
        return self.env.cr.fetchone()[0]

    @api.model
    def _remaining(self, mail_server_id=False, now=None):
        """E-mails still allowed in the current window (None: no limit)."""
        now = now or datetime.datetime.utcnow()
        max_emails, window, _per_domain, server_scope = self._limits(mail_server_id)
        if not max_emails:
            return None
        count, _oldest = self._window_usage(now, window, server_scope)
        return max(max_emails - count, 0)

    @api.model
    def _release(self, log_id):
        """Give back the reservation of a message the server did not take."""
        self.env.cr.execute(
            SQL("DELETE FROM serial_correspondence_send_log WHERE id = %s", log_id)
        )

    @api.autovacuum
    def _gc_send_log(self):
        self.env.cr.execute(
            SQL(
                "DELETE FROM serial_correspondence_send_log WHERE sent_at < %s",
                datetime.datetime.utcnow() - LOG_RETENTION,
            )
        )


def _window(minutes):
    """The window as a timedelta (at least one second, at most a week).

    Settings refuse a window of 0 or less, or of more than a week, with a
    limit; a value typed into the system parameters past them (or none)
    counts as the default window of Settings, one over a week as a week: a
    limit never falls away because of its window."""
    minutes = float(minutes or 0)
    if not (math.isfinite(minutes) and minutes > 0):
        minutes = DEFAULT_WINDOW_MINUTES
    seconds = max(min(minutes, MAX_WINDOW_MINUTES) * 60.0, 1.0)
    return datetime.timedelta(seconds=math.ceil(seconds * 1000) / 1000)
