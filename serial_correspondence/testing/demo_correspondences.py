# Copyright 2026 serial_correspondence authors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""The demo's serial correspondences, made by the real workflow.

``scripts/setup-and-run.sh`` runs this file in ``odoo shell`` on a new demo
database, so that the first screen shows the product at work: a serial
letter ready to generate, one whose letters were created, one finalized, a
serial e-mail sent with exclusions, one sent to everybody with open and click
tracking and what came back (opens, a click, a bounce, a reply), and one
waiting for its sending limit. Each is created through the ORM as the demo's admin,
started with its action, and its background jobs are run here one after the
other the way queue_job's runner runs them (started, performed, done):
nothing writes a state. The send jobs deliver to the demo's SMTP sink.

``serial_correspondence/tests/test_demo.py`` runs the same functions inside
a test transaction.
"""

import sys
import uuid

from odoo import fields

from odoo.addons.queue_job.job import Job

# once per database: set when the correspondences have been made
DONE_PARAM = "serial_correspondence.demo_correspondences"
XMLID = "serial_correspondence.{}".format

SINK_SERVER = "SMTP sink (demo)"
NEWSLETTER_SERVER = "SMTP sink, newsletter (demo)"
NEWSLETTER_SENDER = (
    '"Musterverein Berlin e. V., Newsletter" <newsletter@musterverein-berlin.example>'
)
# the newsletter server's own sending limit: the serial e-mail that goes
# through it sends two e-mails, then waits for the window to move on
NEWSLETTER_MAX_EMAILS = 2
NEWSLETTER_WINDOW_MINUTES = 60
# the general limit, for every other serial e-mail
GENERAL_MAX_EMAILS = 100
GENERAL_WINDOW_MINUTES = 60


def configure_mail_servers(env, host, port):
    """The demo's outgoing mail servers, both to the SMTP sink on
    ``host``:``port``: one for every sender, and one for the newsletter
    sender with a sending limit of its own (set once: an administrator may
    change it)."""
    connection = {
        "smtp_host": host,
        "smtp_port": int(port),
        "smtp_encryption": "none",
        "smtp_authentication": "login",
        "smtp_user": False,
        "smtp_pass": False,
        "active": True,
    }
    Server = env["ir.mail_server"].with_context(active_test=False)
    servers = {
        SINK_SERVER: {"sequence": 1, "from_filter": False},
        NEWSLETTER_SERVER: {
            "sequence": 2,
            "from_filter": "newsletter@musterverein-berlin.example",
            "serial_throttle_max_emails": NEWSLETTER_MAX_EMAILS,
            "serial_throttle_window_minutes": NEWSLETTER_WINDOW_MINUTES,
        },
    }
    for name, initial in servers.items():
        server = Server.search([("name", "=", name)], limit=1)
        if server:
            server.write(connection)
        else:
            Server.create({"name": name, **connection, **initial})


def set_general_sending_limits(env):
    """Sensible limits for the demo (Settings, sending limits), unless an
    administrator has set some."""
    params = env["ir.config_parameter"].sudo()
    if params.get_param("serial_correspondence.throttle_max_emails") is None:
        params.set_param(
            "serial_correspondence.throttle_max_emails", str(GENERAL_MAX_EMAILS)
        )
        params.set_param(
            "serial_correspondence.throttle_window_minutes",
            str(GENERAL_WINDOW_MINUTES),
        )


def reason_not_to_make(env):
    """Why the demo correspondences cannot be made now, or None."""
    if env["ir.config_parameter"].sudo().get_param(DONE_PARAM):
        return "they exist already"
    if not env.ref(XMLID("res_partner_category_supporters"), raise_if_not_found=False):
        return (
            "the database has the demo data of an older version "
            "(scripts/setup-and-run.sh --reset creates it anew)"
        )
    if env["serial.correspondence"].sudo().search_count([]):
        return (
            "the database has serial correspondences already "
            "(scripts/setup-and-run.sh --reset creates it anew)"
        )
    return None


def run_due_jobs(env, perform_job):
    """Perform the serial correspondence jobs that are due, and those they
    queue, until none is left (a job planned for later stays planned)."""
    count = 0
    while True:
        job = (
            env["queue.job"]
            .sudo()
            .search(
                [
                    ("model_name", "=", "serial.correspondence"),
                    ("state", "in", ("pending", "enqueued")),
                    "|",
                    ("eta", "=", False),
                    ("eta", "<=", fields.Datetime.now()),
                ],
                order="id",
                limit=1,
            )
        )
        if not job:
            return count
        perform_job(job)
        count += 1
        if count > 1000:
            raise RuntimeError("the demo's jobs keep queueing more jobs")


def committing_job_runner(env):
    """``perform_job`` for a real database: each step committed, as
    queue_job's runner and controller do."""

    def perform_job(job_record):
        env.cr.commit()  # what queued the job, as the runner sees it
        job = Job.load(env, job_record.uuid)
        job.set_started()
        job.store()
        env.cr.commit()
        job.perform()
        job.set_done()
        job.store()
        env.cr.commit()
        # a job that owns its transaction committed with a cursor of its own
        env.invalidate_all()

    return perform_job


# a delivery status notification (RFC 3464) as Postfix sends it back
DEMO_BOUNCE = """\
From: MAILER-DAEMON@mx.example.net (Mail Delivery System)
To: {bounce}
Subject: Undelivered Mail Returned to Sender
Date: {date}
Message-Id: <{token}@mx.example.net>
Auto-Submitted: auto-replied
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status;
    boundary="{token}"

--{token}
Content-Type: text/plain; charset=us-ascii

<{rcpt}>: host mx.example.com said: 550 5.1.1 <{rcpt}>: Recipient address
    rejected: User unknown in virtual mailbox table

--{token}
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.example.net

Final-Recipient: rfc822; {rcpt}
Action: failed
Status: 5.1.1
Diagnostic-Code: smtp; 550 5.1.1 <{rcpt}>: Recipient address rejected: User
    unknown in virtual mailbox table

--{token}
Content-Type: text/rfc822-headers

Message-Id: {message_id}
To: {rcpt}
Subject: {subject}

--{token}--
"""

