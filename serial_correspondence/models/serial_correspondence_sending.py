# Copyright 2026 serial_correspondence authors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""Sending a serial e-mail: crash-safe, never twice.

The model's side of sending: the actions, the send job and its chain of jobs,
waiting for the limits or a server that asked to try later, and the outcome.
The crash-safety rule and everything that claims a recipient, hands an
e-mail over and records its outcome is ``tools/send_run.py`` (``SendRun``);
the SMTP conversation is ``tools/smtp_delivery.py`` (``SmtpDelivery``).

The send job owns its transaction (``allow_commit`` on its job function):
the commits below are the point of this job. A correspondence is sent by up
to N send jobs at once, each over its own connection, never two to one
recipient (``tools/senders.py``: slots, their locks, and how the senders
agree on waiting, stopping and finishing).
"""

# pylint: disable=invalid-commit

import datetime
import functools
import logging
import math
import re

import psycopg2
from markupsafe import Markup

from odoo import _, api, fields, models
from odoo.exceptions import UserError
from odoo.tools import SQL, email_normalize, formataddr
from odoo.tools.translate import LazyTranslate

from odoo.addons.queue_job.exception import RetryableJobError

from ..tools import senders, workflow
from ..tools.history_copy import HistoryCopies, marked
from ..tools.send_run import BudgetExhausted, SendRun
from ..tools.settings import setting
from ..tools.smtp_delivery import (
    OutgoingEmail,
    SmtpDelivery,
    TemporaryDeliveryFailure,
    email_domain,
)
from ..tools.texts import in_all_languages, write_text
from .mail_render_mixin import PLACEHOLDER, normalized_for_regex

_logger = logging.getLogger(__name__)
_lt = LazyTranslate(__name__)

# seconds after which the lead sender looks again when the other senders
# still have e-mails under way (the last of them normally ends the run)
LEAD_CHECK_SECONDS = 10
# seconds to wait before trying again after a temporary refusal; doubled
# after each further one, up to the maximum
DEFAULT_RETRY_DELAY = 60
MAX_RETRY_DELAY = 3600
LINE_BREAKS = re.compile(r"[ \t]*[\r\n]+[ \t]*")


def one_line(text):
    """``text`` for a header such as the subject: line breaks (a template,
    a contact's name or a typed subject may hold them) become spaces, so
    that no text can start a header of its own."""
    return LINE_BREAKS.sub(" ", text or "")


def _valid_sender(sender):
    """Whether ``sender`` is one e-mail address, with or without a display
    name, on one line (a line break would start a header of its own)."""
    if not sender or "\r" in sender or "\n" in sender:
        return False
    address = email_normalize(sender)
    local, _at, domain = (address or "").rpartition("@")
    if not (local and domain and "@" not in local):
        return False
    # the whole address as written, not the end of something longer
    # ("a@b@example.com"): inside the angle brackets, or the whole text
    written = sender
    if "<" in sender:
        written = sender[sender.rfind("<") + 1 : sender.rfind(">")]
    return written.strip().casefold() == address.casefold()


class SerialCorrespondence(models.Model):
    _inherit = "serial.correspondence"

    send_run = fields.Integer(readonly=True, copy=False)
    resume_at = fields.Datetime(
        string="Sending continues at",
        readonly=True,
        copy=False,
        help="While waiting: when sending continues by itself.",
    )
    # in every installed language (tools/texts.py)
    waiting_reason = fields.Char(readonly=True, copy=False, translate=True)
    retry_delay = fields.Integer(readonly=True, copy=False)
    send_connections = fields.Integer(
        string="Connections",
        readonly=True,
        copy=False,
        help="How many senders, each over its own connection to the mail "
        "server, this sending run uses at once (Settings: Connections per "
        "serial e-mail).",
    )

    def _processing_fields(self):
        return super()._processing_fields() | {
            "send_run",
            "send_connections",
            "resume_at",
            "waiting_reason",
            "retry_delay",
        }

    # ------------------------------------------------------------------
    # actions
    # ------------------------------------------------------------------

    def action_send(self):
        """Send e-mails: to every recipient the e-mail has not been sent to."""
        self.ensure_one()
        if not workflow.allows(self.kind, self.state, "send"):
            raise UserError(
                _(
                    "%(name)s cannot be sent in its current state.",
                    name=self.display_name,
                )
            )
        self._check_ready_to_send()
        # a delivery that is unknown after an interruption stays out until
        # the user decides to send it again (recipient action "Send again")
        unsent = self.env["serial.correspondence.recipient"].search(
            [
                ("correspondence_id", "=", self.id),
                ("state", "in", ("excluded", "error")),
                ("send_started_at", "=", False),
            ]
        )
        unsent._internal_write({"state": "pending", "reason": False})
        self._apply_event("send")
        self._internal_write(
            {
                "send_run": self.send_run + 1,
                "processing_user_id": self.env.uid,
                "send_connections": senders.sender_count(self.env),
            }
        )
        # now, or at the planned time (models/serial_correspondence_control.py)
        self._start_send_run()
        return True

    def _check_content_and_sender(self, missing_message):
        """Subject, template (for contacts) and a valid sender, before any
        e-mail goes out; ``missing_message(missing)``: the error for what
        is missing."""
        if missing := self._missing_to_start():
            raise UserError(missing_message(missing))
        self._check_template_model(self.template_id.ids)
        if not _valid_sender(self.email_from):
            raise UserError(
                _(
                    "The sender '%(sender)s' is not a valid e-mail address. Enter "
                    "the sender as an e-mail address on one line, e.g. "
                    "info@example.com or Club <info@example.com>.",
                    sender=" ".join((self.email_from or "").split()),
                )
            )

    def _check_ready_to_send(self):
        self._check_content_and_sender(
            lambda missing: _(
                "Before sending, give %(name)s %(missing)s.",
                name=self.display_name,
                missing=missing,
            )
        )
        if not self.recipient_count:
            raise UserError(
                _(
                    "%(name)s has no recipients: no contact matched its contact "
                    "filter and tags. Create a new serial e-mail for the contacts "
                    "you want to write to.",
                    name=self.display_name,
                )
            )
        sample = (
            self.env["serial.correspondence.recipient"]
            .search([("correspondence_id", "=", self.id)], limit=1)
            .partner_id
            or self.env.user.partner_id
        )
        _rendered, failures = self._render_messages(sample)
        if failures:
            raise UserError(
                _(
                    "The template cannot be rendered: %(error)s",
                    error=failures[sample.id],
                )
            )

    # ------------------------------------------------------------------
    # the send job
    # ------------------------------------------------------------------

    def _enqueue_send(self, eta=None, slot=0, going_on=False):
        """Queue the next send job of ``slot`` (0: the lead, which starts and
        resumes the run; at ``eta``, a UTC datetime, if given). ``going_on``:
        the lead's next job of a run under way, which never resumes a waiting
        run (another sender made it wait: the job planned for then resumes
        it)."""
        wake = eta.isoformat(timespec="seconds") if eta else "now"
        if not slot:
            self._enqueue_job(
                "_send_emails",
                self.send_run,
                *((0, True) if going_on else ()),
                eta=eta,
                description=_("Send serial e-mail %(name)s", name=self.display_name),
                identity=f"send-{self.id}-{self.send_run}-{'on-' if going_on else ''}"
                f"{wake}",
            )
            return
        self._enqueue_job(
            "_send_emails",
            self.send_run,
            slot,
            eta=eta,
            description=_(
                "Send serial e-mail %(name)s (connection %(number)s)",
                name=self.display_name,
                number=slot + 1,
            ),
            identity=f"send-{self.id}-{self.send_run}-s{slot}-{wake}",
            # the form shows the lead's job
            remember=False,
        )

    def _enqueue_sender_check(self):
        """Plan the lead's look at the run (``_end_slice``): the next whole
        ``LEAD_CHECK_SECONDS`` after a full period, the same for senders
        ending close together (so their checks are one job, by its
        identity)."""
        now = datetime.datetime.utcnow().replace(microsecond=0)
        seconds = (now - now.replace(minute=0, second=0)).total_seconds()
        eta = now + datetime.timedelta(
            seconds=2 * LEAD_CHECK_SECONDS - seconds % LEAD_CHECK_SECONDS
        )
        self._enqueue_job(
            "_send_emails",
            self.send_run,
            0,
            True,
            eta=eta,
            description=_(
                "Check the sending of serial e-mail %(name)s", name=self.display_name
            ),
            identity=f"send-{self.id}-{self.send_run}-check-{eta.isoformat()}",
            remember=False,
        )

    def _drop_sender_checks(self):
        """The planned checks of a run that ends now: done, nothing to do.
        Chosen by identity among the correspondence's own jobs."""
        checks = (
            self.env["queue.job"]
            .sudo()
            .search(
                [
                    (
                        "identity_key",
                        "=like",
                        f"serial_correspondence_send-{self.id}-{self.send_run}-check-%",
                    ),
                    ("state", "=", "pending"),
                ]
            )
        )
        checks._change_job_state(
            "done", result=_("Nothing to do: this sending run has ended.")
        )

    def _send_emails(self, send_run, slot=0, going_on=False):
        """Job: send to the pending recipients for a while as sender
        ``slot`` (tools/senders.py), then hand over to the next job; the
        sender that finds nobody left records the outcome. When the sending
        limits are used up or the mail server asks to wait, the
        correspondence waits and a job is planned for when it may go on: no
        worker waits. ``going_on``: a job of the lead that goes on with the
        run, or looks at a run the other senders are ending (``_end_slice``);
        it never resumes a waiting run (helpers never do)."""
        self.ensure_one()
        if self._starter_lost_access():
            if slot:
                return _("Nothing to do: the first connection ends this run.")
            return self.sudo()._end_run_of_lost_starter(send_run, self.env.user)
        if (narrowed := self._within_starter_companies()) is not None:
            return narrowed._send_emails(send_run, slot, going_on)
        if self.send_run != send_run or self.state not in ("in_progress", "waiting"):
            return _("Nothing to do: this sending run is over.")
        if (slot or going_on) and (
            self.state != "in_progress" or slot >= max(self.send_connections, 1)
        ):
            return _(
                "Nothing to do: the first connection goes on when sending resumes."
            )
        if slot and self._sends_alone(self._sending_mail_server_id()):
            # the lead sends alone while others share the limit: it takes
            # over this class (queued once, by its identity; alone among the
            # senders, as queueing the lead's job writes the correspondence)
            senders.coordinate(self.env, self.id)
            if self.send_run == send_run and self.state == "in_progress":
                self._enqueue_send(going_on=True)
            self.env.cr.commit()
            return _(
                "Nothing to do: while other serial e-mails share the sending "
                "limit, the first connection sends alone."
            )
        if not self._try_lock_sending(slot):
            if slot or going_on:
                # this connection's sender is at work: one is enough
                return _("Nothing to do: this connection is already sending.")
            raise RetryableJobError(
                _("Another worker is sending this serial e-mail."),
                seconds=5,
                ignore_retry=True,
            )
        cr = self.env.cr
        sender = SmtpDelivery(
            self.env["ir.mail_server"],
            self.email_from,
            company=self.company_id or self.env.company,
            attachments=self._email_attachments(),
        )
        try:
            if slot:
                # read what the slot's last sender committed before its lock
                # was free: a snapshot taken after the lock (under REPEATABLE
                # READ the transaction's first read fixes it)
                cr.commit()
                self._settle_interrupted_deliveries(slot)
            elif (
                started := self._start_sending_slice(
                    send_run, sender.mail_server_id, going_on
                )
            ) is not None:
                # asked to stop, planned for later, a plan gone stale, over
                return started
            cr.commit()
            run = SendRun(self, sender, slot)
            try:
                self._send_pending(run)
            except BudgetExhausted as exhausted:
                cr.commit()  # the outcomes so far; nothing was reserved
                return self._end_slice(
                    run,
                    functools.partial(
                        self._wait,
                        exhausted.resume_at,
                        _lt("The sending limit is reached."),
                    ),
                )
            except TemporaryDeliveryFailure as failure:
                cr.commit()  # the outcomes so far; the claim was released
                return self._end_slice(
                    run, functools.partial(self._wait_after_temporary_failure, failure)
                )
            return self._end_slice(run)
        finally:
            # unlock first: the next job, queued and committed above, may
            # already be starting; saying goodbye to the server is no part
            # of sending
            self._unlock_sending(slot)
            sender.close()

    def _start_sending_slice(self, send_run, mail_server_id, going_on=False):
        """The lead sender's start, alone among the senders
        (``senders.coordinate``): the job's message when it ends here (the
        run is over, a stop was asked for, the planned time has not come),
        else None, with the run resumed after waiting, claims of senders
        that died settled and the other senders queued (unless the lead
        sends alone now: ``_sends_alone``)."""
        senders.coordinate(self.env, self.id)
        if (
            self.send_run != send_run
            or self.state not in ("in_progress", "waiting")
            or (going_on and self.state != "in_progress")
        ):
            self.env.cr.commit()
            return _("Nothing to do: this sending run is over.")
        if (ended := self._before_sending()) is not None:
            return ended
        if self.state == "waiting":
            self._apply_event("resume")
            self._internal_write({"resume_at": False, "waiting_reason": False})
        self._settle_free_slots()
        if self._sends_alone(mail_server_id):
            return None
        for slot in sorted(self._pending_slots(self.send_connections) - {0}):
            # a sender at work holds its slot: queue only the free ones
            if senders.try_lock_slots_for_transaction(self.env.cr, self.id, [slot]):
                self._enqueue_send(slot=slot)
        return None

    def _pending_slots(self, count, exclude=()):
        """The slots (of ``count`` senders) whose class has recipients no
        sender has claimed yet (but ``exclude``)."""
        self.env["serial.correspondence.recipient"].flush_model(
            ["state", "send_started_at"]
        )
        self.env.cr.execute(
            SQL(
                """
                SELECT DISTINCT mod(id, %(count)s)
                  FROM serial_correspondence_recipient
                 WHERE correspondence_id = %(correspondence)s
                   AND state = 'pending' AND send_started_at IS NULL
                   AND NOT id = ANY(%(exclude)s::int[])
                """,
                count=max(count, 1),
                correspondence=self.id,
                exclude=list(exclude),
            )
        )
        return {row[0] for row in self.env.cr.fetchall()}

    def _end_slice(self, run, wait=None):
        """The end of a send job's slice, alone among the senders
        (``senders.coordinate``): wait (``wait()``), stop, brake, finish,
        or hand over to the next job of the same slot; nothing when another
        sender has already ended or paused the run."""
        senders.coordinate(self.env, self.id)
        cr = self.env.cr
        if self.send_run != run.run_number or self.state != "in_progress":
            cr.commit()
            return _(
                "Sent %(count)s; another connection has ended this part of the run.",
                count=run.sent,
            )
        if wait is not None:
            return wait()
        if run.stopped == "paused":
            # the run waited while this sender was at work, and goes on again
            run.stopped = None
        if run.stopped:
            return self._end_stopped_run(run)
        if self.retry_delay:
            self._internal_write({"retry_delay": 0})
        if run.skipped and not self._pending_recipients_exist(exclude=run.skipped):
            return self._wait(
                run.domain_resume_at,
                _lt("The limit per recipient domain is reached."),
            )
        if not self._pending_recipients_exist():
            self._finish_sending()
            cr.commit()
            return _("Sending finished.")
        pending = self._pending_slots(run.senders, exclude=run.skipped)
        if pending & {run.own_slot} or (
            run.alone
            and any(
                senders.try_lock_slots_for_transaction(cr, self.id, [slot])
                for slot in pending
            )
        ):
            # the slice is over, the sender's class is not (or, sending
            # alone, classes no other sender is at work in are left): its
            # next job
            self._enqueue_send(slot=run.own_slot, going_on=True)
            cr.commit()
            return _("Sent %(count)s, continuing in a new job.", count=run.sent)
        # the rest is under way with the other senders: the last of them
        # ends the run; the lead looks again in case one of them died
        self._enqueue_sender_check()
        cr.commit()
        return _("Sent %(count)s; the other connections send the rest.", count=run.sent)

    def _end_run_of_lost_starter(self, send_run, starter):
        """The send job of a user who lost access (``starter``): the run is
        stopped as if the user had stopped it (the e-mail under way was
        finished, nothing is sent twice, the rest stay pending) and the
        responsible user is told to send again with their own rights. Runs
        as sudo on the job's own correspondence, which the code chose."""
        if self.send_run != send_run or self.state not in ("in_progress", "waiting"):
            return _("Nothing to do: this sending run is over.")
        if not self._try_lock_sending():
            raise RetryableJobError(
                _("Another worker is sending this serial e-mail."),
                seconds=5,
                ignore_retry=True,
            )
        try:
            self._stop_sending_now(note=False)
            self._lost_starter_note(
                starter,
                _(
                    "Sending stopped: %(sent)s sent, %(pending)s not sent yet; "
                    "nobody gets it twice. Send the e-mails again to send the "
                    "rest with your rights.",
                    sent=self.sent_count,
                    pending=self.pending_count,
                ),
            )
            self.env.cr.commit()
        finally:
            self._unlock_sending()
        return _(
            "Stopped: %(user)s, who started sending, is no longer allowed to "
            "work on it.",
            user=starter.name,
        )

    def _send_pending(self, run):
        """Send the class of the run's own slot, then take over the class of
        any other slot that is free (its sender ended or died), claims left
        without an outcome settled first."""
        cr = self.env.cr
        count = run.senders
        for step in range(count):
            if run.over():
                return
            slot = (run.own_slot + step) % count
            if not step:
                self._send_class(run)
                continue
            if not self._try_lock_sending(slot):
                continue  # its sender is at work
            run.slot = slot
            try:
                # a snapshot taken after the lock: it sees the last commit of
                # the slot's sender that died (a dead worker's backend may
                # commit its last statement just before it ends)
                cr.commit()
                self._settle_interrupted_deliveries(slot)
                cr.commit()
                self._send_class(run)
            except BudgetExhausted:
                cr.commit()  # the outcome of the last e-mail, before unlocking
                raise
            finally:
                run.slot = run.own_slot
                self._unlock_sending(slot)

    def _send_class(self, run):
        """Send to the pending recipients of ``run.slot``'s class."""
        Recipient = self.env["serial.correspondence.recipient"]
        cr = self.env.cr
        while not run.over():
            if run.check_stop():
                return
            cr.execute(
                SQL(
                    """
                    SELECT id FROM serial_correspondence_recipient
                     WHERE correspondence_id = %(correspondence)s
                       AND state = 'pending' AND send_started_at IS NULL
                       AND mod(id, %(senders)s) = %(slot)s
                       AND NOT id = ANY(%(skipped)s::int[])
                     ORDER BY id
                     LIMIT %(limit)s
                    """,
                    correspondence=self.id,
                    senders=run.senders,
                    slot=run.slot,
                    skipped=list(run.skipped),
                    limit=run.batch_size,
                )
            )
            ids = [row[0] for row in cr.fetchall()]
            # with the user's rights (record rules), as the ORM reads them
            batch = Recipient.search([("id", "in", ids)], order="id")
            if not batch:
                return
            self._send_batch(batch, run)

    def _wait(self, resume_at, reason):
        """Wait until ``resume_at`` (UTC); a job is planned for then.
        ``reason`` is a lazy translation: it is kept in every language."""
        self._apply_event("throttle")
        self._internal_write({"resume_at": resume_at})
        write_text(self, "waiting_reason", in_all_languages(self.env, reason))
        self._enqueue_send(eta=resume_at)
        self.env.cr.commit()
        return _(
            "Waiting until %(time)s: %(reason)s",
            time=resume_at.isoformat(),
            reason=self.env._(reason),
        )

    def _wait_after_temporary_failure(self, failure):
        delay = min(
            max(
                self.retry_delay * 2,
                setting(self.env, "retry_delay_seconds", DEFAULT_RETRY_DELAY),
            ),
            MAX_RETRY_DELAY,
        )
        self._internal_write({"retry_delay": delay})
        # a problem of the mail server's settings, a lost connection: the
        # failure says what the administrator can do (tools/smtp_delivery.py)
        reason = failure.reason or _lt(
            "The mail server asked to try again later: %(answer)s", answer=str(failure)
        )
        self.message_post(body=self.env._(reason), subtype_xmlid="mail.mt_note")
        return self._wait(
            datetime.datetime.utcnow().replace(microsecond=0)
            + datetime.timedelta(seconds=delay),
            reason,
        )

    def _fair_share(self, mail_server_id):
        """How many e-mails this run may send before it lets the others go.

        With a limit, every serial e-mail that is sending or waiting gets an
        equal part of the window's budget (at least one e-mail), never more
        than is left; the send jobs queue in order, so they take turns.
        Without a limit there is no share (None)."""
        Log = self.env["serial.correspondence.send.log"]
        max_emails = Log._limits(mail_server_id)[0]
        if not max_emails:
            return None
        share = math.ceil(max_emails / self._competing_emails())
        return max(min(share, Log._remaining(mail_server_id)), 1)

    def _competing_emails(self):
        """How many serial e-mails are sending or waiting (at least 1);
        serial letters being printed take nothing of the e-mail budget."""
        return max(
            self.sudo().search_count(
                [("kind", "=", "email"), ("state", "in", ("in_progress", "waiting"))]
            ),
            1,
        )

    def _sends_alone(self, mail_server_id):
        """Whether only the lead sender (slot 0) sends now: while other serial
        e-mails share a sending limit with this one, each takes its turn over
        one connection (its whole fair share in one job, so the turns stay
        even); the other senders stand down and the lead takes over their
        classes. Alone or without a limit, all connections send. Read from
        the database at every job: it changes as others start and end."""
        return bool(
            self.env["serial.correspondence.send.log"]._limits(mail_server_id)[0]
        ) and (self._competing_emails() > 1)

    @api.model
    def _wake_waiting(self):
        """Let waiting serial e-mails go on now (e.g. the limits were raised);
        a job that still finds no room plans the next try itself."""
        for record in self.search([("state", "=", "waiting")]):
            # the job runs as the user who started sending, never as the
            # superuser who may have called this
            record.with_user(
                record.processing_user_id or record.user_id
            )._enqueue_send()

    def _pending_recipients_exist(self, exclude=()):
        domain = [("correspondence_id", "=", self.id), ("state", "=", "pending")]
        if exclude:
            domain.append(("id", "not in", list(exclude)))
        return bool(
            self.env["serial.correspondence.recipient"].search_count(domain, limit=1)
        )

    def _send_batch(self, batch, run):
        """Evaluate a batch of recipients and send to the ones allowed."""
        outcome, rendered = self._evaluate_recipients(batch)
        self._record_evaluation(outcome)
        # everything the sending loop needs, as plain values: each commit
        # below empties the ORM cache, the loop reads nothing back
        emails = [
            self._outgoing_email(recipient, *rendered[recipient.partner_id.id])
            for recipient in batch
            if recipient not in outcome
        ]
        self.env.cr.commit()
        for index, email in enumerate(emails):
            if run.over():
                break
            # BudgetExhausted and TemporaryDeliveryFailure leave no outcome
            # unrecorded: the claim that raises them records the previous one
            following = emails[index + 1] if index + 1 < len(emails) else None
            run.deliver(email, following)
        run.record_outcome()
        self.env.invalidate_all()

    def _outgoing_email(self, recipient, subject, body):
        """The e-mail for one recipient, as plain values."""
        partner = recipient.partner_id
        email = email_normalize(partner.email)
        headers = {}
        if self.purpose == "advertising":
            footer, unsubscribe_headers = self._unsubscribe_parts(partner)
            body = Markup(body or "") + footer
            headers.update(unsubscribe_headers)
        # with tracking (opt-in): pixel and short links in the e-mail only;
        # the contact's history keeps the e-mail without them
        history_body = ""
        if self.tracking_enabled:
            history_body = str(body or "")
            body = self._tracked_body(recipient.id, body)
        return OutgoingEmail(
            recipient_id=recipient.id,
            partner_id=partner.id,
            record_name=partner.display_name,
            email_to=formataddr((one_line(partner.name), email)),
            domain=email_domain(email),
            subject=one_line(subject),
            body=str(body or ""),
            headers={key: value for key, value in headers.items() if value},
            history_body=history_body,
        )

    def _email_attachments(self):
        """The files sent with every e-mail (and kept with each copy in the
        contacts' history): the template's attachments. A seam for more."""
        return self.template_id.attachment_ids

    def _history_copies(self):
        """The e-mails' copies for the contacts' history in a sending run
        (``tools/history_copy.py``): each sanitized (``_sanitized_body``)
        below a line that links to this correspondence (``_history_link``),
        from the template's shape in each installed language where an
        e-mail fits it."""
        shapes = []
        template = self.template_id
        partner_id = self.env.user.partner_id.id
        Render = self.env["mail.render.mixin"]
        sources = {
            template.with_context(lang=code).body_html
            for code, _name in self.env["res.lang"].get_installed()
        }
        for source in filter(None, sources):
            # as Odoo's regex rendering fills it in
            for text in dict.fromkeys(normalized_for_regex(source) or ()):
                shaped, markers = marked(text, PLACEHOLDER)
                if markers:
                    shaped = Render._render_template_postprocess(
                        "res.partner", {partner_id: Markup(shaped)}
                    )[partner_id]
                    shapes.append((str(shaped), markers))
        return HistoryCopies(self._sanitized_body, str(self._history_link()), shapes)

    def _sanitized_body(self, body):
        """``body`` sanitized exactly as the ORM sanitizes
        ``mail.message.body`` (the history copy is inserted with SQL, past
        the ORM; the preview shows what it keeps)."""
        Message = self.env["mail.message"]
        return str(Message._fields["body"].convert_to_cache(body or "", Message) or "")

    def _unsubscribe_parts(self, partner):
        """The unsubscribe footer of the body and the RFC 8058 one-click
        headers for an advertising e-mail to ``partner``."""
        url = self.env["res.partner"]._serial_unsubscribe_url(partner)
        footer = Markup(
            '<p style="font-size: 12px; color: #666;">%s <a href="%s">%s</a></p>'
        ) % (
            _("You receive this e-mail because you agreed to receive our news."),
            url,
            _("Unsubscribe"),
        )
        return footer, {
            "List-Unsubscribe": f"<{url}>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
        }

    def _settle_interrupted_deliveries(self, slot):
        """Recipients claimed under ``slot`` by a sender that died: their
        delivery is unknown. The caller holds the slot's lock (no live
        sender's claim is touched)."""
        domain = [
            ("correspondence_id", "=", self.id),
            ("state", "=", "pending"),
            ("send_started_at", "!=", False),
        ]
        if slot:
            domain.append(("send_slot", "=", slot))
        else:
            # claims from before there were several senders have no slot
            domain += ["|", ("send_slot", "=", 0), ("send_slot", "=", False)]
        interrupted = self.env["serial.correspondence.recipient"].search(domain)
        # the mark stays: it keeps the recipient out of "Send e-mails" again
        interrupted._internal_write(
            {"state": "error", "processed_at": fields.Datetime.now()}
        )
        interrupted._write_reason(self._delivery_unknown_reason())

    def _settle_free_slots(self):
        """Settle the claims of every slot no sender is at work in (its lock
        is free, or held by this job): what senders that died left."""
        cr = self.env.cr
        cr.execute(
            SQL(
                "SELECT DISTINCT COALESCE(send_slot, 0) "
                "FROM serial_correspondence_recipient "
                "WHERE correspondence_id = %s AND state = 'pending' "
                "AND send_started_at IS NOT NULL",
                self.id,
            )
        )
        for (slot,) in cr.fetchall():
            if senders.try_lock_slots_for_transaction(cr, self.id, [slot]):
                self._settle_interrupted_deliveries(slot)

    def _delivery_unknown_reason(self):
        """In every language (a ``Text``)."""
        return in_all_languages(
            self.env,
            _lt(
                "Delivery unknown after an interruption: the e-mail may or may "
                "not have reached this contact. It is not sent again unless you "
                "choose 'Send again' for this recipient."
            ),
        )

    def _finish_sending(self):
        self._drop_sender_checks()
        counts = self._recipient_counts()
        self._internal_write(
            {"job_uuid": False, "resume_at": False, "waiting_reason": False}
        )
        self._apply_event(
            workflow.outcome_event(self.kind, counts["excluded"], counts["error"])
        )
        self.message_post(
            body=_(
                "Sending finished: %(sent)s sent, %(excluded)s excluded, "
                "%(error)s with errors.",
                sent=counts["sent"],
                excluded=counts["excluded"],
                error=counts["error"],
            ),
            subtype_xmlid="mail.mt_note",
        )

    def _recipient_counts(self):
        self.invalidate_recordset()
        return {
            "sent": self.sent_count,
            "excluded": self.excluded_count,
            "error": self.error_count,
            "pending": self.pending_count,
        }

    # ------------------------------------------------------------------
    # the senders' locks (tools/senders.py)
    # ------------------------------------------------------------------

    def _try_lock_sending(self, slot=0):
        return senders.try_lock_slot(self.env.cr, self.id, slot)

    def _unlock_sending(self, slot=0):
        """Release the lock, also after an error: the connection goes back to
        the pool and would keep a session lock forever."""
        cr = self.env.cr
        try:
            senders.unlock_slot(cr, self.id, slot)
        except psycopg2.Error:
            cr.rollback()
            senders.unlock_slot(cr, self.id, slot)
