# Copyright 2026 serial_correspondence authors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""The storm brake of a serial e-mail (``tools/storm_brake.py``: when).

COUNTED: every temporary refusal a send job meets
(``_wait_after_temporary_failure``) and every soft bounce the mail gateway
receives for a recipient (``serial.correspondence.recipient._receive_bounce``),
while the serial e-mail is sending or waiting, as rows of
``serial.correspondence.soft.failure``: in the database, as several Odoo
servers send and receive.

BRAKED: when the count passes the threshold the serial e-mail waits
(workflow event ``throttle``, as for the sending limits) with the reason,
``storm_braked`` set and NO job planned: it does not continue by itself.
The user who started sending is told in the chatter and by an activity;
*Continue sending* (``action_resume_sending``) goes on (event ``resume``).
Any send job that starts while it is braked (one queued before, one woken by
raised limits) does nothing.

WHO BRAKES: a send job brakes itself after a refusal, under its sending
lock. The mail gateway brakes at once when no send job is at work (it takes
the sending lock for its transaction, as "Stop" does); else it sets
``storm_brake_requested``, which the job at work reads with every claim
(``tools/send_run.py``, like ``stop_requested``): it finishes the e-mail
under way, records its outcome and brakes. A stop asked for meanwhile wins.
"""

# pylint: disable=invalid-commit

from odoo import _, api, fields, models
from odoo.exceptions import UserError
from odoo.tools import SQL
from odoo.tools.translate import LazyTranslate

from ..tools import workflow
from ..tools.settings import setting
from ..tools.storm_brake import (
    DEFAULT_MAX_SOFT_FAILURES,
    DEFAULT_WINDOW_MINUTES,
    StormBrake,
)
from ..tools.texts import in_all_languages, write_text

_lt = LazyTranslate(__name__)

# the activity that asks the user to check the mail server
STORM_BRAKE_ACTIVITY = "serial_correspondence.mail_activity_type_storm_brake"


class SerialCorrespondence(models.Model):
    _inherit = "serial.correspondence"

    storm_braked = fields.Boolean(
        string="Stopped by the storm brake",
        readonly=True,
        copy=False,
        help="Too many temporary refusals or soft bounces: sending waits until "
        "a user continues it.",
    )
    storm_brake_requested = fields.Boolean(
        readonly=True,
        copy=False,
        help="The storm brake was pulled while an e-mail was being sent: "
        "sending stops once it is out.",
    )
    storm_counted_since = fields.Datetime(
        readonly=True,
        copy=False,
        help="Soft failures before this time (the last start or continuation "
        "of sending) do not count for the storm brake.",
    )

    def _processing_fields(self):
        # written by sending only, never by a client
        return super()._processing_fields() | {
            "storm_braked",
            "storm_brake_requested",
            "storm_counted_since",
        }

    @api.depends("job_uuid", "state", "storm_braked")
    def _compute_processing_status(self):
        result = super()._compute_processing_status()
        for record in self:
            if record.storm_braked:
                # waiting, but nothing continues it by itself
                record.processing_status = "idle"
        return result

    # ------------------------------------------------------------------
    # counting
    # ------------------------------------------------------------------

    @api.model
    def _storm_brake(self):
        return StormBrake(
            setting(
                self.env,
                "storm_max_soft_failures",
                DEFAULT_MAX_SOFT_FAILURES,
                minimum=0,
            ),
            setting(
                self.env,
                "storm_window_minutes",
                DEFAULT_WINDOW_MINUTES,
                float,
                minimum=0.0,
            ),
        )

    def _note_soft_failure(self, kind, recipient=None):
        """Count a temporary refusal (``kind`` "refusal") or a soft bounce
        ("soft_bounce") of this serial e-mail; True when the storm brake
        must stop it now."""
        self.ensure_one()
        if self.kind != workflow.EMAIL or self.state not in ("in_progress", "waiting"):
            return False
        SoftFailure = self.env["serial.correspondence.soft.failure"]
        SoftFailure._record(self, kind, recipient)
        brake = self._storm_brake()
        if not brake.enabled or self.storm_braked:
            return False
        since = brake.counting_since(fields.Datetime.now(), self.storm_counted_since)
        return brake.holds(SoftFailure._count(self, since))

    def _storm_brake_on_soft_bounce(self, recipient):
        """The mail gateway received a soft bounce for ``recipient``."""
        self.ensure_one()
        if not self._note_soft_failure("soft_bounce", recipient):
            return
        if self._try_lock_sending_for_transaction():
            # no send job at work: brake now; a queued or planned job of
            # the run finds it braked and does nothing
            self._apply_storm_brake()
        else:
            self._internal_write({"storm_brake_requested": True})

    # ------------------------------------------------------------------
    # braking
    # ------------------------------------------------------------------

    def _apply_storm_brake(self):
        """Stop sending until a user continues it: waiting, the reason, no
        job planned, the user told. The caller holds the sending lock."""
        self.ensure_one()
        brake = self._storm_brake()
        count = self.env["serial.correspondence.soft.failure"]._count(
            self,
            brake.counting_since(fields.Datetime.now(), self.storm_counted_since),
        )
        if self.state == "in_progress":
            self._apply_event("throttle")
        self._internal_write(
            {
                "storm_braked": True,
                "storm_brake_requested": False,
                "resume_at": False,
                "retry_delay": 0,
                "job_uuid": False,
            }
        )
        reason = _lt(
            "Stopped by the storm brake: %(count)s temporary refusals or soft "
            "bounces in %(minutes)s minutes. Check the mail server, then "
            "continue sending.",
            count=count,
            minutes=brake.window_text,
        )
        write_text(self, "waiting_reason", in_all_languages(self.env, reason))
        self._notify_storm_brake(self.env._(reason))
        return _(
            "Stopped by the storm brake after %(count)s soft failures.", count=count
        )

    def _notify_storm_brake(self, body):
        """Tell the user who started sending, in the chatter and by an
        activity (a notification with a link)."""
        user = self.processing_user_id or self.user_id
        self.message_post(body=body, subtype_xmlid="mail.mt_note")
        self.activity_schedule(
            STORM_BRAKE_ACTIVITY,
            summary=_("Storm brake: check the mail server"),
            note=body,
            user_id=user.id,
        )

    def _storm_flags_now(self):
        """``(stop_requested, storm_brake_requested)`` as committed: read
        from the database, never from the cache."""
        self.env.cr.execute(
            SQL(
                "SELECT stop_requested, storm_brake_requested "
                "FROM serial_correspondence WHERE id = %s",
                self.id,
            )
        )
        stop, brake = self.env.cr.fetchone()
        return bool(stop), bool(brake)

    # ------------------------------------------------------------------
    # continuing
    # ------------------------------------------------------------------

    def action_resume_sending(self):
        """Continue sending after the storm brake stopped it: the user has
        checked the mail server. The soft failures seen so far no longer
        count."""
        self.ensure_one()
        self.check_access("write")
        if not (self.storm_braked and workflow.allows(self.kind, self.state, "resume")):
            raise UserError(
                _(
                    "%(name)s has not been stopped by the storm brake: there is "
                    "nothing to continue.",
                    name=self.display_name,
                )
            )
        self._apply_event("resume")
        self._internal_write(
            {
                "storm_braked": False,
                "storm_brake_requested": False,
                "storm_counted_since": fields.Datetime.now(),
                "resume_at": False,
                "waiting_reason": False,
                "waiting_for_schedule": False,
                "retry_delay": 0,
                "processing_user_id": self.env.uid,
            }
        )
        self.message_post(
            body=_("Sending continues after the storm brake."),
            subtype_xmlid="mail.mt_note",
        )
        # the request to check the mail server is answered; sudo: the user
        # may continue (checked above) whoever the activity was for
        self.sudo().activity_feedback(
            [STORM_BRAKE_ACTIVITY], feedback=_("Sending continued.")
        )
        self._enqueue_send()
        return True

    # ------------------------------------------------------------------
    # the send job and the workflow
    # ------------------------------------------------------------------

    def _start_send_run(self):
        """A new send run counts its own soft failures only."""
        self._internal_write(
            {
                "storm_braked": False,
                "storm_brake_requested": False,
                "storm_counted_since": fields.Datetime.now(),
            }
        )
        return super()._start_send_run()

    def _before_sending(self):
        """A send job that starts while braked does nothing; one asked to
        brake brakes (a stop asked for wins: ``super``)."""
        if not self.stop_requested:
            if self.storm_braked:
                return _(
                    "Nothing to do: the storm brake holds this serial e-mail "
                    "until a user continues it."
                )
            if self.storm_brake_requested:
                message = self._apply_storm_brake()
                self.env.cr.commit()
                return message
        return super()._before_sending()

    def _end_stopped_run(self, run):
        """The job at work read ``storm_brake_requested`` (``SendRun``)."""
        if run.stopped != "braked":
            return super()._end_stopped_run(run)
        self.env.invalidate_all()
        message = self._apply_storm_brake()
        self.env.cr.commit()
        return message

    def _wait_after_temporary_failure(self, failure):
        """A temporary refusal counts for the storm brake; past the
        threshold sending stops instead of trying again later."""
        braking = self._note_soft_failure("refusal")
        stop, requested = self._storm_flags_now()
        if (braking or requested) and not stop:
            self.message_post(
                body=_(
                    "The mail server asked to try again later: %(answer)s",
                    answer=str(failure),
                ),
                subtype_xmlid="mail.mt_note",
            )
            message = self._apply_storm_brake()
            self.env.cr.commit()
            return message
        return super()._wait_after_temporary_failure(failure)

    def _wait(self, resume_at, reason):
        """A job that would wait for the limits brakes instead when the
        gateway asked for it meanwhile (a stop asked for wins: ``super``)."""
        stop, requested = self._storm_flags_now()
        if requested and not stop:
            self.env.invalidate_all()
            message = self._apply_storm_brake()
            self.env.cr.commit()
            return message
        return super()._wait(resume_at, reason)

    def _finish_sending(self):
        if self.storm_brake_requested:
            # everybody was sent to before the brake took hold
            self._internal_write({"storm_brake_requested": False})
        return super()._finish_sending()

    def _stop_sending_now(self, note=True):
        if self.storm_braked or self.storm_brake_requested:
            self._internal_write(
                {"storm_braked": False, "storm_brake_requested": False}
            )
        return super()._stop_sending_now(note=note)
