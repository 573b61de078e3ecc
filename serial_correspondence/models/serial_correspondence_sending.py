# Copyright 2026 serial_correspondence authors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""Sending a serial e-mail: crash-safe, never twice.

The send job owns its transaction (``allow_commit`` on its job function) and
keeps one invariant: before a message is handed to the mail server, the
recipient's ``send_started_at`` is committed; the outcome (sent / error) is
committed before, or with, the next recipient's claim. After a crash at any point at
most one recipient is still marked as started without an outcome: the next
run cannot know whether that message left, so it reports "delivery unknown"
instead of sending it again. Only one worker sends a given correspondence at a
time (a PostgreSQL advisory lock, released when its connection ends).

The commits below are the point of this job (its job function has
``allow_commit``, so queue_job gives it a transaction of its own).

Speed: one statement and one commit per e-mail, no ORM work inside the loop,
and the e-mail is handed to the server in two halves (``_SmtpSender``): while
the server takes in one message, the next one is built. The messages are
built exactly as Odoo's mail queue builds its mails (``build_email``,
``_prepare_email_message`` on Odoo's SMTP session).
"""

# pylint: disable=invalid-commit

import copy
import dataclasses
import datetime
import io
import logging
import math
import re
import smtplib
import time
from email.generator import BytesGenerator

import psycopg2
from markupsafe import Markup

from odoo import _, api, fields, models, modules
from odoo.exceptions import UserError
from odoo.tools import SQL, email_normalize, formataddr, html2plaintext
from odoo.tools.mail import generate_tracking_message_id

from odoo.addons.base.models.ir_mail_server import MailDeliveryException
from odoo.addons.queue_job.exception import RetryableJobError

from . import workflow
from .ir_mail_server import run_mail_defaults
from .serial_correspondence import JOB_MAX_RETRIES

_logger = logging.getLogger(__name__)

SEND_CHANNEL = "root.serial_correspondence"
# first key of the advisory lock that lets one worker send a correspondence
SEND_LOCK_NAMESPACE = 0x5C05E
DEFAULT_SEND_BATCH_SIZE = 200
DEFAULT_SEND_SLICE_SECONDS = 60.0
# seconds to wait before trying again after a temporary refusal; doubled
# after each further one, up to the maximum
DEFAULT_RETRY_DELAY = 60
MAX_RETRY_DELAY = 3600


# The statements of the sending loop, run once per e-mail. Plain SQL on
# purpose: one commit per e-mail is what makes sending crash-safe, and the
# ORM's cost per e-mail (reading back after every commit, sanitising again
# what the template rendered) is what made it slow.
#
# The outcome of a hand-over: the recipient's state and reason, the moment the
# server took the e-mail (it dates the budget row), and, when sent, the e-mail
# in the contact's history with the Message-Id it went out with.
_OUTCOME = """
WITH message AS (
    INSERT INTO mail_message
        (model, res_id, record_name, message_type, subtype_id, author_id,
         email_from, reply_to, subject, body, message_id, mail_server_id,
         is_internal, email_add_signature, reply_to_force_new, date,
         create_uid, create_date, write_uid, write_date)
    SELECT 'res.partner', %(partner)s, %(name)s, 'email_outgoing', %(subtype)s,
           %(author)s, %(email_from)s, %(email_from)s, %(subject)s, %(body)s,
           %(message_id)s, %(server)s, FALSE, FALSE, FALSE, %(at)s,
           %(uid)s, %(at)s, %(uid)s, %(at)s
     WHERE %(sent)s
    RETURNING id
), attached AS (
    INSERT INTO message_attachment_rel (message_id, attachment_id)
    SELECT message.id, attachment_id
      FROM message, unnest(%(attachments)s::int[]) AS attachment_id
), confirmed AS (
    UPDATE serial_correspondence_send_log SET sent_at = %(at)s WHERE id = %(log)s
)
UPDATE serial_correspondence_recipient
   SET state = %(state)s, reason = %(reason)s, processed_at = %(at)s,
       send_started_at = NULL, message_id = (SELECT id FROM message),
       write_uid = %(uid)s, write_date = %(at)s
 WHERE id = %(recipient)s