DEMO_REPLY = """\
From: {sender}
To: {to}
Subject: Re: {subject}
Date: {date}
Message-Id: <{token}@mail.example.net>
In-Reply-To: {message_id}
References: {message_id}
MIME-Version: 1.0
Content-Type: text/plain; charset=utf-8
Content-Transfer-Encoding: 8bit

Vielen Dank, wir kommen gern vorbei.
"""


def show_what_came_back(env, record):
    """What came back after the serial e-mail ``record`` (tracking on) went
    out: the first three recipients opened it (what the tracking pixel's
    route records), the first also followed a link, the last one's address
    bounced (a delivery report through Odoo's mail gateway, as fetchmail
    feeds it) and the second answered (a reply through the gateway)."""
    sent = record.recipient_ids.filtered(lambda r: r.state == "sent").sorted("id")
    if len(sent) < 4:
        return
    sent[:3]._record_tracking()
    sent[:1]._record_tracking(clicked=True)
    Thread = env["mail.thread"]
    date = fields.Datetime.now().strftime("%a, %d %b %Y %H:%M:%S +0000")
    bounced = sent[-1]
    Thread.message_process(
        False,
        DEMO_BOUNCE.format(
            bounce=env.company.bounce_email or "bounce@musterverein-berlin.example",
            date=date,
            token=uuid.uuid4().hex,
            rcpt=bounced.partner_id.email,
            message_id=bounced.message_id.message_id,
            subject=record.subject,
        ).encode(),
    )
    answered = sent[1]
    Thread.message_process(
        False,
        DEMO_REPLY.format(
            sender=answered.partner_id.email_formatted,
            to=answered.message_id.reply_to or record.email_from,
            subject=record.subject,
            date=date,
            token=uuid.uuid4().hex,
            message_id=answered.message_id.message_id,
        ).encode(),
    )
    record.invalidate_recordset()


def create_demo_correspondences(env, perform_job):
    """Make the demo's serial correspondences as the demo's admin; return
    them by what they show (``{"ready": record, ...}``).

    ``perform_job(job_record)`` runs one stored queue job (for a real
    database: ``committing_job_runner(env)``)."""
    admin = env.ref("base.user_admin")
    as_admin = env(user=admin, context=dict(admin.context_get()))
    Correspondence = as_admin["serial.correspondence"]
    ref = as_admin.ref
    members = ref(XMLID("res_partner_category_members"))
    supporters = ref(XMLID("res_partner_category_supporters"))
    club = as_admin.company.email_formatted

    def create(kind, purpose, template, tag, **values):
        record = Correspondence.create(
            {
                "kind": kind,
                "purpose": purpose,
                "template_id": ref(XMLID(template)).id,
                "partner_category_ids": [(6, 0, tag.ids)],
                **values,
            }
        )
        run_due_jobs(env, perform_job)  # reading the recipients
        record.invalidate_recordset()
        return record

    def process(record, action):
        getattr(record, action)()
        run_due_jobs(env, perform_job)
        record.invalidate_recordset()
        return record

    made = {}
    # Serial letters
    made["ready"] = create(
        "letter", "information", "mail_template_demo_invitation", members
    )
    made["created"] = process(
        create("letter", "information", "mail_template_demo_information", supporters),
        "action_generate",
    )
    made["done"] = process(
        create("letter", "advertising", "mail_template_demo_offer", members),
        "action_generate",
    )
    made["done"].action_finalize()
    # Serial e-mails
    made["sent_incomplete"] = process(
        create(
            "email",
            "advertising",
            "mail_template_demo_offer",
            members,
            email_from=club,
        ),
        "action_send",
    )
    made["done_auto"] = process(
        create(
            "email",
            "information",
            "mail_template_demo_information",
            supporters,
            email_from=club,
            tracking_enabled=True,
        ),
        "action_send",
    )
    show_what_came_back(env, made["done_auto"])
    made["waiting"] = process(
        create(
            "email",
            "information",
            "mail_template_demo_newsletter",
            members,
            email_from=NEWSLETTER_SENDER,
        ),
        "action_send",
    )
    env["ir.config_parameter"].sudo().set_param(DONE_PARAM, "1")
    return made


def main(env, smtp_host, smtp_port):
    """What ``setup-and-run.sh`` runs in ``odoo shell`` (the SMTP sink must
    be listening on ``smtp_host``:``smtp_port``)."""
    configure_mail_servers(env, smtp_host, smtp_port)
    set_general_sending_limits(env)
    env.cr.commit()
    reason = reason_not_to_make(env)
    if reason:
        if not env["ir.config_parameter"].sudo().get_param(DONE_PARAM):
            sys.stdout.write(f"   (no demo serial correspondences made: {reason})\n")
        return
    made = create_demo_correspondences(env, committing_job_runner(env))
    env.cr.commit()
    Correspondence = env["serial.correspondence"].with_context(lang="en_US")
    states = dict(
        Correspondence._fields["state"]._description_selection(Correspondence.env)
    )
    kinds = dict(
        Correspondence._fields["kind"]._description_selection(Correspondence.env)
    )
    for record in made.values():
        sys.stdout.write(
            f"   {states[record.state]:<28} {kinds[record.kind]:<14} "
            f"{record.subject} ({record.recipient_count} recipients)\n"
        )
