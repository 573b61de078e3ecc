# Copyright 2026 serial_correspondence authors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""Planned sending, "Stop", and how far sending has come.

PLANNED SENDING. *Send e-mails* with ``scheduled_at`` in the future starts a
send run like any other, but the correspondence waits (state ``waiting``,
``resume_at`` the planned time, the reason "Planned for ...") and its first
send job is queued for that time (``eta``): no worker waits. While it waits
the correspondence is locked like while sending, ``scheduled_at`` included.
To plan another time the user stops (back to the state before) and sends
again. That is the simpler and the safe option: re-planning in place would
have to move a queued job that a worker may be taking at that very moment;
stopping bumps the run counter, and every job of the old run, wherever it
is, ends with "Nothing to do".

A STALE PLAN does not start: when the first job of a planned run finds the
planned time more than ``serial_correspondence.stale_schedule_hours`` (24)
hours past (the job runners were down, say), sending one day late may be
worse than not sending. The run stops as if the user had stopped it
(nobody is touched), and the user is asked, in the chatter and by an
activity, to confirm by sending again; sending again starts at once.

STOP. ``action_stop`` ends generating or sending; what is done stays done,
the rest stays pending, and the correspondence takes its outcome state
(``workflow.stop_event``). Sending is stopped through the database, never
through memory, as the jobs run on several Odoo servers:

- no send job at work (the sending lock is free: waiting, or a job queued):
  the action stops at once, under the sending lock for its transaction, and
  bumps the run counter so that queued and planned jobs do nothing;
- a send job at work: the action sets ``stop_requested``; the job reads it
  before each batch and with each claim (``tools/send_run.py``), finishes the
  e-mail under way, records its outcome and then the stop. Nothing is sent
  twice: a stop never undoes a claim.

