# Copyright 2026 serial_correspondence authors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
import contextvars
import logging
import re

from markupsafe import Markup

from odoo import _, api, fields, models
from odoo.exceptions import UserError, ValidationError
from odoo.osv import expression
from odoo.tools import html2plaintext
from odoo.tools.translate import LazyTranslate

from ..tools import workflow
from ..tools.domain_literal import DomainLiteralError, parse_domain_literal
from ..tools.processing import check_client_values, is_processing, processing
from ..tools.settings import setting
from ..tools.texts import in_all_languages
from .ir_qweb import compiled_once

_logger = logging.getLogger(__name__)
_lt = LazyTranslate(__name__)

# every job of the addon (see ``_enqueue_job``)
JOB_CHANNEL = "root.serial_correspondence"
# a batch killed with its worker counts as a try: allow many before giving up
JOB_MAX_RETRIES = 20
DEFAULT_IMPORT_BATCH_SIZE = 5000
# queue.job states in which a job waits for a worker
JOB_WAITING_STATES = ("wait_dependencies", "pending", "enqueued")

# fields that mail.thread / mail.activity.mixin maintain themselves; writing
# them (posting a message, planning an activity) does not change the
# correspondence
MAIL_FIELD_PREFIXES = ("message_", "activity_", "website_message_")

# the partners whose notification goes to their Odoo inbox whatever their
# e-mail preference, while _notify_import_done posts (never from the context)
_INBOX_PARTNERS = contextvars.ContextVar(
    "serial_correspondence_inbox_partners", default=frozenset()
)

STATES = [
    ("importing", "Reading recipients"),
    ("ready", "Ready"),
    ("in_progress", "In progress"),
    ("waiting", "Waiting for continuation"),
    ("created", "Created"),
    ("created_incomplete", "Incompletely created"),
    ("create_failed", "Error while creating"),
    ("sent_incomplete", "Incompletely sent"),
    ("send_failed", "Error while sending"),
    ("done", "Done"),
    ("done_auto", "Done (automatic)"),
]