"""
# The claim: the mark that the recipient's delivery has started.
_CLAIM_ONLY = """
UPDATE serial_correspondence_recipient
   SET send_started_at = now() AT TIME ZONE 'UTC'
 WHERE id = %(claim_recipient)s AND state = 'pending' AND send_started_at IS NULL
RETURNING id
"""
# Without limits: the claim and its budget row (the limits may be set later).
_CLAIM = f"""
WITH claimed AS ({_CLAIM_ONLY})
INSERT INTO serial_correspondence_send_log
    (sent_at, mail_server_id, email_domain, correspondence_id)
SELECT %(claim_at)s, %(claim_server)s, %(claim_domain)s, %(claim_correspondence)s
  FROM claimed
RETURNING id
"""
_OUTCOME_THEN_CLAIM = f"{_OUTCOME};\n{_CLAIM}"


class TemporaryDeliveryFailure(Exception):
    """The mail server asked to try again later (4xx, dropped connection)."""


class BudgetExhausted(Exception):
    """The sending limits allow no more e-mails until ``resume_at``."""

    def __init__(self, resume_at):
        super().__init__(resume_at)
        self.resume_at = resume_at


class SerialCorrespondence(models.Model):
    _inherit = "serial.correspondence"

    send_run = fields.Integer(readonly=True, copy=False)
    resume_at = fields.Datetime(
        string="Sending continues at",
        readonly=True,
        copy=False,
        help="While waiting: when sending continues by itself.",
    )
    waiting_reason = fields.Char(readonly=True, copy=False)
    retry_delay = fields.Integer(readonly=True, copy=False)

    def _processing_fields(self):
        return super()._processing_fields() | {
            "send_run",
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
            {"send_run": self.send_run + 1, "processing_user_id": self.env.uid}
        )
        self._enqueue_send()
        return True

    def action_finalize(self):
        """Finalize: nothing of the correspondence can change any more."""
        for record in self:
            record._apply_event("finalize")
        return True

    def _check_ready_to_send(self):
        if missing := self._missing_to_start():
            raise UserError(
                _(
                    "Before sending, give %(name)s %(missing)s.",
                    name=self.display_name,
                    missing=missing,
                )
            )
        self._check_template_model(self.template_id.ids)
        if not email_normalize(self.email_from or ""):
            raise UserError(
                _(
                    "The sender '%(sender)s' is not a valid e-mail address.",
                    sender=self.email_from or "",
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

    def _enqueue_send(self, eta=None):
        """Queue the next send job (at ``eta``, a UTC datetime, if given)."""
        wake = eta.isoformat(timespec="seconds") if eta else "now"
        job = self.with_delay(
            channel=SEND_CHANNEL,
            eta=eta,
            description=_("Send serial e-mail %(name)s", name=self.display_name),
            max_retries=JOB_MAX_RETRIES,
            identity_key=f"serial_correspondence_send-{self.id}-{self.send_run}-{wake}",
        )._send_emails(self.send_run)
        uuid = getattr(job, "uuid", None)
        if uuid:
            self._internal_write({"job_uuid": uuid})

    @api.model
    def _send_setting(self, name, default, cast=int):
        value = (
            self.env["ir.config_parameter"]
            .sudo()
            .get_param(f"serial_correspondence.{name}")
        )
        try:
            return cast(value) if value else default
        except ValueError:
            return default

    def _send_emails(self, send_run):
        """Job: send to the pending recipients for a while, then hand over to
        the next job; the last one records the outcome. When the sending
        limits are used up or the mail server asks to wait, the
        correspondence waits and a job is planned for when it may go on: no
        worker waits."""
        self.ensure_one()
        if self.send_run != send_run or self.state not in ("in_progress", "waiting"):
            return _("Nothing to do: this sending run is over.")
        if not self._try_lock_sending():
            raise RetryableJobError(
                _("Another worker is sending this serial e-mail."),
                seconds=5,
                ignore_retry=True,
            )
        cr = self.env.cr
        sender = _SmtpSender(self)
        try:
            if self.state == "waiting":
                self._apply_event("resume")
                self._internal_write({"resume_at": False, "waiting_reason": False})
            self._settle_interrupted_deliveries()
            cr.commit()
            run = _SendRun(self, sender)
            try:
                self._send_pending(run)
            except BudgetExhausted as exhausted:
                cr.commit()  # the outcomes so far; nothing was reserved
                return self._wait(
                    exhausted.resume_at, _("The sending limit is reached.")
                )
            except TemporaryDeliveryFailure as failure:
                cr.commit()  # the outcomes so far; the claim was released
                return self._wait_after_temporary_failure(failure)
            if self.retry_delay:
                self._internal_write({"retry_delay": 0})
            if run.skipped and not self._pending_recipients_exist(exclude=run.skipped):
                return self._wait(
                    run.domain_resume_at,
                    _("The limit per recipient domain is reached."),
                )
            if self._pending_recipients_exist():
                self._enqueue_send()
                cr.commit()
                return _("Sent %(count)s, continuing in a new job.", count=run.sent)
            self._finish_sending()
            cr.commit()
            return _("Sending finished.")
        finally:
            # unlock first: the next job, queued and committed above, may
            # already be starting; saying goodbye to the server is no part
            # of sending
            self._unlock_sending()
            sender.close()

    def _send_pending(self, run):
        Recipient = self.env["serial.correspondence.recipient"]
        while not run.over():
            domain = [
                ("correspondence_id", "=", self.id),
                ("state", "=", "pending"),
                ("send_started_at", "=", False),
            ]
            if run.skipped:
                domain.append(("id", "not in", list(run.skipped)))
            batch = Recipient.search(domain, order="id", limit=run.batch_size)
            if not batch:
                return
            self._send_batch(batch, run)

    def _wait(self, resume_at, reason):
        """Wait until ``resume_at`` (UTC); a job is planned for then."""
        self._apply_event("throttle")
        self._internal_write({"resume_at": resume_at, "waiting_reason": reason})
        self._enqueue_send(eta=resume_at)
        self.env.cr.commit()
        return _(
            "Waiting until %(time)s: %(reason)s",
            time=resume_at.isoformat(),
            reason=reason,
        )

    def _wait_after_temporary_failure(self, failure):
        delay = min(
            max(
                self.retry_delay * 2,
                self._send_setting("retry_delay_seconds", DEFAULT_RETRY_DELAY),
            ),
            MAX_RETRY_DELAY,
        )
        self._internal_write({"retry_delay": delay})
        reason = _(
            "The mail server asked to try again later: %(answer)s", answer=str(failure)
        )
        self.message_post(body=reason, subtype_xmlid="mail.mt_note")
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
        competing = max(
            self.sudo().search_count([("state", "in", ("in_progress", "waiting"))]), 1
        )
        share = math.ceil(max_emails / competing)
        return max(min(share, Log._remaining(mail_server_id)), 1)

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
        for (state, reason), recipients in _group_by_outcome(outcome).items():
            recipients._set_outcome(state, reason)
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
            self._deliver(email, run, following)
        if run.outcome:
            self._record_outcome(run)
        self.env.cr.commit()
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
        return _OutgoingEmail(
            recipient_id=recipient.id,
            partner_id=partner.id,
            record_name=partner.display_name,
            email_to=formataddr((partner.name or "", email)),
            domain=_email_domain(email),
            subject=subject,
            body=str(body or ""),
            headers={key: value for key, value in headers.items() if value},
        )

    def _email_attachments(self):
        """The files sent with every e-mail (and kept with each copy in the
        contacts' history): the template's attachments. A seam for more."""
        return self.template_id.attachment_ids

    def _history_body(self, body):
        """The e-mail's copy for the contact's history, sanitized exactly as
        the ORM sanitizes ``mail.message.body`` (the copy is inserted with
        SQL, past the ORM)."""
        Message = self.env["mail.message"]
        return str(Message._fields["body"].convert_to_cache(body or "", Message) or "")

    def _deliver(self, email, run, following=None):
        """Claim ``email``'s recipient (committed), hand the e-mail to the
        mail server, and keep its outcome for the next commit.

        While the mail server takes in ``email`` (the wait for its final
        answer), the message of ``following`` is built: the server's work
        and ours overlap. Nothing of ``following`` is sent before its own
        claim is committed."""
        sender = run.sender
        sender.session()  # connect before claiming: nothing is lost
        if email.envelope is None:
            sender.prepare(email)
        if not self._claim_for_delivery(email, run):
            return
        try:
            sender.hand_over(email)
            # while the server takes the message in: its copy for the
            # contact's history, and the next message
            email.history_body = self._history_body(email.body)
            if following is not None:
                sender.prepare(following, quiet=True)
            sender.finish(email)
        except smtplib.SMTPServerDisconnected as error:
            self._release_claim(email)
            sender.reset()
            raise TemporaryDeliveryFailure(
                _("the connection was closed: %(error)s", error=error)
            ) from error
        except MailDeliveryException as error:
            code, answer = _smtp_answer(error)
            if code and 400 <= code < 500:
                self._release_claim(email)
                raise TemporaryDeliveryFailure(answer) from error
            email.outcome = (
                "error",
                _("The mail server refused the e-mail: %(answer)s", answer=answer),
            )
        else:
            email.outcome = ("sent", False)
        email.handed_over_at = datetime.datetime.utcnow()
        run.outcome = email
        run.sent += 1

    def _claim_for_delivery(self, email, run):
        """Record the previous hand-over's outcome, take one e-mail of the
        sending budget, mark ``email``'s recipient as being delivered, and
        commit: one transaction per e-mail. False when the recipient is not
        claimed (another run got to it first, or its domain has used up its
        share: then it is skipped for this run, ``run.skipped``).

        Raises BudgetExhausted when the limits allow no more e-mails now."""
        cr = self.env.cr
        claim = {
            "claim_recipient": email.recipient_id,
            "claim_at": datetime.datetime.utcnow(),
            "claim_server": run.sender.mail_server_id or None,
            "claim_domain": email.domain,
            "claim_correspondence": self.id,
        }
        if not run.limited:
            # outcome, claim and budget row in one round trip
            if run.outcome:
                self._record_outcome(run, claim=claim)
            else:
                cr.execute(_CLAIM, claim)
            row = cr.fetchone()
            if not row:
                return False
            email.log_id = row[0]
            cr.commit()
            return True
        # count the budget in a transaction of its own that reads what is
        # committed once the budget lock is granted: under Odoo's REPEATABLE
        # READ the count would use the snapshot taken when the transaction
        # began (before the lock) and miss what other senders reserved
        # meanwhile, going over the limit when several send at once
        cr.commit()
        if not self.env.registry.in_test_mode():
            cr.execute(SQL("SET TRANSACTION ISOLATION LEVEL READ COMMITTED"))
        if run.outcome:
            self._record_outcome(run)
        Log = self.env["serial.correspondence.send.log"]
        reserved = Log._reserve(
            self, run.sender.mail_server_id, email.domain, limits=run.limits
        )
        if isinstance(reserved, tuple):
            resume_at, scope = reserved
            if scope == "global":
                raise BudgetExhausted(resume_at)
            run.skip(email.recipient_id, resume_at)
            return False
        email.log_id = reserved
        cr.execute(_CLAIM_ONLY, claim)
        if not cr.fetchone():
            Log._release(email.log_id)
            return False
        cr.commit()
        return True

    def _record_outcome(self, run, claim=None):
        """Write the outcome of the last hand-over (``run.outcome``), in the
        same statement as the ``claim`` of the next recipient if given."""
        params = self._outcome_params(run.outcome, run)
        if claim:
            self.env.cr.execute(_OUTCOME_THEN_CLAIM, params | claim)
        else:
            self.env.cr.execute(_OUTCOME, params)
        run.outcome = None

    def _outcome_params(self, email, run):
        """The parameters of ``_OUTCOME`` for the hand-over of ``email``."""
        state, reason = email.outcome
        return {
            "recipient": email.recipient_id,
            "state": state,
            "reason": reason or None,
            "sent": state == "sent",
            "at": email.handed_over_at,
            "log": email.log_id,
            "partner": email.partner_id,
            "name": email.record_name,
            "subtype": run.subtype_id,
            "author": run.author_id,
            "email_from": run.sender.email_from,
            "subject": email.subject,
            "body": email.history_body,
            "attachments": run.sender.attachment_ids,
            "message_id": email.message_id,
            "server": run.sender.mail_server_id or None,
            "uid": self.env.uid,
        }

    def _release_claim(self, email):
        """Undo the claim of a message the server did not take, and give its
        e-mail back to the budget."""
        cr = self.env.cr
        cr.rollback()
        cr.execute(
            SQL(
                "UPDATE serial_correspondence_recipient SET send_started_at = NULL "
                "WHERE id = %s AND state = 'pending'",
                email.recipient_id,
            )
        )
        self.env["serial.correspondence.send.log"]._release(email.log_id)
        cr.commit()
        self.env.invalidate_all()

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

    def _settle_interrupted_deliveries(self):
        """Recipients claimed by a run that died: their delivery is unknown."""
        interrupted = self.env["serial.correspondence.recipient"].search(
            [
                ("correspondence_id", "=", self.id),
                ("state", "=", "pending"),
                ("send_started_at", "!=", False),
            ]
        )
        # the mark stays: it keeps the recipient out of "Send e-mails" again
        interrupted._internal_write(
            {
                "state": "error",
                "reason": self._delivery_unknown_reason(),
                "processed_at": fields.Datetime.now(),
            }
        )

    def _delivery_unknown_reason(self):
        return _(
            "Delivery unknown after an interruption: the e-mail may or may "
            "not have reached this contact. It is not sent again unless you "
            "choose 'Send again' for this recipient."
        )

    def _finish_sending(self):
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
    # one sender per correspondence, across workers and servers
    # ------------------------------------------------------------------

    def _try_lock_sending(self):
        self.env.cr.execute(
            SQL("SELECT pg_try_advisory_lock(%s, %s)", SEND_LOCK_NAMESPACE, self.id)
        )
        return self.env.cr.fetchone()[0]

    def _unlock_sending(self):
        """Release the lock, also after an error: the connection goes back to
        the pool and would keep a session lock forever."""
        query = SQL("SELECT pg_advisory_unlock(%s, %s)", SEND_LOCK_NAMESPACE, self.id)
        try:
            self.env.cr.execute(query)
        except psycopg2.Error:
            self.env.cr.rollback()
            self.env.cr.execute(query)


class _SendRun:
    """What one job run may do: how long, how many (its fair share of the
    sending budget), and which recipients wait for their domain's limit;
    and the outcome of its last hand-over, until it is recorded."""

    def __init__(self, correspondence, sender):
        self.sender = sender
        self.sent = 0
        self.skipped = set()
        self.domain_resume_at = None
        self.outcome = None
        self.batch_size = max(
            correspondence._send_setting("send_batch_size", DEFAULT_SEND_BATCH_SIZE), 1
        )
        self.deadline = time.monotonic() + correspondence._send_setting(
            "send_slice_seconds", DEFAULT_SEND_SLICE_SECONDS, float
        )
        self.quota = correspondence._fair_share(sender.mail_server_id)
        # read once per run: a change of the limits applies from the next job
        self.limits = correspondence.env["serial.correspondence.send.log"]._limits(
            sender.mail_server_id
        )
        self.limited = bool(self.limits[0] or self.limits[2])
        env = correspondence.env
        self.subtype_id = env["ir.model.data"]._xmlid_to_res_id("mail.mt_note")
        self.author_id = env.user.partner_id.id

    def over(self):
        return time.monotonic() >= self.deadline or (
            self.quota is not None and self.sent >= self.quota
        )

    def skip(self, recipient_id, resume_at):
        self.skipped.add(recipient_id)
        if self.domain_resume_at is None or resume_at < self.domain_resume_at:
            self.domain_resume_at = resume_at


@dataclasses.dataclass
class _OutgoingEmail:
    """One recipient's e-mail, as plain values, and what became of it."""

    recipient_id: int
    partner_id: int
    record_name: str
    email_to: str
    domain: str
    subject: str
    body: str
    headers: dict
    message_id: str = ""
    history_body: str = ""
    envelope: tuple = None
    log_id: int = 0
    outcome: tuple = ()
    handed_over_at: datetime.datetime = None


class _SmtpSender:
    """One SMTP connection for a whole job run, opened on first use."""

    def __init__(self, correspondence):
        self.env = correspondence.env
        self.email_from = correspondence.email_from
        server, smtp_from = (
            self.env["ir.mail_server"].sudo()._find_mail_server(self.email_from)
        )
        self.mail_server_id = server.id if server else False
        self.smtp_from = smtp_from
        self._session = None
        self._connected = False
        # what Odoo would look up again for every e-mail, once per run: the
        # bounce address (Return-Path) and the notifications address of the
        # correspondence's company (ir_mail_server.py)
        company = correspondence.company_id or self.env.company
        mail_server = self.env["ir.mail_server"].sudo().with_company(company)
        self.headers = {}
        if company.bounce_email:
            self.headers["Return-Path"] = company.bounce_email
        self.mail_server = mail_server
        self.defaults = (
            mail_server._get_default_bounce_address(),
            mail_server._get_default_from_address(),
        )
        # the files that go with every e-mail, read once per run with the
        # user's rights
        attachments = correspondence._email_attachments()
        self.attachment_ids = attachments.ids
        self.attachments = [
            (attachment.name, attachment.raw, attachment.mimetype)
            for attachment in attachments
        ]

    def prepare(self, email, quiet=False):
        """Build ``email``'s message as Odoo builds its mails, with the
        envelope Odoo would use, as the bytes to send (no I/O). With
        ``quiet``, a failure leaves it to be built (and raise) in its turn."""
        try:
            with run_mail_defaults(*self.defaults):
                self._build(email)
        except Exception:
            if not quiet:
                raise
            email.envelope = None

    def _build(self, email):
        email.message_id = generate_tracking_message_id(
            f"{email.partner_id}-res.partner"
        )
        message = self.mail_server.build_email(
            email_from=self.email_from,
            email_to=[email.email_to],
            subject=email.subject,
            body=email.body,
            body_alternative=html2plaintext(email.body),
            message_id=email.message_id,
            subtype="html",
            headers=self.headers | email.headers,
            attachments=self.attachments or None,
        )
        smtp_from, smtp_to_list, message = self.mail_server._prepare_email_message(
            message, self._session
        )
        email.envelope = _envelope(smtp_from, smtp_to_list, message)

    def hand_over(self, email):
        """Send ``email``'s message up to its last line, without waiting for
        the server's answer (``finish``). What smtplib's ``sendmail`` does,
        in two halves; errors as Odoo's ``send_email`` raises them."""
        if modules.module.current_test:  # Odoo never sends while testing
            return
        smtp = self._session
        smtp_from, smtp_to_list, data, options = email.envelope
        try:
            smtp.ehlo_or_helo_if_needed()
            if "SMTPUTF8" in options and not smtp.has_extn("smtputf8"):
                raise smtplib.SMTPNotSupportedError(
                    "The mail server does not accept internationalised addresses "
                    "(SMTPUTF8)."
                )
            if smtp.has_extn("size"):
                options = [f"size={len(data)}", *options]
            code, answer = smtp.mail(smtp_from, options)
            if code != 250:
                _reset(smtp, code)
                raise smtplib.SMTPSenderRefused(code, answer, smtp_from)
            refused = {}
            for address in smtp_to_list:
                code, answer = smtp.rcpt(address)
                if code not in (250, 251):
                    refused[address] = (code, answer)
                if code == 421:
                    smtp.close()
                    raise smtplib.SMTPRecipientsRefused(refused)
            if len(refused) == len(smtp_to_list):
                _reset(smtp, code)
                raise smtplib.SMTPRecipientsRefused(refused)
            smtp.putcmd("data")
            code, answer = smtp.getreply()
            if code != 354:
                _reset(smtp, code)
                raise smtplib.SMTPDataError(code, answer)
            # Odoo's session wraps smtplib's, without its ``send``
            getattr(smtp, "__obj__", smtp).send(_dot_stuffed(data))
        except smtplib.SMTPServerDisconnected:
            raise
        except Exception as error:
            raise _delivery_failed(self.env, error) from error

    def finish(self, email):
        """The server's answer to the message sent by ``hand_over``."""
        if modules.module.current_test:
            return
        smtp = self._session
        try:
            code, answer = smtp.getreply()
            if code != 250:
                _reset(smtp, code)
                raise smtplib.SMTPDataError(code, answer)
        except smtplib.SMTPServerDisconnected:
            raise
        except Exception as error:
            raise _delivery_failed(self.env, error) from error

    def session(self):
        if not self._connected:
            try:
                self._session = (
                    self.env["ir.mail_server"]
                    .sudo()
                    .connect(
                        mail_server_id=self.mail_server_id or None,
                        smtp_from=self.smtp_from,
                    )
                )
            except Exception as error:
                raise TemporaryDeliveryFailure(
                    _("cannot connect to the mail server: %(error)s", error=error)
                ) from error
            self._connected = True
        return self._session

    def reset(self):
        self.close()

    def close(self):
        if self._session is not None:
            try:
                self._session.quit()
            except (smtplib.SMTPException, OSError) as error:
                _logger.debug("SMTP session closed uncleanly: %s", error)
        self._session = None
        self._connected = False


def _email_domain(email):
    normalized = email_normalize(email or "") or ""
    return normalized.rpartition("@")[2] or None


def _envelope(smtp_from, smtp_to_list, message):
    """``(from, to_list, bytes, mail options)`` of ``message`` as smtplib's
    ``send_message`` would send it (UTF-8 addresses need SMTPUTF8)."""
    message = copy.copy(message)
    del message["Bcc"]
    options = []
    # fold header lines at RFC 5322's hard limit only: at the default 78 a
    # header of one long word (the List-Unsubscribe URL) is turned into
    # RFC 2047 encoded-words, which mailbox providers ignore there
    policy = message.policy.clone(max_line_length=998)
    if not "".join([smtp_from, *smtp_to_list]).isascii():
        policy = policy.clone(utf8=True)
        options = ["SMTPUTF8", "BODY=8BITMIME"]
    with io.BytesIO() as buffer:
        BytesGenerator(buffer, policy=policy).flatten(message, linesep="\r\n")
        return smtp_from, smtp_to_list, buffer.getvalue(), options


def _dot_stuffed(data):
    """The message as the DATA command sends it (RFC 5321 4.5.2)."""
    data = re.sub(rb"(?m)^\.", b"..", data)
    if not data.endswith(b"\r\n"):
        data += b"\r\n"
    return data + b".\r\n"


def _reset(smtp, code):
    """After a refusal: close on 421 (the server is going away), else RSET."""
    if code == 421:
        smtp.close()
        return
    try:
        smtp.rset()
    except smtplib.SMTPServerDisconnected as error:
        _logger.debug("SMTP session gone while resetting: %s", error)


def _delivery_failed(env, error):
    """The error Odoo's ``send_email`` raises, caused by ``error``."""
    return MailDeliveryException(
        env._("Mail Delivery Failed"),
        f"{error.__class__.__name__}: {error}",
    )


def _group_by_outcome(outcome):
    """``{recipient: (state, reason)}`` -> ``{(state, reason): recipients}``."""
    groups = {}
    for recipient, key in outcome.items():
        groups[key] = groups.get(key, recipient.browse()) | recipient
    return groups


def _smtp_answer(error):
    """The SMTP code and answer behind a MailDeliveryException, if any."""
    cause = error.__cause__ or error.__context__
    if isinstance(cause, smtplib.SMTPRecipientsRefused):
        code, answer = next(iter(cause.recipients.values()))
        return code, f"{code} {_decode(answer)}"
    if isinstance(cause, smtplib.SMTPResponseException):
        return cause.smtp_code, f"{cause.smtp_code} {_decode(cause.smtp_error)}"
    message = error.args[-1] if error.args else str(error)
    return None, str(message)


def _decode(answer):
    if isinstance(answer, bytes):
        return answer.decode("utf-8", "replace")
    return str(answer)