Letters are stopped at once: the jobs of the old run do nothing, a part
being printed while the user stops is rolled back (its job writes the
correspondence, which the stop has changed), and the document holds the
parts printed so far.
"""

# pylint: disable=invalid-commit

from odoo import _, api, fields, models
from odoo.exceptions import UserError
from odoo.tools import SQL, format_datetime

from ..tools import senders, workflow
from ..tools.schedule import expected_end, is_stale
from ..tools.settings import setting
from ..tools.texts import in_all_languages, write_text

DEFAULT_STALE_SCHEDULE_HOURS = 24


class SerialCorrespondence(models.Model):
    _inherit = "serial.correspondence"

    scheduled_at = fields.Datetime(
        string="Send at",
        copy=False,
        tracking=True,
        help="Send e-mails before this time: the serial e-mail waits and starts "
        "by itself then. Empty or past: it starts at once.",
    )
    waiting_for_schedule = fields.Boolean(readonly=True, copy=False)
    stop_requested = fields.Boolean(
        readonly=True,
        copy=False,
        help="Stop was asked while an e-mail was being sent: sending stops "
        "once it is out.",
    )
    can_stop = fields.Boolean(compute="_compute_can_stop")
    expected_end_at = fields.Datetime(
        string="Expected end",
        compute="_compute_expected_end_at",
        help="When the last e-mail is expected to go out under the sending limits.",
    )

    def _processing_fields(self):
        return super()._processing_fields() | {
            "waiting_for_schedule",
            "stop_requested",
        }

    @api.depends("state", "kind", "stop_requested")
    def _compute_can_stop(self):
        for record in self:
            record.can_stop = not record.stop_requested and workflow.can_stop(
                record.kind, record.state
            )

    @api.depends("state", "kind", "resume_at", "email_from", "recipient_ids.state")
    def _compute_expected_end_at(self):
        """From the recipients still pending and the sending limits of the
        mail server the e-mails go through; nothing without limits."""
        Log = self.env["serial.correspondence.send.log"]
        now = fields.Datetime.now()
        for record in self:
            record.expected_end_at = False
            if record.kind != workflow.EMAIL or record.state not in (
                "in_progress",
                "waiting",
            ):
                continue
            if record.state == "waiting" and not record.resume_at:
                # nothing continues it by itself (the storm brake): no end
                continue
            server_id = record._sending_mail_server_id()
            max_emails, window = Log._limits(server_id)[:2]
            if not max_emails or not record.pending_count:
                continue
            record.expected_end_at = expected_end(
                now,
                record.pending_count,
                max_emails,
                window,
                Log._remaining(server_id, now=now),
                resume_at=record.resume_at if record.state == "waiting" else None,
            )

    def _sending_mail_server_id(self):
        """The outgoing mail server Odoo chooses for the sender (as the send
        job does), or False. Its configuration is read, never shown."""
        server, _smtp_from = (
            self.env["ir.mail_server"].sudo()._find_mail_server(self.email_from)
        )
        return server.id if server else False

    # ------------------------------------------------------------------
    # planned sending
    # ------------------------------------------------------------------

    def _send_is_planned(self):
        return bool(self.scheduled_at and self.scheduled_at > fields.Datetime.now())

    def action_confirm_send(self):
        action = super().action_confirm_send()
        if self._send_is_planned():
            action["params"]["body"] = _(
                "Send this serial e-mail on %(time)s to every recipient it has "
                "not been sent to yet? It starts by itself then.",
                time=format_datetime(self.env, self.scheduled_at),
            )
        return action

    def _start_send_run(self):
        """The send run that *Send e-mails* has begun: sending now, or
        waiting for ``scheduled_at``."""
        self.ensure_one()
        self._internal_write({"stop_requested": False, "waiting_for_schedule": False})
        if not self._send_is_planned():
            self._enqueue_send()
            return
        planned_at = self.scheduled_at
        self._apply_event("schedule")
        self._internal_write({"resume_at": planned_at, "waiting_for_schedule": True})
        tz = self.env.user.tz or "UTC"
        write_text(
            self,
            "waiting_reason",
            in_all_languages(
                self.env,
                lambda env: env._(
                    "Planned for %(time)s.",
                    time=format_datetime(env, planned_at, tz=tz),
                ),
            ),
        )
        self._enqueue_send(eta=planned_at)

    def _before_sending(self):
        """At the start of a send job, under the sending lock: the job's
        message when it ends here (a stop was asked for, the planned time
        has not come, or the plan is stale), else None."""
        if self.stop_requested:
            self._stop_sending_now()
            self.env.cr.commit()
            return _("Stopped as asked.")
        if not (self.state == "waiting" and self.waiting_for_schedule):
            return None
        now = fields.Datetime.now()
        if now < self.resume_at:
            # woken early (e.g. the limits were raised): the job planned for
            # the time is still there (same identity), or queued again
            self._enqueue_send(eta=self.resume_at)
            self.env.cr.commit()
            return _(
                "Nothing to do yet: sending is planned for %(time)s.",
                time=self.resume_at.isoformat(),
            )
        hours = setting(
            self.env,
            "stale_schedule_hours",
            DEFAULT_STALE_SCHEDULE_HOURS,
            float,
            minimum=0,
        )
        if is_stale(self.resume_at, now, hours):
            planned_at = self.resume_at
            self._stop_sending_now(note=False)
            self._ask_to_confirm_stale_plan(planned_at)
            self.env.cr.commit()
            return _(
                "Not sent: planned for %(time)s, more than %(hours)s hours ago.",
                time=planned_at.isoformat(),
                hours=hours,
            )
        self._internal_write({"waiting_for_schedule": False})
        return None

    def _ask_to_confirm_stale_plan(self, planned_at):
        """Tell the user who planned it that the sending did not start, in
        the chatter and by an activity (a notification with a link)."""
        user = self.processing_user_id or self.user_id
        body = _(
            "The sending planned for %(time)s did not start in time and has not "
            "been sent to anybody. Send the e-mails again to confirm that it "
            "should still go out.",
            time=format_datetime(self.env, planned_at, tz=user.tz or "UTC"),
        )
        self.message_post(body=body, subtype_xmlid="mail.mt_note")
        self.activity_schedule(
            "mail.mail_activity_data_todo",
            summary=_("Confirm the planned sending"),
            note=body,
            user_id=user.id,
        )

    # ------------------------------------------------------------------
    # stop
    # ------------------------------------------------------------------

    def action_stop(self):
        """Stop generating or sending: what is done stays done, the rest stays
        pending and the correspondence takes its outcome state. *Send
        e-mails* later goes on with the unsent (see the module docstring)."""
        self.check_access("write")
        for record in self:
            if not workflow.can_stop(record.kind, record.state):
                raise UserError(
                    _(
                        "%(name)s is neither being generated nor being sent: "
                        "there is nothing to stop.",
                        name=record.display_name,
                    )
                )
        for record in self:
            if record.kind == workflow.EMAIL:
                record._stop_sending()
            else:
                record._stop_generating()
        return True

    def _stop_sending(self):
        """Stop at once when no send job is at work, else ask the one at
        work to stop after the e-mail under way."""
        self._internal_write({"stop_requested": True})
        if self._try_lock_sending_for_transaction():
            self._stop_sending_now()

    def _try_lock_sending_for_transaction(self):
        """The locks of all the run's senders (``tools/senders.py``) until
        this transaction ends: no send job starts on what is being changed;
        False when a send job holds one of them."""
        return senders.try_lock_slots_for_transaction(
            self.env.cr, self.id, range(max(self.send_connections, 1))
        )

    def _wait(self, resume_at, reason):
        """A send job that would wait (limits, a server asking to try later)
        stops instead when a stop was asked for meanwhile: the user need
        not wait for the next job to see it. The sending lock is held."""
        self.env.cr.execute(
            SQL(
                "SELECT stop_requested FROM serial_correspondence WHERE id = %s",
                self.id,
            )
        )
        if self.env.cr.fetchone()[0]:
            self.env.invalidate_all()
            self._stop_sending_now()
            self.env.cr.commit()
            return _("Stopped as asked.")
        return super()._wait(resume_at, reason)

    def _end_stopped_run(self, run):
        """A send job whose run stopped (``SendRun.stopped``) after recording
        the outcome of its last e-mail."""
        self.env.invalidate_all()
        if run.stopped != "requested":
            return _("Nothing to do: this sending run is over.")
        self._stop_sending_now()
        self.env.cr.commit()
        return _("Stopped as asked after %(count)s e-mails.", count=run.sent)

    def _stop_sending_now(self, note=True):
        """End the send run (the sending lock is held): queued and planned
        jobs of the run do nothing, a claim left by a job that died is
        "delivery unknown", and the correspondence takes its outcome."""
        self.ensure_one()
        self._settle_free_slots()
        self._drop_sender_checks()
        self._internal_write(
            {
                "send_run": self.send_run + 1,
                "stop_requested": False,
                "waiting_for_schedule": False,
                "resume_at": False,
                "waiting_reason": False,
                "retry_delay": 0,
                "job_uuid": False,
            }
        )
        self._apply_stop_outcome()
        if note:
            self.message_post(
                body=_(
                    "Sending stopped: %(sent)s sent, %(pending)s not sent yet. "
                    "Send the e-mails again to send to the others.",
                    sent=self.sent_count,
                    pending=self.pending_count,
                ),
                subtype_xmlid="mail.mt_note",
            )

    def _stop_generating(self):
        """Stop generating letters: the jobs of the run do nothing, the
        document holds the letters printed so far."""
        self.ensure_one()
        self._internal_write({"letter_run": self.letter_run + 1, "job_uuid": False})
        self._write_letter_document()
        self._apply_stop_outcome()
        self.message_post(
            body=_(
                "Generating stopped: %(created)s, %(excluded)s, %(errors)s; "
                "%(pending)s not processed. Generate again to process all.",
                pending=self.pending_count,
                **self._letters_outcome_texts(
                    self.created_count, self.excluded_count, self.error_count
                ),
            ),
            subtype_xmlid="mail.mt_note",
        )

    def _apply_stop_outcome(self):
        """The state after a stop, from the recipients: the usual outcome
        when nobody is left pending (the stop came too late to hold anybody
        back)."""
        self.invalidate_recordset()
        if self.pending_count:
            event = workflow.stop_event(
                self.kind,
                self.recipient_count - self.pending_count,
                self.error_count,
            )
        else:
            if self.state == "waiting":
                self._apply_event("resume")
            event = workflow.outcome_event(
                self.kind, self.excluded_count, self.error_count
            )
        self._apply_event(event)
