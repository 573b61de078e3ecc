"""One run of the send job: the crash-safety invariant of sending, in one
place.

THE RULE. Before a message is handed to the mail server, its recipient's
claim (``send_started_at``) is committed; the outcome of the hand-over (sent
or refused, with the contact's history copy and the budget row dated when the
server took it) is committed before, or together with, the next recipient's
claim. So after a crash at any point at most one recipient is claimed without
an outcome: the next run cannot know whether that message left and reports
"delivery unknown" (``_settle_interrupted_deliveries``) instead of sending it
again. A message the server did not take (4xx, a connection dropped before
the final dot was sent) gives its claim and budget back (``_release``)
before the run stops to wait. A message sent up to its final dot whose
answer never came (the connection reset or timed out) may have been
delivered: it is recorded at once as "delivery unknown" and keeps its claim,
and the run stops to wait. A refusal no recipient can help (a login wanted
or refused, the sender refused) is no recipient's error either: the claim is
given back and the run waits with the reason for the administrator.

Everything that reads or writes a claim or an outcome is in ``SendRun``,
with its SQL. Plain SQL on purpose, one statement and one commit per e-mail:
the commit is what makes sending crash-safe, and the ORM's cost per e-mail
(reading back after every commit, sanitising again what the template
rendered) is what made it slow. The history copy is sanitized as the ORM
would (``_history_copies``) while the mail server takes in the message.

Several senders may send one correspondence at once (``tools/senders.py``):
each claims only recipients of its slot's class and records its slot with
the claim, so the rule holds per sender.

The run also knows what it may do: how long (``send_slice_seconds``), how
many (its fair share of the sending budget), which recipients wait for
their domain's limit, and whether it must stop ("Stop": the correspondence's
``stop_requested``, or a newer ``send_run``). That is read from the database,
never from memory (several Odoo servers run the jobs): before each batch,
and with every claim, whose statement claims nobody once a stop is asked
for; the e-mail under way is finished and its outcome recorded. The storm
brake pulled by the mail gateway (``storm_brake_requested``) stops it the
same way. The budget
itself is counted and reserved under a database lock by
``serial.correspondence.send.log`` (several Odoo servers share it).
"""

# pylint: disable=invalid-commit

import datetime
import smtplib
import time
from email.utils import parseaddr

from odoo.tools import SQL
from odoo.tools.translate import LazyTranslate

from odoo.addons.base.models.ir_mail_server import MailDeliveryException

from .settings import setting
from .smtp_delivery import AddressNotSupported, TemporaryDeliveryFailure, smtp_answer
from .texts import in_all_languages

_lt = LazyTranslate(__name__)

DEFAULT_SEND_BATCH_SIZE = 200
DEFAULT_SEND_SLICE_SECONDS = 60.0


class BudgetExhausted(Exception):
    """The sending limits allow no more e-mails until ``resume_at``."""

    def __init__(self, resume_at):
        super().__init__(resume_at)
        self.resume_at = resume_at