class SerialCorrespondence(models.Model):
    _name = "serial.correspondence"
    _description = "Serial Correspondence"
    _inherit = ["mail.thread", "mail.activity.mixin"]
    _order = "id desc"

    kind = fields.Selection(
        [("letter", "Serial letter"), ("email", "Serial e-mail")],
        required=True,
        default="letter",
        tracking=True,
    )
    purpose = fields.Selection(
        [("advertising", "Advertising"), ("information", "Information")],
        required=True,
        default="information",
        tracking=True,
        help="Advertising: contacts are excluded according to their advertising "
        "consent (e-mail needs a granted consent, letters must not be refused). "
        "Information: only blacklisted addresses and 'no letters' are excluded.",
    )
    state = fields.Selection(
        STATES,
        required=True,
        default="importing",
        readonly=True,
        copy=False,
        tracking=True,
        group_expand=True,
        index=True,
    )
    subject = fields.Char(tracking=True)
    template_id = fields.Many2one(
        "mail.template",
        domain=[("model", "=", "res.partner")],
        tracking=True,
        help="A template on Contacts: its body is the e-mail body, or the letter "
        "body inside the letter layout.",
    )
    tag_ids = fields.Many2many("serial.correspondence.tag", string="Tags")
    partner_domain = fields.Char(
        string="Contact filter",
        copy=False,
        help="Which contacts become recipients. Set when the correspondence is "
        "created; the recipients are then read in the background.",
    )
    partner_category_ids = fields.Many2many(
        "res.partner.category",
        string="Contact tags",
        copy=False,
        help="Only contacts with at least one of these tags become recipients.",
    )
    selected_partner_count = fields.Integer(
        string="Selected contacts",
        compute="_compute_selected_partner_count",
        compute_sudo=False,
        help="The contacts that match the contact filter and have at least one "
        "of the contact tags, counted now and as far as you may see them.",
    )
    email_from = fields.Char(
        string="Sender",
        default=lambda self: self.env.user.email_formatted,
        tracking=True,
    )
    sort_order = fields.Selection(
        [
            ("name", "Name"),
            ("zip", "Postal code"),
            ("country_zip", "Country, then postal code"),
        ],
        default="name",
        required=True,
        help="Order of the letters in the generated document.",
    )
    output = fields.Selection(
        [("letters", "Letters"), ("labels", "Address labels")],
        default="letters",
        required=True,
    )
    recipient_ids = fields.One2many(
        "serial.correspondence.recipient", "correspondence_id", string="Recipients"
    )
    recipient_count = fields.Integer(
        string="Number of recipients", compute="_compute_recipient_stats"
    )
    pending_count = fields.Integer(string="Pending", compute="_compute_recipient_stats")
    created_count = fields.Integer(string="Created", compute="_compute_recipient_stats")
    sent_count = fields.Integer(string="Sent", compute="_compute_recipient_stats")
    excluded_count = fields.Integer(
        string="Excluded", compute="_compute_recipient_stats"
    )
    error_count = fields.Integer(string="Errors", compute="_compute_recipient_stats")
    document_attachment_id = fields.Many2one(
        "ir.attachment", string="Document", copy=False, readonly=True
    )
    user_id = fields.Many2one(
        "res.users",
        string="Responsible",
        default=lambda self: self.env.user,
        required=True,
        tracking=True,
    )
    shared_user_ids = fields.Many2many(
        "res.users",
        "serial_correspondence_shared_user_rel",
        "correspondence_id",
        "user_id",
        string="Shared with",
        help="Other users who may see and work on this correspondence.",
    )
    company_id = fields.Many2one(
        "res.company",
        required=True,
        default=lambda self: self.env.company,
        index=True,
    )
    # background processing
    import_total = fields.Integer(
        string="Contacts to read", readonly=True, copy=False, default=0
    )
    import_done = fields.Integer(
        string="Contacts read", readonly=True, copy=False, default=0
    )
    import_cursor = fields.Integer(readonly=True, copy=False, default=0)
    job_uuid = fields.Char(readonly=True, copy=False)
    processing_user_id = fields.Many2one(
        "res.users",
        string="Started by",
        readonly=True,
        copy=False,
        help="The user who started generating or sending: the background jobs "
        "run with this user's rights.",
    )
    processing_status = fields.Selection(
        [
            ("idle", "Idle"),
            ("waiting", "Waiting for processing"),
            ("running", "Processing"),
            ("scheduled", "Continues by itself"),
        ],
        compute="_compute_processing_status",
    )
    can_generate = fields.Boolean(compute="_compute_allowed_actions")
    can_send = fields.Boolean(compute="_compute_allowed_actions")
    can_finalize = fields.Boolean(compute="_compute_allowed_actions")
    is_locked = fields.Boolean(compute="_compute_allowed_actions")

    # ------------------------------------------------------------------
    # computes
    # ------------------------------------------------------------------

    @api.depends("subject", "kind")
    def _compute_display_name(self):
        kinds = dict(self._fields["kind"]._description_selection(self.env))
        for record in self:
            if record.subject:
                record.display_name = record.subject
            elif not record._origin.id:
                # not saved yet: it has no number, and no recipients are read
                record.display_name = (
                    _("New serial e-mail")
                    if record.kind == "email"
                    else _("New serial letter")
                )
            else:
                record.display_name = _(
                    "%(kind)s #%(id)s",
                    kind=kinds.get(record.kind, ""),
                    id=record._origin.id,
                )

    @api.depends("partner_domain", "partner_category_ids")
    def _compute_selected_partner_count(self):
        """Filter AND tags, as reading the recipients combines them; counted
        with the user's rights (never sudo: no count of hidden contacts)."""
        Partner = self.env["res.partner"]
        for record in self:
            if not (record.partner_domain or record.partner_category_ids):
                record.selected_partner_count = 0
                continue
            try:
                domain = record._recipient_selection_domain()
            except ValidationError:
                # an invalid filter being edited selects nobody
                record.selected_partner_count = 0
                continue
            record.selected_partner_count = Partner.search_count(domain)

    @api.depends("recipient_ids.state")
    def _compute_recipient_stats(self):
        counts = {}
        if self.ids:
            groups = self.env["serial.correspondence.recipient"]._read_group(
                [("correspondence_id", "in", self.ids)],
                ["correspondence_id", "state"],
                ["__count"],
            )
            for correspondence, state, count in groups:
                counts.setdefault(correspondence.id, {})[state] = count
        for record in self:
            by_state = counts.get(record.id, {})
            record.recipient_count = sum(by_state.values())
            record.pending_count = by_state.get("pending", 0)
            record.created_count = by_state.get("created", 0)
            record.sent_count = by_state.get("sent", 0)
            record.excluded_count = by_state.get("excluded", 0)
            record.error_count = by_state.get("error", 0)

    @api.depends("job_uuid", "state")
    def _compute_processing_status(self):
        uuids = [uuid for uuid in self.mapped("job_uuid") if uuid]
        job_states = {}
        if uuids:
            jobs = self.env["queue.job"].sudo().search([("uuid", "in", uuids)])
            job_states = {job.uuid: job.state for job in jobs}
        for record in self:
            job_state = job_states.get(record.job_uuid)
            if record.state == "waiting":
                record.processing_status = "scheduled"
            elif record.state not in workflow.PROCESSING_STATES or not job_state:
                record.processing_status = "idle"
            elif job_state in JOB_WAITING_STATES:
                record.processing_status = "waiting"
            else:
                record.processing_status = "running"

    @api.depends("state", "kind")
    def _compute_allowed_actions(self):
        for record in self:
            record.can_generate = workflow.allows(record.kind, record.state, "generate")
            record.can_send = workflow.allows(record.kind, record.state, "send")
            record.can_finalize = workflow.allows(record.kind, record.state, "finalize")
            record.is_locked = record.state in workflow.LOCKED_STATES

    # ------------------------------------------------------------------
    # the workflow: the only place that writes ``state``
    # ------------------------------------------------------------------

    def _apply_event(self, event):
        """Move every record along ``event`` of the workflow table."""
        for record in self:
            new_state = workflow.next_state(record.kind, record.state, event)
            if new_state is None:
                raise UserError(
                    _(
                        "%(name)s is in state '%(state)s': this action is not "
                        "possible now.",
                        name=record.display_name,
                        state=dict(
                            record._fields["state"]._description_selection(record.env)
                        )[record.state],
                    )
                )
            record._internal_write({"state": new_state})

    def _internal_write(self, vals):
        """Write on behalf of the workflow and its jobs, past the lock (see
        ``tools/processing.py``: no client can take this path)."""
        with processing():
            return self.write(vals)

    def _processing_fields(self):
        """Fields that only processing sets: refused from clients."""
        return frozenset(
            {
                "state",
                "import_total",
                "import_done",
                "import_cursor",
                "job_uuid",
                "document_attachment_id",
                "processing_user_id",
            }
        )

    # ------------------------------------------------------------------
    # ORM
    # ------------------------------------------------------------------

    @api.model_create_multi
    def create(self, vals_list):
        check_client_values(self, vals_list)
        for vals in vals_list:
            if not vals.get("partner_domain") and not vals.get("partner_category_ids"):
                raise UserError(
                    _(
                        "Choose the recipients: set a contact filter or contact "
                        "tags before saving."
                    )
                )
            if vals.get("partner_domain"):
                self._parse_partner_domain(vals["partner_domain"])
        self._check_template_model(
            [vals["template_id"] for vals in vals_list if vals.get("template_id")]
        )
        for vals in vals_list:
            self._fill_subject_from_template(vals)
        records = super().create(vals_list)
        for record in records:
            record._start_import()
        return records

    def write(self, vals):
        if not is_processing():
            if "state" in vals:
                raise UserError(
                    _(
                        "The state of a serial correspondence changes only "
                        "through its actions."
                    )
                )
            check_client_values(self, [vals])
            if "partner_domain" in vals or "partner_category_ids" in vals:
                raise UserError(
                    _(
                        "The recipients were chosen when the correspondence was "
                        "created; create a new one to write to other contacts."
                    )
                )
            if any(not field.startswith(MAIL_FIELD_PREFIXES) for field in vals):
                self._check_unlocked()
        if vals.get("template_id"):
            self._check_template_model([vals["template_id"]])
        return super().write(vals)

    def unlink(self):
        self._check_unlocked()
        return super().unlink()

    def _missing_to_start(self):
        """What processing needs and the record lacks, in words ("a subject
        and a template"), or an empty string."""
        missing = []
        if not self.subject:
            missing.append(_("a subject"))
        if not self.template_id:
            missing.append(_("a template"))
        elif self._template_needs_text() and not self._template_has_text():
            missing.append(_("a template with a text"))
        return _(" and ").join(missing)

    def _template_needs_text(self):
        """Whether what is made from the template shows its text (address
        labels show the address only)."""
        return not (self.kind == workflow.LETTER and self.output == "labels")

    def _template_has_text(self):
        """Whether the template's body says anything: a text, an image or a
        dynamic part; not only empty paragraphs and line breaks."""
        body = self.template_id.body_html or ""
        if html2plaintext(body).strip():
            return True
        return bool(
            re.search(r"<(img|t|table|hr)\b|\bt-(out|esc|raw|field)=|\{\{|\$\{", body)
        )

    # ------------------------------------------------------------------
    # asking before starting: first the checks, then the question
    # ------------------------------------------------------------------

    def _confirmation_action(self, method, question, confirm_label):
        """A dialog that asks ``question`` and, confirmed, calls ``method`` of
        this record (``static/src/js/confirm_action.js``). The form's buttons
        ask only after the checks passed, so that what is missing is shown at
        once, not after the user said yes."""
        self.ensure_one()
        return {
            "type": "ir.actions.client",
            "tag": "serial_correspondence_confirm",
            "params": {
                "body": question,
                "confirm_label": confirm_label,
                "res_model": self._name,
                "res_id": self.id,
                "method": method,
            },
        }

    def action_confirm_send(self):
        """*Send e-mails* from the form: check everything sending needs, then
        ask; :meth:`action_send` does the sending (and checks again)."""
        self.ensure_one()
        if not self.can_send:
            raise UserError(
                _(
                    "%(name)s cannot be sent in its current state.",
                    name=self.display_name,
                )
            )
        self._check_ready_to_send()
        return self._confirmation_action(
            "action_send",
            _(
                "Send this serial e-mail now to every recipient it has not been "
                "sent to yet?"
            ),
            _("Send e-mails"),
        )

    @api.model
    def _check_template_model(self, template_ids):
        """A template of a serial correspondence is a template on Contacts
        that the user may read (the view's domain is no server rule)."""
        templates = self.env["mail.template"].browse(template_ids)
        templates.check_access("read")
        for template in templates:
            if template.model != "res.partner":
                raise ValidationError(
                    _(
                        "The template %(template)s is for %(model)s: a serial "
                        "correspondence needs a template on Contacts.",
                        template=template.display_name,
                        model=template.model,
                    )
                )

    @api.onchange("template_id")
    def _onchange_template_id_fill_subject(self):
        """Choosing a template fills an empty subject with the template's."""
        if self.template_id and not self.subject:
            self.subject = self.template_id.subject

    @api.model
    def _fill_subject_from_template(self, vals):
        """The same for create over RPC: an empty subject takes the
        template's."""
        if vals.get("template_id") and not vals.get("subject"):
            template = self.env["mail.template"].browse(vals["template_id"])
            if template.subject:
                vals["subject"] = template.subject

    def action_finalize(self):
        """Finalize: nothing of the correspondence can change any more. The
        e-mail and letter parts add to it through the two hooks."""
        self._before_finalize()
        for record in self:
            record._apply_event("finalize")
        self._after_finalize()
        return True

    def _before_finalize(self):
        """Hook: what a kind of correspondence does before it is finalized."""

    def _after_finalize(self):
        """Hook: what a kind of correspondence does once it is finalized."""

    def _check_unlocked(self):
        """Refuse any change while processing runs or after the end."""
        if is_processing():
            return
        for record in self:
            if record.state in workflow.FINAL_STATES:
                raise UserError(
                    _(
                        "%(name)s is finalized and can no longer be changed.",
                        name=record.display_name,
                    )
                )
            if record.state in workflow.LOCKED_STATES:
                raise UserError(
                    _(
                        "%(name)s is being processed and cannot be changed until "
                        "processing has finished.",
                        name=record.display_name,
                    )
                )

    # ------------------------------------------------------------------
    # recipients: reading them in the background
    # ------------------------------------------------------------------

    @api.model
    def _parse_partner_domain(self, domain_string):
        """Return the contact filter as a domain list, or raise a clear error.

        The filter is a domain literal (``tools/domain_literal.py``): nothing
        of it runs. Field names and operators are checked by the ORM, in the
        user's environment."""
        try:
            domain = expression.normalize_domain(parse_domain_literal(domain_string))
            self.env["res.partner"]._search(domain)
        except (DomainLiteralError, ValueError, KeyError, TypeError) as error:
            raise ValidationError(
                _(
                    "The contact filter is not valid: %(error)s\nFilter: %(domain)s",
                    error=error,
                    domain=domain_string,
                )
            ) from error
        return domain

    def _recipient_selection_domain(self):
        """The domain on res.partner of the contacts this correspondence is for."""
        self.ensure_one()
        domains = []
        if self.partner_domain:
            domains.append(self._parse_partner_domain(self.partner_domain))
        if self.partner_category_ids:
            # ``_origin``: also while a new record is edited (onchange)
            domains.append(
                [("category_id", "in", self.partner_category_ids._origin.ids)]
            )
        return expression.AND(domains) if domains else [(0, "=", 1)]

    # ------------------------------------------------------------------
    # jobs
    # ------------------------------------------------------------------

    def _enqueue_job(
        self, method_name, *args, description, identity, eta=None, remember=True
    ):
        """Queue ``self.<method_name>(*args)`` as a queue_job job: the one way
        every job of the addon is queued (import, sending, letters).

        One channel (``JOB_CHANNEL``, where administrators set how many run at
        once), many retries (a job killed with its worker counts as a try),
        and an identity key (``identity``, unique per run and step): a job
        that is already queued is not queued twice. The job is remembered
        (``job_uuid``, unless ``remember`` is False) for the processing
        status shown on the form."""
        self.ensure_one()
        # the job's company (queue_job's ``company_id``) is the
        # correspondence's, not the user's current one (see
        # _job_prepare_context_before_enqueue_keys)
        delayed = self.with_context(company_id=self.company_id.id).with_delay(
            channel=JOB_CHANNEL,
            eta=eta,
            description=description,
            max_retries=JOB_MAX_RETRIES,
            identity_key=f"serial_correspondence_{identity}",
        )
        job = getattr(delayed, method_name)(*args)
        uuid = getattr(job, "uuid", None)
        if uuid and remember:
            self._internal_write({"job_uuid": uuid})
        return job

    @api.model
    def _job_prepare_context_before_enqueue_keys(self):
        """The correspondence's company travels with its jobs: queue_job
        takes it instead of the user's current company, which a user who
        has left that company since no longer has, so the job still starts
        and ends cleanly (``_starter_lost_access``)."""
        return (*super()._job_prepare_context_before_enqueue_keys(), "company_id")

    def _starter_lost_access(self):
        """Whether the user the job runs as (who started the processing) may
        no longer work on this correspondence: archived, or no longer in its
        company. Read with sudo: with the user's own rights the answer would
        be an access error. The superuser (OdooBot, archived by design)
        keeps access."""
        if self.env.is_superuser():
            return False
        user = self.env.user  # sudo: a user may read their own record
        company = self.sudo().company_id
        return not user.active or company not in user.company_ids

    def _within_starter_companies(self):
        """The job keeps the companies the user had chosen when they started
        (``allowed_company_ids``); a company the user has left since would
        refuse every read. Returns this record with the companies the user
        still has, or None when nothing changed."""
        allowed = self.env.context.get("allowed_company_ids")
        if not allowed or self.env.is_superuser():
            return None
        own = set(self.env.user.company_ids.ids)
        kept = [company_id for company_id in allowed if company_id in own]
        if len(kept) == len(allowed):
            return None
        return self.with_context(allowed_company_ids=kept or self.sudo().company_id.ids)

    def _lost_starter_note(self, starter, what):
        """The chatter note when ``starter`` lost access while their job
        waited (``what``: what happened and what to do), to the
        responsible user when they may still work on it. Sudo: the job's
        own correspondence, chosen by the code."""
        responsible = self.user_id
        notify = responsible.partner_id.browse()
        if (
            responsible.active
            and responsible != starter
            and self.company_id in responsible.company_ids
        ):
            notify = responsible.partner_id
        self.message_post(
            body=_(
                "%(user)s, who started it, is no longer allowed to work on it "
                "(the user is archived or no longer works for %(company)s), and "
                "the background jobs run with the rights of who started them. "
                "%(what)s",
                what=what,
                user=starter.name,
                company=self.company_id.name,
            ),
            subtype_xmlid="mail.mt_note",
            author_id=self.env.ref("base.partner_root").id,
            partner_ids=notify.ids,
        )

    def _end_import_of_lost_starter(self, after_partner_id, starter):
        """The import job of a creator who lost access (``starter``): the
        contacts are read with the creator's rights, so reading stops; the
        recipients read so far stay, the correspondence is ready, and the
        chatter says how many were read. Sudo: the job's own record."""
        if self.state != "importing" or self.import_cursor != after_partner_id:
            return _("Nothing to do: these recipients have already been read.")
        total = self.import_total
        self._internal_write({"import_total": self.import_done, "job_uuid": False})
        self._apply_event("import_done")
        self._lost_starter_note(
            starter,
            _(
                "Reading the recipients stopped: %(done)s of %(total)s contacts "
                "read. To write to all of them, create a new correspondence.",
                done=self.import_done,
                total=total,
            ),
        )
        return _(
            "Stopped: %(user)s, who created it, is no longer allowed to work on it.",
            user=starter.name,
        )

    def _end_letters_of_lost_starter(self, run, starter):
        """A letter job of a user who lost access (``starter``): generating
        stops as if the user had stopped it (the document holds the parts
        printed so far). Sudo: the job's own record."""
        if self.letter_run != run or self.state != "in_progress":
            return _("Nothing to do: this generation run is over.")
        self._stop_generating()
        self._lost_starter_note(
            starter, _("Generate the letters again to go on with your rights.")
        )
        return _(
            "Stopped: %(user)s, who started generating, is no longer allowed to "
            "work on it.",
            user=starter.name,
        )

    @api.model
    def _import_batch_size(self):
        return setting(
            self.env, "import_batch_size", DEFAULT_IMPORT_BATCH_SIZE, minimum=1
        )

    def _start_import(self):
        self.ensure_one()
        total = self.env["res.partner"].search_count(self._recipient_selection_domain())
        self._internal_write(
            {"import_total": total, "import_done": 0, "import_cursor": 0}
        )
        self._enqueue_import_batch(0)

    def _enqueue_import_batch(self, after_partner_id):
        self._enqueue_job(
            "_import_recipients_batch",
            after_partner_id,
            description=_("Read recipients of %(name)s", name=self.display_name),
            identity=f"import-{self.id}-{after_partner_id}",
        )

    def _import_recipients_batch(self, after_partner_id):
        """Job: read the next batch of recipients after ``after_partner_id``.

        Idempotent: a run that was interrupted is rolled back as a whole and
        runs again from the same cursor; a run for a cursor that is no longer
        current does nothing. A contact becomes a recipient at most once.
        """
        self.ensure_one()
        if self._starter_lost_access():
            return self.sudo()._end_import_of_lost_starter(
                after_partner_id, self.env.user
            )
        if (narrowed := self._within_starter_companies()) is not None:
            return narrowed._import_recipients_batch(after_partner_id)
        if self.state != "importing" or self.import_cursor != after_partner_id:
            return _("Nothing to do: these recipients have already been read.")
        batch_size = self._import_batch_size()
        partner_ids = (
            self.env["res.partner"]
            .search(
                expression.AND(
                    [
                        self._recipient_selection_domain(),
                        [("id", ">", after_partner_id)],
                    ]
                ),
                order="id",
                limit=batch_size,
            )
            .ids
        )
        if partner_ids:
            self.env["serial.correspondence.recipient"]._insert_for_partners(
                self, partner_ids
            )
        done = self.import_done + len(partner_ids)
        last_id = partner_ids[-1] if partner_ids else after_partner_id
        self._internal_write({"import_done": done, "import_cursor": last_id})
        if len(partner_ids) == batch_size:
            self._enqueue_import_batch(last_id)
            if done == 1:
                return _("1 recipient read, continuing.")
            return _("%(count)s recipients read, continuing.", count=done)
        self._finish_import()
        if done == 1:
            return _("1 recipient read.")
        return _("All %(count)s recipients read.", count=done)

    def _finish_import(self):
        self._internal_write({"import_total": self.import_done, "job_uuid": False})
        self._apply_event("import_done")
        self._notify_import_done()

    def _notify_import_done(self):
        """Tell the creator: a notification in their inbox with a link, and a
        live toast (``static/src/js/import_done_service.js``: the only pop-up;
        none when the creator is looking at the correspondence)."""
        self.ensure_one()
        creator = self.create_uid
        count = self.recipient_count
        if not count:
            body = Markup(
                _(
                    "No contact matches the contact filter and tags of %(link)s: "
                    "it has no recipients. Create a new one for other contacts."
                )
            ) % {"link": self._get_html_link()}
            message = _(
                "No contact matches the contact filter and tags of %(name)s.",
                name=self.display_name,
            )
        elif count == 1:
            body = Markup(_("1 recipient of %(link)s has been read. It is ready.")) % {
                "link": self._get_html_link()
            }
            message = _(
                "1 recipient of %(name)s has been read.", name=self.display_name
            )
        else:
            body = Markup(
                _("All %(count)s recipients of %(link)s have been read. It is ready.")
            ) % {"count": count, "link": self._get_html_link()}
            message = _(
                "All %(count)s recipients of %(name)s have been read.",
                count=count,
                name=self.display_name,
            )
        # a notification (not a message in a chat or the chatter), in the
        # creator's Odoo inbox whatever their e-mail preference; the job runs
        # as the creator: notify them of "their own" message
        token = _INBOX_PARTNERS.set(frozenset(creator.partner_id.ids))
        try:
            self._notify_creator(body, creator)
        finally:
            _INBOX_PARTNERS.reset(token)
        creator._bus_send(
            "serial_correspondence/import_done",
            {"id": self.id, "title": _("Recipients read"), "message": message},
        )

    def _notify_creator(self, body, creator):
        self.with_context(mail_notify_author=True).message_notify(
            body=body,
            author_id=self.env.ref("base.partner_root").id,
            partner_ids=creator.partner_id.ids,
            subtype_xmlid="mail.mt_note",
        )

    def _notify_get_recipients(self, message, msg_vals, **kwargs):
        recipients = super()._notify_get_recipients(message, msg_vals, **kwargs)
        # set by _notify_import_done only: a client's context key chooses nothing
        inbox_ids = _INBOX_PARTNERS.get()
        for data in recipients:
            if inbox_ids and data["id"] in inbox_ids and data.get("uid"):
                data["notif"] = "inbox"
        return recipients

    def _render_messages(self, partners):
        """Render subject and body for ``partners``.

        Returns ``({partner_id: (subject, body)}, {partner_id: error})``: the
        whole batch at once; only when that fails is each contact rendered
        alone, to name the ones the template fails for.
        """
        self.ensure_one()
        try:
            return self._render_messages_batch(partners), {}
        except Exception:  # any template error: see below
            _logger.info("Batch rendering failed for %s, rendering one by one", self)
        rendered, failures = {}, {}
        for partner in partners:
            try:
                rendered.update(self._render_messages_batch(partner))
            except Exception as error:  # reported to the user
                failures[partner.id] = str(error) or error.__class__.__name__
        return rendered, failures

    def _render_failure_reason(self, error):
        """The reason given to a recipient the template fails for (processing
        and the check of the recipients say the same), in every language."""
        return in_all_languages(
            self.env,
            _lt(
                "The template cannot be rendered for this contact: %(error)s",
                error=error,
            ),
        )

    def _evaluate_recipients(self, batch):
        """What processing decides for the recipients ``batch`` before
        anything is sent or printed; the one implementation behind sending,
        generating and checking the recipients.

        Returns ``(outcome, rendered)``: ``{recipient: (state, reason)}`` for
        the recipients that will not get the correspondence (communication
        status, address, a template that fails for the contact), and
        ``{partner_id: (subject, body)}`` rendered for the others (nothing is
        rendered for address labels: a label is the address only).
        """
        self.ensure_one()
        if self.kind == workflow.EMAIL:
            outcome = batch._email_outcome_before_sending(self.purpose)
        else:
            outcome = batch._letter_outcome_before_rendering(self.purpose)
        if self.kind == workflow.LETTER and self.output == "labels":
            return outcome, {}
        candidates = batch.filtered(lambda recipient: recipient not in outcome)
        rendered, failures = self._render_messages(candidates.partner_id)
        for recipient in candidates:
            error = failures.get(recipient.partner_id.id)
            if error is not None:
                outcome[recipient] = ("error", self._render_failure_reason(error))
        return outcome, rendered

    def _record_evaluation(self, outcome):
        """Record the ``outcome`` of ``_evaluate_recipients`` on the
        recipients it names: one write per (state, reason)."""
        groups = {}
        for recipient, key in outcome.items():
            groups.setdefault(key, []).append(recipient.id)
        Recipient = self.env["serial.correspondence.recipient"]
        for (state, reason), ids in groups.items():
            Recipient.browse(ids)._set_outcome(state, reason)

    def _render_messages_batch(self, partners):
        """``{partner_id: (subject, body)}``, rendered with the user's rights
        exactly as Odoo's composer renders them: the template's stored
        content as Odoo trusts it (it was checked when an editor saved it),
        the subject the user typed as any user's text (a user who is not a
        template editor gets plain placeholders such as ``{{ object.name }}``
        and no code). Never with sudo."""
        res_ids = partners.ids
        if not res_ids:
            return {}
        template = self.template_id
        # compiled once for the batch, not once per contact (models/ir_qweb.py)
        with compiled_once():
            bodies = template._render_field("body_html", res_ids, compute_lang=True)
            if self.subject == template.subject:
                subjects = template._render_field("subject", res_ids, compute_lang=True)
            else:
                subjects = self.env["mail.render.mixin"]._render_template(
                    self.subject, "res.partner", res_ids, engine="inline_template"
                )
        return {pid: (subjects[pid], bodies[pid]) for pid in res_ids}

    # ------------------------------------------------------------------
    # creation from the contacts list
    # ------------------------------------------------------------------

    @api.model
    def action_create_from_partners(self, kind, partners):
        """Create a correspondence of ``kind`` for ``partners`` and open it.

        When the user selected every contact of the list ("select all"), the
        list's filter is kept instead of a list of ids: also beyond the
        number of ids the web client sends (``web.active_ids_limit``, 20,000),
        which it cuts silently when the whole list is selected.
        """
        if not partners:
            raise UserError(_("Select at least one contact."))
        domain = [("id", "in", partners.ids)]
        active_domain = self.env.context.get("active_domain")
        if active_domain is not None and self._whole_list_selected(
            partners, active_domain
        ):
            domain = active_domain
        record = self.with_context(active_domain=None, active_ids=None).create(
            {"kind": kind, "partner_domain": repr(domain)}
        )
        return record._action_open_form()

    @api.model
    def _whole_list_selected(self, partners, active_domain):
        """Whether ``partners`` are the whole list ``active_domain`` shows, or
        its first ``web.active_ids_limit`` contacts (the client's cut when
        the user selected the whole list)."""
        Partner = self.env["res.partner"]
        total = Partner.search_count(active_domain)
        if total == len(partners):
            return True
        limit = int(
            self.env["ir.config_parameter"]
            .sudo()
            .get_param("web.active_ids_limit", default="20000")
        )
        if len(partners) != limit or total < limit:
            return False
        # the client took the first ``limit`` ids of the list's filter
        return Partner.search_count(
            expression.AND([active_domain, [("id", "in", partners.ids)]])
        ) == len(partners)

    def _action_open_form(self):
        self.ensure_one()
        return {
            "type": "ir.actions.act_window",
            "res_model": self._name,
            "res_id": self.id,
            "views": [(False, "form")],
            "target": "current",
        }

    def action_view_recipients(self):
        self.ensure_one()
        action = self.env["ir.actions.actions"]._for_xml_id(
            "serial_correspondence.serial_correspondence_recipient_action"
        )
        action["domain"] = [("correspondence_id", "=", self.id)]
        action["context"] = {"default_correspondence_id": self.id}
        if self.is_locked:
            # no "Delete" where the server refuses it
            action["views"] = [
                (
                    self.env.ref(
                        "serial_correspondence.serial_correspondence_recipient_view_list_locked"
                    ).id,
                    "list",
                ),
                (
                    self.env.ref(
                        "serial_correspondence.serial_correspondence_recipient_view_form_locked"
                    ).id,
                    "form",
                ),
            ]
        return action