class SendRun:
    """One job run sending a serial e-mail through ``delivery`` (an
    ``SmtpDelivery``): claims, hand-overs and outcomes, and the limits of
    the run."""

    def __init__(self, correspondence, delivery, slot=0):
        env = correspondence.env
        self.correspondence = correspondence
        self.env = env
        self.cr = env.cr
        self.delivery = delivery
        self.sent = 0
        # None, or why the run stops: "requested" (the user stopped it; this
        # run records the outcome), "braked" (the storm brake: too many soft
        # bounces), "paused" (another sender made the correspondence wait)
        # or "superseded" (a newer run, or the workflow, has taken over:
        # this run just ends)
        self.stopped = None
        self.run_number = correspondence.send_run
        # the sender's slot whose class it is sending (tools/senders.py;
        # changes when it takes over a free class) and how many there are
        self.slot = slot
        self.own_slot = slot
        self.senders = max(correspondence.send_connections, 1)
        self.skipped = set()
        self.domain_resume_at = None
        # the last hand-over, until its outcome is recorded
        self.outcome = None
        self.batch_size = setting(
            env, "send_batch_size", DEFAULT_SEND_BATCH_SIZE, minimum=1
        )
        self.deadline = time.monotonic() + setting(
            env, "send_slice_seconds", DEFAULT_SEND_SLICE_SECONDS, float
        )
        # the correspondence's fair share, split among its senders; while
        # others share the limit, the lead sends it alone (``_sends_alone``)
        share = correspondence._fair_share(delivery.mail_server_id)
        self.alone = not slot and correspondence._sends_alone(delivery.mail_server_id)
        if share is None:
            self.quota = None
        elif self.alone:
            self.quota = share
        else:
            self.quota = max(-(-share // self.senders), 1)
        # read once per run: a change of the limits applies from the next job
        self.log = env["serial.correspondence.send.log"]
        self.limits = self.log._limits(delivery.mail_server_id)
        self.limited = bool(self.limits[0] or self.limits[2])
        self.subtype_id = env["ir.model.data"]._xmlid_to_res_id("mail.mt_note")
        self.author_id = env.user.partner_id.id
        self.history = correspondence._history_copies()

    # -- what the run may do ---------------------------------------------------

    def over(self):
        # the slice's time ends a run only once it has sent something: a run
        # always gets on (also with a slice set to 0 or less, or shorter
        # than evaluating one batch takes)
        return (
            self.stopped is not None
            or (self.sent > 0 and time.monotonic() >= self.deadline)
            or (self.quota is not None and self.sent >= self.quota)
        )

    def check_stop(self):
        """Read from the database whether this run must stop; True if so."""
        self.cr.execute(
            SQL(
                "SELECT send_run, stop_requested, storm_brake_requested, state "
                "FROM serial_correspondence WHERE id = %s",
                self.correspondence.id,
            )
        )
        row = self.cr.fetchone()
        if not row or row[0] != self.run_number:
            self.stopped = "superseded"
        elif row[1]:
            self.stopped = "requested"
        elif row[2]:
            self.stopped = "braked"
        elif row[3] != "in_progress":
            self.stopped = "paused"
        return self.stopped is not None

    def skip(self, recipient_id, resume_at):
        """Leave ``recipient_id`` for a later run: its domain's limit."""
        self.skipped.add(recipient_id)
        if self.domain_resume_at is None or resume_at < self.domain_resume_at:
            self.domain_resume_at = resume_at

    # -- the invariant ------------------------------------------------------------

    def deliver(self, email, following=None):
        """Claim ``email``'s recipient (committed), hand the e-mail to the
        mail server, and keep its outcome for the next commit.

        While the mail server takes in ``email`` (the wait for its final
        answer), the message of ``following`` is built: the server's work
        and ours overlap. Nothing of ``following`` is sent before its own
        claim is committed.

        Raises BudgetExhausted (nothing claimed) and TemporaryDeliveryFailure
        (the claim given back)."""
        delivery = self.delivery
        delivery.session()  # connect before claiming: nothing is lost
        if email.envelope is None:
            delivery.prepare(email)
        if not self._claim(email):
            # a stop claims nobody: find out whether that was the reason
            self.check_stop()
            return
        try:
            delivery.hand_over(email)
        except smtplib.SMTPServerDisconnected as error:
            # the final dot was not sent: the server cannot have the message
            self._release(email)
            delivery.reset()
            raise delivery.connection_lost(error) from error
        except TemporaryDeliveryFailure:
            self._release(email)
            raise
        except MailDeliveryException as error:
            self._refused(email, error)
        else:
            # while the server takes the message in: its copy for the
            # contact's history (without the tracking only the e-mail itself
            # has: ``history_body`` when set), and the next message
            email.history_body = self.history.sanitized(
                email.history_body or email.body
            )
            if following is not None:
                delivery.prepare(following, quiet=True)
            try:
                delivery.finish(email)
            except smtplib.SMTPServerDisconnected as error:
                # sent up to the final dot, the answer lost (reset, timeout):
                # the server may have delivered it; never send it again
                delivery.reset()
                self._delivery_unknown(email)
                raise delivery.answer_lost(error) from error
            except MailDeliveryException as error:
                self._refused(email, error)
            else:
                email.outcome = ("sent", False)
        email.handed_over_at = datetime.datetime.utcnow()
        self.outcome = email
        self.sent += 1

    def _refused(self, email, error):
        """The server refused ``email`` (``MailDeliveryException``): wait
        when no recipient can help (4xx, a login or sender problem; the claim
        given back), else it is this recipient's error."""
        code, answer = smtp_answer(error)
        problem = self.delivery.configuration_problem(error)
        if problem is not None:
            self._release(email)
            raise TemporaryDeliveryFailure(answer, reason=problem) from error
        if code and 400 <= code < 500:
            self._release(email)
            raise TemporaryDeliveryFailure(answer) from error
        if isinstance(error.__cause__, AddressNotSupported):
            reason = _lt(
                "The address %(address)s has characters other than ASCII before "
                "the @, and the mail server does not accept such addresses (it "
                "does not offer SMTPUTF8). Ask the contact for another address, "
                "or send through a mail server that offers SMTPUTF8.",
                address=parseaddr(email.email_to)[1] or email.email_to,
            )
        else:
            reason = _lt(
                "The mail server refused the e-mail: %(answer)s", answer=answer
            )
        email.outcome = ("error", in_all_languages(self.env, reason))

    def _delivery_unknown(self, email):
        """Record at once that ``email``'s delivery is unknown: an error
        that keeps its claim (not sent again unless the user chooses 'Send
        again') and its budget row (it may have gone out)."""
        email.outcome = (
            "error",
            self.correspondence._delivery_unknown_reason(),
        )
        email.delivery_unknown = True
        email.handed_over_at = datetime.datetime.utcnow()
        self.outcome = email
        self.sent += 1
        self.record_outcome()

    def record_outcome(self):
        """Write and commit the outcome of the last hand-over, if any."""
        if self.outcome:
            self.cr.execute(self._outcome_sql())
            self.outcome = None
        self.cr.commit()

    def _claim(self, email):
        """Record the previous hand-over's outcome, take one e-mail of the
        sending budget, mark ``email``'s recipient as being delivered, and
        commit: one transaction per e-mail. False when the recipient is not
        claimed (another run got to it first, or its domain has used up its
        share: then it is skipped for this run).

        Raises BudgetExhausted when the limits allow no more e-mails now."""
        cr = self.cr
        now = datetime.datetime.utcnow()
        if not self.limited:
            # outcome, claim and budget row in one round trip
            claim = self._claim_with_budget_row_sql(email, now)
            if self.outcome:
                claim = SQL("%s;\n%s", self._outcome_sql(), claim)
                self.outcome = None
            cr.execute(claim)
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
        if self.outcome:
            cr.execute(self._outcome_sql())
            self.outcome = None
        reserved = self.log._reserve(
            self.correspondence,
            self.delivery.mail_server_id,
            email.domain,
            limits=self.limits,
        )
        if isinstance(reserved, tuple):
            resume_at, scope = reserved
            if scope == "global":
                raise BudgetExhausted(resume_at)
            self.skip(email.recipient_id, resume_at)
            return False
        email.log_id = reserved
        cr.execute(self._claim_sql(email))
        if not cr.fetchone():
            self.log._release(email.log_id)
            return False
        cr.commit()
        return True

    def _release(self, email):
        """Undo the claim of a message the server did not take, and give its
        e-mail back to the budget."""
        cr = self.cr
        cr.rollback()
        cr.execute(
            SQL(
                "UPDATE serial_correspondence_recipient SET send_started_at = NULL "
                "WHERE id = %s AND state = 'pending'",
                email.recipient_id,
            )
        )
        self.log._release(email.log_id)
        cr.commit()
        self.env.invalidate_all()

    # -- the statements ---------------------------------------------------------------

    def _claim_sql(self, email):
        """The claim: the mark that the recipient's delivery has started;
        nobody is claimed once this run is to stop (or to brake)."""
        return SQL(
            """
            UPDATE serial_correspondence_recipient
               SET send_started_at = now() AT TIME ZONE 'UTC',
                   send_slot = %(slot)s
             WHERE id = %(recipient)s AND state = 'pending'
               AND send_started_at IS NULL
               AND EXISTS (
                   SELECT 1 FROM serial_correspondence
                    WHERE id = %(correspondence)s AND send_run = %(run)s
                      AND state = 'in_progress'
                      AND stop_requested IS NOT TRUE
                      AND storm_brake_requested IS NOT TRUE
               )
            RETURNING id
            """,
            recipient=email.recipient_id,
            correspondence=self.correspondence.id,
            run=self.run_number,
            slot=self.slot,
        )

    def _claim_with_budget_row_sql(self, email, now):
        """Without limits: the claim and its budget row (the limits may be set
        later, and then count what was sent before)."""
        return SQL(
            """
            WITH claimed AS (%(claim)s)
            INSERT INTO serial_correspondence_send_log
                (sent_at, mail_server_id, email_domain, correspondence_id)
            SELECT %(at)s, %(server)s, %(domain)s, %(correspondence)s
              FROM claimed
            RETURNING id
            """,
            claim=self._claim_sql(email),
            at=now,
            server=self.delivery.mail_server_id or None,
            domain=email.domain,
            correspondence=self.correspondence.id,
        )

    def _outcome_sql(self):
        """The outcome of the last hand-over: the recipient's state and
        reason, the moment the server took the e-mail (it dates the budget
        row), and, when sent, the e-mail in the contact's history with the
        Message-Id it went out with (and its attachments)."""
        email = self.outcome
        state, reason = email.outcome
        delivery = self.delivery
        return SQL(
            """
            WITH message AS (
                INSERT INTO mail_message
                    (model, res_id, record_name, message_type, subtype_id,
                     author_id, email_from, reply_to, subject, body, message_id,
                     mail_server_id, is_internal, email_add_signature,
                     reply_to_force_new, date,
                     create_uid, create_date, write_uid, write_date)
                SELECT 'res.partner', %(partner)s, %(name)s, 'email_outgoing',
                       %(subtype)s, %(author)s, %(email_from)s, %(reply_to)s,
                       %(subject)s, %(body)s, %(message_id)s, %(server)s,
                       FALSE, FALSE, FALSE, %(at)s,
                       %(uid)s, %(at)s, %(uid)s, %(at)s
                 WHERE %(sent)s
                RETURNING id
            ), attached AS (
                INSERT INTO message_attachment_rel (message_id, attachment_id)
                SELECT message.id, attachment_id
                  FROM message, unnest(%(attachments)s::int[]) AS attachment_id
            ), confirmed AS (
                UPDATE serial_correspondence_send_log
                   SET sent_at = %(at)s
                 WHERE id = %(log)s
            )
            UPDATE serial_correspondence_recipient
               SET state = %(state)s, reason = %(reason)s, processed_at = %(at)s,
                   send_started_at = CASE WHEN %(keep_claim)s
                                          THEN send_started_at END,
                   message_id = (SELECT id FROM message),
                   write_uid = %(uid)s, write_date = %(at)s
             WHERE id = %(recipient)s
            """,
            recipient=email.recipient_id,
            state=state,
            reason=reason.jsonb() if reason else None,
            sent=state == "sent",
            keep_claim=email.delivery_unknown,
            at=email.handed_over_at,
            log=email.log_id,
            partner=email.partner_id,
            name=email.record_name,
            subtype=self.subtype_id,
            author=self.author_id,
            email_from=delivery.email_from,
            reply_to=delivery.reply_to,
            subject=email.subject,
            body=email.history_body,
            attachments=delivery.attachment_ids,
            message_id=email.message_id,
            server=delivery.mail_server_id or None,
            uid=self.env.uid,
        )
