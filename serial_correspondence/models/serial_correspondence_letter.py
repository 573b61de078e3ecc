# Copyright 2026 serial_correspondence authors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""Serial letters: generate, check and edit, print, regenerate, finalize.

Generating numbers the recipients in the chosen sort order and queues part
jobs. Letters: each part is a fixed range of positions in that order, so
parts are independent and printed in parallel (as many at once as queue_job
runs in our channel, on any Odoo server of the database); each evaluates its
recipients (excluded / error / created) and prints the created ones as one
PDF part; the part that finds all others printed queues the job that puts
the parts together, in sort order, into the document. Labels (and letters
when only one job runs at a time): one part after the other, each evaluating
the next pending recipients until it has a part's worth (labels: whole
sheets). See ``_start_letter_parts``. Every job is idempotent: it belongs to
a generation run and a part number, and does nothing when either is no
longer current.
"""

import base64
import hashlib
import logging
import math
import re
import tempfile
import unicodedata

from markupsafe import Markup
from werkzeug.urls import url_encode

from odoo import _, api, fields, models
from odoo.exceptions import AccessError, UserError
from odoo.tools import SQL, format_date
from odoo.tools.mimetypes import guess_mimetype
from odoo.tools.translate import LazyTranslate

from ..tools import letter_pdf, senders, workflow
from ..tools.label_sheets import LABEL_SHEET_SELECTION, LABEL_SHEETS
from ..tools.settings import setting
from .serial_correspondence import JOB_CHANNEL

_logger = logging.getLogger(__name__)
_lt = LazyTranslate(__name__)

DEFAULT_LETTER_PART_SIZE = 200
# the most letter parts of one serial letter queued at the same time
MAX_PARALLEL_PARTS = 64
# first key of the advisory lock the parts of a serial letter end under (the
# second: the correspondence's id), see _letters_evaluated_elsewhere
LETTER_PARTS_LOCK = 0x5C1E77
# page margins (top, right, bottom, left) in mm; the letter layout places
# everything on the first page relative to the top margin (DIN 5008 form B)
LETTER_MARGINS_MM = (15, 0, 20, 0)
LABEL_MARGINS_MM = (0, 0, 0, 0)


# the return address line in the window is 78 mm wide: the longest line
# (in characters) each type size fits, the last one for anything longer
# (DIN 5008 allows a smaller type there)
RETURN_ADDRESS_SIZES = (
    (58, "sc-return"),
    (68, "sc-return sc-return-6"),
    (82, "sc-return sc-return-5"),
)
RETURN_ADDRESS_SMALLEST = "sc-return sc-return-4"


def _return_address_class(text):
    """The CSS class that fits the return address line ``text`` into the
    window of the envelope."""
    for longest, css_class in RETURN_ADDRESS_SIZES:
        if len(text) <= longest:
            return css_class
    return RETURN_ADDRESS_SMALLEST


def _sort_text(value):
    """A key that sorts names the way people expect (Müller next to Muller,
    upper and lower case together), whatever the database collation."""
    decomposed = unicodedata.normalize("NFKD", value or "")
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


class SerialCorrespondence(models.Model):
    _inherit = "serial.correspondence"

    label_sheet = fields.Selection(
        LABEL_SHEET_SELECTION,
        default="avery_3474",
        required=True,
        help="The label sheet the address labels are printed on.",
    )
    letter_date = fields.Date(string="Date of the letters", readonly=True, copy=False)
    letter_run = fields.Integer(readonly=True, copy=False)
    # internal, for the part jobs of the run (see _start_letter_parts):
    # letter positions per part, 0 for one part after the other; how many
    # parts are queued at once
    letter_part_span = fields.Integer(
        readonly=True, copy=False, groups="base.group_system"
    )
    letter_part_window = fields.Integer(
        readonly=True, copy=False, groups="base.group_system"
    )
    letter_output = fields.Selection(
        [("letters", "Letters"), ("labels", "Address labels")],
        string="Generated output",
        readonly=True,
        copy=False,
        help="What the last generation printed: letters or address labels.",
    )
    # internal: read and written with sudo() only
    letter_part_ids = fields.One2many(
        "serial.correspondence.letter.part",
        "correspondence_id",
        readonly=True,
        groups="base.group_system",
    )
    document_page_count = fields.Integer(string="Pages", readonly=True, copy=False)
    document_checksum = fields.Char(
        string="Document checksum (SHA-256)",
        readonly=True,
        copy=False,
        help="Recorded when the serial letter was finalized, to prove the "
        "archived document is unchanged.",
    )
    document_name = fields.Char(
        string="File name",
        compute="_compute_document_name",
        help="The file name of the document, in your language.",
    )
    document_archived = fields.Boolean(
        related="document_attachment_id.serial_correspondence_archived"
    )
    document_outdated = fields.Boolean(
        compute="_compute_document_outdated", compute_sudo=True
    )
    edited_letter_count = fields.Integer(
        string="Edited letters", compute="_compute_edited_letter_count"
    )
    processed_count = fields.Integer(
        string="Recipients processed", compute="_compute_processed_count"
    )

    def _processing_fields(self):
        return super()._processing_fields() | {
            "letter_date",
            "letter_run",
            "letter_part_span",
            "letter_part_window",
            "letter_output",
            "letter_part_ids",
            "document_page_count",
            "document_checksum",
            "document_archived",
        }

    def _own_document(self):
        """The document, with sudo, and only if it is this correspondence's
        own attachment (made by generating): no sudo operation ever touches
        an attachment the correspondence did not make."""
        self.ensure_one()
        document = self.document_attachment_id.sudo()
        if document and (document.res_model, document.res_id) != (self._name, self.id):
            raise AccessError(
                _(
                    "The document of %(name)s is not its own attachment.",
                    name=self.display_name,
                )
            )
        return document

    @api.depends("document_attachment_id", "letter_output", "subject", "letter_date")
    def _compute_document_name(self):
        # computed when read: in the reader's language
        for record in self:
            record.document_name = (
                record._document_filename() if record.document_attachment_id else False
            )

    @api.depends("letter_part_ids.outdated")
    def _compute_document_outdated(self):
        for record in self:
            record.document_outdated = any(record.letter_part_ids.mapped("outdated"))

    @api.depends("recipient_ids.letter_edited", "recipient_ids.state")
    def _compute_edited_letter_count(self):
        counts = {}
        if self.ids:
            groups = self.env["serial.correspondence.recipient"]._read_group(
                [
                    ("correspondence_id", "in", self.ids),
                    ("state", "=", "created"),
                    ("letter_edited", "=", True),
                ],
                ["correspondence_id"],
                ["__count"],
            )
            counts = {correspondence.id: count for correspondence, count in groups}
        for record in self:
            record.edited_letter_count = counts.get(record.id, 0)

    @api.depends("recipient_ids.state")
    def _compute_processed_count(self):
        for record in self:
            record.processed_count = record.recipient_count - record.pending_count

    def unlink(self):
        # the parts' PDFs are attachments of the parts: delete them through
        # the ORM (the database's cascade would leave the files behind)
        self._check_unlocked()
        self.sudo().letter_part_ids.unlink()
        return super().unlink()

    # ------------------------------------------------------------------
    # actions
    # ------------------------------------------------------------------

    def action_generate(self):
        """Generate letters: (again) evaluate every recipient and print the
        document anew; an earlier document and edited letters are dropped."""
        self.ensure_one()
        if not workflow.allows(self.kind, self.state, "generate"):
            raise UserError(
                _(
                    "%(name)s cannot generate letters in its current state.",
                    name=self.display_name,
                )
            )
        self._check_ready_to_generate()
        self._discard_letters()
        self._number_letters()
        self._apply_event("generate")
        self._internal_write(
            {
                "processing_user_id": self.env.uid,
                "letter_run": self.letter_run + 1,
                "letter_date": fields.Date.context_today(self),
                "letter_output": self.output,
            }
        )
        self._start_letter_parts()
        return True

    def action_confirm_generate(self):
        """*Generate letters* / *Generate labels* from the form: check
        everything generating needs, then ask when something would be lost
        (edited letters, or the document of the other output: letters
        replaced by labels or the other way round); :meth:`action_generate`
        does the work (and checks again)."""
        self.ensure_one()
        if not self.can_generate:
            raise UserError(
                _(
                    "%(name)s cannot generate letters in its current state.",
                    name=self.display_name,
                )
            )
        self._check_ready_to_generate()
        labels = self.output == "labels"
        questions = []
        if (
            self.document_attachment_id
            and self.letter_output
            and self.letter_output != self.output
        ):
            questions.append(
                _(
                    "The document holds the letters: generating the address labels "
                    "replaces it with the labels."
                )
                if labels
                else _(
                    "The document holds the address labels: generating the letters "
                    "replaces it with the letters."
                )
            )
        if self.edited_letter_count:
            questions.append(
                _(
                    "Generating again replaces every letter: the changes you made "
                    "to single letters are lost."
                )
            )
        if not questions:
            return self.action_generate()
        questions.append(
            _("Generate the address labels?") if labels else _("Generate the letters?")
        )
        return self._confirmation_action(
            "action_generate",
            " ".join(questions),
            _("Generate labels") if labels else _("Generate letters"),
        )

    def action_open_document(self):
        """Open the document (to check and print it), up to date."""
        self.ensure_one()
        if self.document_outdated and not self.is_locked:
            self._update_letter_document()
        if not self.document_attachment_id:
            raise UserError(
                _(
                    "%(name)s has no document: generate the letters first.",
                    name=self.display_name,
                )
            )
        return {
            "type": "ir.actions.act_url",
            # the file name in the user's language (the attachment's own
            # name is in the language of whoever generated it)
            "url": f"/web/content/{self.document_attachment_id.id}?"
            + url_encode({"download": "false", "filename": self.document_name}),
            "target": "new",
        }

    def action_update_document(self):
        """Print the edited letters again and put the document together."""
        self.ensure_one()
        self._check_unlocked()
        self._update_letter_document()
        return True

    def action_view_letters(self):
        """The single letters (the recipients a letter was created for)."""
        self.ensure_one()
        action = self.env["ir.actions.actions"]._for_xml_id(
            "serial_correspondence.serial_correspondence_letter_action"
        )
        action["domain"] = [
            ("correspondence_id", "=", self.id),
            ("state", "=", "created"),
        ]
        action["context"] = {"create": False}
        return action

    def _before_finalize(self):
        """Serial letters: the document is brought up to date ..."""
        for record in self.filtered(lambda record: record.kind == workflow.LETTER):
            if record.can_finalize and record.document_outdated:
                record._update_letter_document()
        return super()._before_finalize()

    def _after_finalize(self):
        """... becomes unchangeable, and every contact's history records the
        letter."""
        for record in self.filtered(lambda record: record.kind == workflow.LETTER):
            record._archive_letter_document()
            record._log_letters_on_contacts()
        return super()._after_finalize()

    def action_verify_document(self):
        """Check the archived document against its recorded checksum."""
        self.ensure_one()
        intact = self._verify_archived_document()
        return {
            "type": "ir.actions.client",
            "tag": "display_notification",
            "params": {
                "type": "success" if intact else "danger",
                "sticky": not intact,
                "message": _("The archived document is unchanged.")
                if intact
                else _("The archived document does not match its checksum."),
            },
        }

    # ------------------------------------------------------------------
    # starting
    # ------------------------------------------------------------------

    def _check_ready_to_generate(self):
        if missing := self._missing_to_start():
            raise UserError(
                _(
                    "Before generating the letters, give %(name)s %(missing)s.",
                    name=self.display_name,
                    missing=missing,
                )
            )
        self._check_template_model(self.template_id.ids)
        if not self.recipient_count:
            raise UserError(
                _("%(name)s has no recipients to write to.", name=self.display_name)
            )
        if self.env["ir.actions.report"].get_wkhtmltopdf_state() == "install":
            raise UserError(
                _(
                    "Letters cannot be printed: wkhtmltopdf is not installed on "
                    "the server. Ask your administrator to install it."
                )
            )
        if self.output == "letters":
            # the files printed after each letter: refused now, clearly,
            # rather than in a job (see _letter_appendix)
            self._letter_appendix()
        sample = (
            self.env["serial.correspondence.recipient"]
            .search([("correspondence_id", "=", self.id)], order="id", limit=1)
            .partner_id
        )
        _rendered, failures = self._render_messages(sample)
        if failures:
            raise UserError(
                _(
                    "The template cannot be rendered: %(error)s",
                    error=failures[sample.id],
                )
            )

    def _discard_letters(self):
        """Delete the document, its parts and every generated letter; all
        recipients are to be evaluated again."""
        document = self._own_document()
        self._internal_write(
            {"document_attachment_id": False, "document_page_count": 0}
        )
        document.unlink()
        self.sudo().letter_part_ids.unlink()
        self.recipient_ids._internal_write(
            {
                "state": "pending",
                "reason": False,
                "processed_at": False,
                "letter_subject": False,
                "letter_body": False,
                "letter_edited": False,
                "letter_page_count": 0,
            }
        )

    def _number_letters(self):
        """Give every recipient its position in the chosen sort order."""
        Recipient = self.env["serial.correspondence.recipient"]
        Recipient.flush_model()
        self.env.cr.execute(
            SQL(
                """
                SELECT r.id, p.name, p.zip, p.country_id, c.code
                  FROM serial_correspondence_recipient r
                  JOIN res_partner p ON p.id = r.partner_id
             LEFT JOIN res_country c ON c.id = p.country_id
                 WHERE r.correspondence_id = %s
                """,
                self.id,
            )
        )
        rows = self.env.cr.fetchall()
        home = self.company_id.country_id.id
        if self.sort_order == "zip":

            def key(row):
                return ((row[2] or "").strip() or "\uffff", _sort_text(row[1]), row[0])

        elif self.sort_order == "country_zip":
            # domestic mail first, then by country: postal presort

            def key(row):
                return (
                    row[3] != home,
                    row[4] or "\uffff",
                    (row[2] or "").strip() or "\uffff",
                    _sort_text(row[1]),
                    row[0],
                )

        else:

            def key(row):
                return (_sort_text(row[1]), row[0])

        ids = [row[0] for row in sorted(rows, key=key)]
        self.env.cr.execute(
            SQL(
                """
                UPDATE serial_correspondence_recipient r
                   SET letter_sequence = v.position
                  FROM unnest(%s::int[], %s::int[]) AS v(id, position)
                 WHERE r.id = v.id
                """,
                ids,
                list(range(1, len(ids) + 1)),
            )
        )
        Recipient.browse(ids).invalidate_recordset(["letter_sequence"])

    # ------------------------------------------------------------------
    # the generation jobs
    # ------------------------------------------------------------------

    @api.model
    def _letter_part_size(self, output="letters", label_sheet=None):
        size = setting(
            self.env, "letter_part_size", DEFAULT_LETTER_PART_SIZE, minimum=1
        )
        if output == "labels":
            # whole sheets: the labels of the next part start on a new sheet
            per_sheet = LABEL_SHEETS[label_sheet].per_sheet
            size = math.ceil(size / per_sheet) * per_sheet
        return size

    @api.model
    def _letter_parallel_parts(self):
        """How many letter parts of one serial letter are queued (and so may
        be printed) at the same time: the setting ``letter_parallel_parts``,
        by default the number of jobs queue_job's runner runs at once in our
        channel (``tools/senders.py``)."""
        return setting(
            self.env,
            "letter_parallel_parts",
            senders.channel_capacity(JOB_CHANNEL),
            minimum=1,
            maximum=MAX_PARALLEL_PARTS,
        )

    def _start_letter_parts(self):
        """Queue the first part jobs of the run just started.

        Letters, when queue_job runs more than one job of our channel at
        once (:meth:`_letter_parallel_parts`, the window): every part is a
        fixed range of ``letter_part_span`` positions in the sort order
        (part k: positions (k-1)*span+1 to k*span), so parts do not depend
        on each other and are printed in parallel by as many workers (and
        Odoo servers) as queue_job gives the channel. The first ``window``
        parts are queued at once; each part, when printed, queues the part
        ``window`` places further (never more parts waiting than can run:
        the channel stays fair to the other correspondences, and a stop
        leaves few jobs behind). The part that finds every other part
        printed queues the assembly, in its own transaction (see
        :meth:`_letters_evaluated_elsewhere`); queue_job's job dependencies
        would enqueue it in a transaction after the part's commit, which a
        killed server can lose. The document merges the parts by part
        number: sort order, whatever order they were printed in. A part
        holds at most ``span`` letters in memory; exclusions and errors make
        some parts smaller.

        One part after the other (``letter_part_span`` 0), each evaluating
        the next pending recipients until it has a part's worth:

        - labels: a sheet of labels is filled from the recipients that are
          not excluded, so where a part starts is only known once the
          previous one is evaluated; fixed ranges would leave partly empty
          sheets in the middle of the document. Labels are few pages (up to
          24 a sheet) and quick to print;
        - letters when only one job runs at a time: fixed ranges would gain
          nothing, and full parts are fewer."""
        self.ensure_one()
        window = self._letter_parallel_parts()
        if self.output == "labels" or window == 1:
            self.sudo()._internal_write(
                {"letter_part_span": 0, "letter_part_window": 1}
            )
            self._enqueue_letters_part(1)
            return
        span = self._letter_part_size()
        self.sudo()._internal_write(
            {"letter_part_span": span, "letter_part_window": window}
        )
        total = self._letter_part_total(span)
        for part_number in range(1, min(window, total) + 1):
            # the first one is the one shown in the processing status
            self._enqueue_letters_part(part_number, remember=part_number == 1)

    def _letter_part_total(self, span):
        """The number of parts of ``span`` positions of this run."""
        self.env["serial.correspondence.recipient"].flush_model(["letter_sequence"])
        self.env.cr.execute(
            SQL(
                "SELECT max(letter_sequence) FROM serial_correspondence_recipient"
                " WHERE correspondence_id = %s",
                self.id,
            )
        )
        return math.ceil((self.env.cr.fetchone()[0] or 0) / span)

    def _enqueue_letters_part(self, part_number, remember=True):
        self._enqueue_job(
            "_generate_letters_part",
            self.letter_run,
            part_number,
            description=_(
                "Generate letters (part %(part)s) of %(name)s",
                part=part_number,
                name=self.display_name,
            ),
            identity=f"letters-{self.id}-{self.letter_run}-{part_number}",
            remember=remember,
        )

    def _enqueue_letter_assembly(self, remember=True):
        self._enqueue_job(
            "_assemble_letter_document",
            self.letter_run,
            description=_(
                "Put the document of %(name)s together", name=self.display_name
            ),
            identity=f"letters-{self.id}-{self.letter_run}-document",
            remember=remember,
        )

    def _generate_letters_part(self, run, part_number):
        """Job: print part ``part_number`` of generation run ``run``: letters
        in parallel a fixed range of positions
        (:meth:`_generate_letters_range`), else the next part's worth
        (:meth:`_generate_next_part`); see :meth:`_start_letter_parts`."""
        self.ensure_one()
        if self._starter_lost_access():
            return self.sudo()._end_letters_of_lost_starter(run, self.env.user)
        if (narrowed := self._within_starter_companies()) is not None:
            return narrowed._generate_letters_part(run, part_number)
        if self.letter_run != run or self.state != "in_progress":
            return _("Nothing to do: this generation run is over.")
        span = self.sudo().letter_part_span
        if span:
            return self._generate_letters_range(part_number, span)
        return self._generate_next_part(part_number)

    def _hold_correspondence_while_printing(self):
        """A share lock on the correspondence, taken when the part is
        printed and held until it commits. Parallel parts do not write the
        correspondence (they would collide on it), yet a stop must not slip
        between a part's reading and its commit: a stop committed since the
        part job began makes this fail with a serialization error (queue_job
        runs the job again: the run is over, it does nothing), one under way
        makes it wait for the stop, then fail. A stop waits for the parts
        holding it, which are only committing (see
        :meth:`_hold_back_parts_in_print`). Parts share the lock."""
        # a serialization error here is expected and retried: not logged
        self.env.cr.execute(
            SQL(
                "SELECT id FROM serial_correspondence WHERE id = %s FOR SHARE",
                self.id,
            ),
            log_exceptions=False,
        )

    def _generate_letters_range(self, part_number, span):
        """Letters: evaluate the pending recipients at positions
        ``(part_number - 1) * span + 1`` to ``part_number * span``, print
        the created ones as part ``part_number``, queue the part a window
        further, and the assembly when every other part is printed.

        Idempotent: a part's recipients are evaluated, its PDF printed and
        what follows queued in one transaction; run again (a retry, a
        worker killed before its commit was lost and requeued) it finds no
        pending recipient in its range and does nothing."""
        first, last = (part_number - 1) * span + 1, part_number * span
        Recipient = self.env["serial.correspondence.recipient"]
        Part = self.env["serial.correspondence.letter.part"].sudo()
        pending = Recipient.search(
            [
                ("correspondence_id", "=", self.id),
                ("state", "=", "pending"),
                ("letter_sequence", ">=", first),
                ("letter_sequence", "<=", last),
            ],
            order="letter_sequence, id",
        )
        if not pending or Part.search_count(
            [("correspondence_id", "=", self.id), ("sequence", "=", part_number)]
        ):
            return _("Nothing to do: this part has already been printed.")
        printable = self._evaluate_letter_recipients(pending)
        self._print_new_part(part_number, printable)
        self._hold_correspondence_while_printing()
        following = part_number + self.sudo().letter_part_window
        if following <= self._letter_part_total(span):
            self._enqueue_letters_part(following, remember=False)
        if self._letters_evaluated_elsewhere(first, last):
            self._enqueue_letter_assembly(remember=False)
            return _("Part %(part)s printed, the last one.", part=part_number)
        return _("Part %(part)s printed.", part=part_number)

    def _print_new_part(self, part_number, printable):
        """Print the created letters ``printable`` (if any) as part
        ``part_number``."""
        if not printable:
            return
        sequences = printable.mapped("letter_sequence")
        part = (
            self.env["serial.correspondence.letter.part"]
            .sudo()
            .create(
                {
                    "correspondence_id": self.id,
                    "sequence": part_number,
                    "first_sequence": min(sequences),
                    "last_sequence": max(sequences),
                    "output": self.output,
                    "label_sheet": self.label_sheet,
                }
            )
        )
        self._print_part(part)

    def _letters_evaluated_elsewhere(self, first, last):
        """Whether every recipient outside positions ``first`` to ``last``
        (this part's) is evaluated, as committed: then this part is the
        last and queues the assembly, in the transaction that commits the
        part (a part killed after that commit has queued it already).

        Parts end one at a time: a transaction-level advisory lock per
        correspondence, held until the part commits, and a fresh snapshot
        (a cursor of its own) taken after it: of two parts ending together,
        the second sees the first committed. The lock is taken when the
        part is printed, so parts wait for each other only while they
        commit."""
        self.env.flush_all()
        self.env.cr.execute(
            SQL("SELECT pg_advisory_xact_lock(%s, %s)", LETTER_PARTS_LOCK, self.id)
        )
        with self.env.registry.cursor() as cr:
            cr.execute(
                SQL(
                    """
                    SELECT 1 FROM serial_correspondence_recipient
                     WHERE correspondence_id = %s AND state = 'pending'
                       AND (letter_sequence IS NULL
                            OR letter_sequence NOT BETWEEN %s AND %s)
                     LIMIT 1
                    """,
                    self.id,
                    first,
                    last,
                )
            )
            return not cr.fetchone()

    def _generate_next_part(self, part_number):
        """One part after the other (labels, or letters printed one job at a
        time, see :meth:`_start_letter_parts`): evaluate the next pending
        recipients in sort order until a part's worth (labels: whole sheets)
        is created, print them, queue what follows: the next part, or the
        assembly."""
        Part = self.env["serial.correspondence.letter.part"].sudo()
        if Part.search_count(
            [("correspondence_id", "=", self.id), ("sequence", "=", part_number)]
        ):
            return _("Nothing to do: this part has already been printed.")
        size = self._letter_part_size(self.output, self.label_sheet)
        Recipient = self.env["serial.correspondence.recipient"]
        printable = Recipient.browse()
        while len(printable) < size:
            batch = Recipient.search(
                [("correspondence_id", "=", self.id), ("state", "=", "pending")],
                order="letter_sequence, id",
                limit=size - len(printable),
            )
            if not batch:
                break
            printable |= self._evaluate_letter_recipients(batch)
        self._print_new_part(part_number, printable)
        if Recipient.search_count(
            [("correspondence_id", "=", self.id), ("state", "=", "pending")], limit=1
        ):
            self._enqueue_letters_part(part_number + 1)
            return _("Part %(part)s printed, continuing.", part=part_number)
        self._enqueue_letter_assembly()
        return _("All letters printed.")

    def _evaluate_letter_recipients(self, batch):
        """Record who is excluded or in error; render the letters of the
        others and mark them created. Returns the created ones."""
        outcome, rendered = self._evaluate_recipients(batch)
        self._record_evaluation(outcome)
        created = batch.filtered(lambda recipient: recipient not in outcome)
        if self.output == "labels":
            # a label is the address only
            created._set_outcome("created")
            return created
        # one recipient after the other (each its own letter), flushed
        # together; the reason cleared for all at once
        for recipient in created:
            subject, body = rendered[recipient.partner_id.id]
            recipient._internal_write(
                recipient._outcome_values(
                    "created", letter_subject=subject, letter_body=body
                )
            )
        created._write_reason(False)
        return created

    def _assemble_letter_document(self, run):
        """Job: put the printed parts together into the document and record
        the outcome."""
        self.ensure_one()
        if self._starter_lost_access():
            return self.sudo()._end_letters_of_lost_starter(run, self.env.user)
        if (narrowed := self._within_starter_companies()) is not None:
            return narrowed._assemble_letter_document(run)
        if self.letter_run != run or self.state != "in_progress":
            return _("Nothing to do: this generation run is over.")
        self._write_letter_document()
        self.invalidate_recordset()
        created, excluded, errors = (
            self.created_count,
            self.excluded_count,
            self.error_count,
        )
        self._internal_write({"job_uuid": False})
        self._apply_event(workflow.outcome_event(self.kind, excluded, errors))
        self._notify_letters_generated(created, excluded, errors)
        return _(
            "%(created)s, %(excluded)s, %(errors)s.",
            **self._letters_outcome_texts(created, excluded, errors),
        )

    def _letters_outcome_texts(self, created, excluded, errors):
        """The counts of an outcome in words, singular or plural (Odoo's
        Python has no plural forms: one sentence each)."""
        labels = self.output == "labels"
        if created == 1:
            created_text = _("1 label created") if labels else _("1 letter created")
        elif labels:
            created_text = _("%(count)s labels created", count=created)
        else:
            created_text = _("%(count)s letters created", count=created)
        return {
            "created": created_text,
            "excluded": _("1 recipient excluded")
            if excluded == 1
            else _("%(count)s recipients excluded", count=excluded),
            "errors": _("1 with an error")
            if errors == 1
            else _("%(count)s with errors", count=errors),
        }

    def _notify_letters_generated(self, created, excluded, errors):
        pages = self.document_page_count
        body = _(
            "Generated: %(created)s, %(excluded)s, %(errors)s (%(pages)s).",
            pages=_("1 page") if pages == 1 else _("%(count)s pages", count=pages),
            **self._letters_outcome_texts(created, excluded, errors),
        )
        self.message_post(body=body, subtype_xmlid="mail.mt_note")
        self.env.user._bus_send(
            "serial_correspondence/import_done",
            {"id": self.id, "title": _("Letters generated"), "message": body},
        )

    # ------------------------------------------------------------------
    # printing
    # ------------------------------------------------------------------

    def _print_part(self, part):
        """Print the letters (or labels) of ``part`` into its PDF."""
        part = part.sudo()
        recipients = part._recipients(self.env)
        if part.output == "labels":
            sheet = LABEL_SHEETS[part.label_sheet]
            pdf = letter_pdf.html_to_pdf(
                self._labels_html(recipients, part.label_sheet), LABEL_MARGINS_MM
            )
            pages = math.ceil(len(recipients) / sheet.per_sheet)
            page_counts = {}
        else:
            # read once per part; printed after each letter, not numbered
            # with it (letter_page_count is the letter's own pages)
            appendix = self._letter_appendix()
            pdf, page_counts = self._print_letters(recipients)
            pages = sum(page_counts.values())
            if appendix and page_counts:
                pdf, pages = letter_pdf.append_after_each(
                    pdf, page_counts.values(), appendix, title=self.display_name
                )
        recipients = recipients.filtered(lambda r: r.state == "created")
        if not recipients:
            part.unlink()
            return
        for count in set(page_counts.values()):
            recipients.filtered(
                lambda r, c=count: page_counts.get(r) == c
            )._internal_write({"letter_page_count": count})
        part.write(
            {
                "pdf": base64.b64encode(pdf),
                "page_count": pages,
                "letter_count": len(recipients),
                "outdated": False,
            }
        )

    def _print_letters(self, recipients):
        """Print letters in one wkhtmltopdf call and number the pages of the
        letters longer than a page. Returns ``(pdf, {recipient: pages})``."""
        try:
            pdf = letter_pdf.html_to_pdf(
                self._letters_html(recipients), LETTER_MARGINS_MM
            )
            total, starts = letter_pdf.letter_starts(pdf)
            if len(starts) != len(recipients) or starts[0] != 0:
                raise letter_pdf.PdfRenderingError(
                    f"found {len(starts)} letter starts for {len(recipients)} letters"
                )
        except letter_pdf.PdfRenderingError as error:
            _logger.warning(
                "%s: printing %s letters together failed (%s), "
                "printing them one by one",
                self,
                len(recipients),
                error,
            )
            return self._print_letters_one_by_one(recipients)
        ends = [*starts[1:], total]
        counts = {
            r: end - start
            for r, start, end in zip(recipients, starts, ends, strict=True)
        }
        stamps = self._page_number_stamps(recipients, counts, starts)
        if stamps:
            pdf = letter_pdf.stamp_pdf(pdf, stamps, title=self.display_name)
        return pdf, counts

    def _print_letters_one_by_one(self, recipients):
        pdfs, counts, stamps = [], {}, {}
        for recipient in recipients:
            try:
                pdf = letter_pdf.html_to_pdf(
                    self._letters_html(recipient), LETTER_MARGINS_MM
                )
                total, _starts = letter_pdf.letter_starts(pdf)
            except letter_pdf.PdfRenderingError as error:
                recipient._set_outcome(
                    "error",
                    _lt("The letter cannot be printed: %(error)s", error=str(error)),
                )
                continue
            counts[recipient] = total
            page_stamps = self._page_number_stamps(recipient, {recipient: total}, [0])
            if page_stamps:
                stamps[len(pdfs)] = page_stamps
            pdfs.append(pdf)
        if not pdfs:
            return b"", counts
        with tempfile.TemporaryFile() as out:
            letter_pdf.merge_pdfs(pdfs, out, title=self.display_name, stamps=stamps)
            out.seek(0)
            return out.read(), counts

    def _page_number_stamps(self, recipients, counts, starts):
        """ "Page 1 of 2" on every page of the letters with more than one
        page, in the contact's language: ``{page index: (text, x, y)}``."""
        x, y = letter_pdf.page_number_position()
        stamps = {}
        for recipient, start in zip(recipients, starts, strict=True):
            pages = counts[recipient]
            if pages < 2:
                continue
            env = self.with_context(lang=self._letter_lang(recipient)).env
            for page in range(pages):
                text = env._("Page %(page)s of %(pages)s", page=page + 1, pages=pages)
                stamps[start + page] = (text, x, y)
        return stamps

    def _letter_lang(self, recipient, installed=None):
        if installed is None:
            installed = dict(self.env["res.lang"].get_installed())
        lang = recipient.partner_id.lang
        return lang if lang in installed else self.env.lang or "en_US"

    def _letterhead_values(self):
        """The sender: the company's name, address and contact data, logo."""
        company = self.company_id
        logo = False
        if company.logo:
            raw = base64.b64decode(company.logo)
            mimetype = guess_mimetype(raw, default="image/png")
            logo = f"data:{mimetype};base64,{company.logo.decode()}"
        city_line = " ".join(part for part in (company.zip, company.city) if part)
        return {
            "company": company,
            "name": company.name,
            "logo": logo,
            "address": [
                line for line in (company.street, company.street2, city_line) if line
            ],
            "return_address": " · ".join(
                part for part in (company.name, company.street, city_line) if part
            ),
            "country": company.country_id,
            "phone": company.phone,
            "email": company.email,
            "website": company.website,
            "vat": company.vat,
        }

    def _letter_pages_html(self, recipients):
        """The HTML of the letters to ``recipients``, one after the other, each
        in its contact's language."""
        letterhead = self._letterhead_values()
        home = letterhead["country"]
        QWeb = self.env["ir.qweb"]
        runs = []
        installed = dict(self.env["res.lang"].get_installed())
        letter_date = self.letter_date or fields.Date.today()
        dates = {}  # the date in each language, formatted once
        for recipient in recipients:
            lang = self._letter_lang(recipient, installed)
            if lang not in dates:
                dates[lang] = format_date(self.env, letter_date, lang_code=lang)
            if not runs or runs[-1][0] != lang:
                runs.append((lang, []))
            partner = recipient.partner_id
            foreign = partner.country_id and partner.country_id != home
            return_address = letterhead["return_address"]
            if foreign and home:
                return_address = f"{return_address} · {(home.name or '').upper()}"
            return_class = _return_address_class(return_address)
            address_lines = partner._serial_letter_address_lines(home)
            runs[-1][1].append(
                {
                    "recipient": recipient,
                    "address_lines": address_lines,
                    "address_class": "sc-address sc-address-long"
                    if len(address_lines) > 6
                    else "sc-address",
                    "return_address": return_address,
                    "return_class": return_class,
                    "subject": recipient.letter_subject or self.subject or "",
                    "body": Markup(recipient.letter_body or ""),
                    "date": dates[lang],
                }
            )
        return Markup("").join(
            QWeb.with_context(lang=lang)._render(
                "serial_correspondence.letter_pages",
                {"letters": letters, "letterhead": letterhead},
            )
            for lang, letters in runs
        )

    def _letters_html(self, recipients):
        """A complete, self-contained HTML document of the letters, offline:
        images that are attachments the current user may read are embedded,
        any other reference to a resource is removed (the letters' texts come
        from templates and users; wkhtmltopdf would fetch them)."""
        html = self.env["ir.qweb"]._render(
            "serial_correspondence.letter_document",
            {
                "title": self.display_name,
                "zoom": letter_pdf.css_zoom(),
                "pages": self._letter_pages_html(recipients),
            },
        )
        images = letter_pdf.AttachmentImages.for_record(self)
        return Markup(letter_pdf.offline_html(html, images))

    def _labels_html(self, recipients, label_sheet):
        sheet = LABEL_SHEETS[label_sheet]
        home = self.company_id.country_id
        sheets = []
        for index, recipient in enumerate(recipients):
            if index % sheet.per_sheet == 0:
                sheets.append([])
            top, left = sheet.position(index)
            sheets[-1].append(
                {
                    "top": round(top, 3),
                    "left": round(left, 3),
                    "lines": recipient.partner_id._serial_letter_address_lines(home),
                }
            )
        return self.env["ir.qweb"]._render(
            "serial_correspondence.label_document",
            {
                "title": self.display_name,
                "zoom": letter_pdf.css_zoom(),
                "sheet": sheet,
                "sheets": sheets,
                "sheet_height": round(sheet.top + sheet.rows * sheet.pitch_y, 3),
            },
        )

    # ------------------------------------------------------------------
    # the document
    # ------------------------------------------------------------------

    def _document_filename(self):
        """The document's file name, in the language of the environment."""
        name = self.subject or _("Serial letter")
        if (self.letter_output or self.output) == "labels":
            name = _("%(name)s - labels", name=name)
        safe = re.sub(r'[\\/:*?"<>|\r\n]+', " ", name).strip()
        return f"{safe} {self.letter_date or fields.Date.today()}.pdf"

    def _write_letter_document(self):
        """Put the parts together into the document (the same attachment when
        it is updated after edits)."""
        self._hold_back_parts_in_print()
        parts = self.sudo().letter_part_ids.sorted("sequence")
        document = self._own_document()
        if not parts:
            self._internal_write(
                {"document_attachment_id": False, "document_page_count": 0}
            )
            document.unlink()
            return
        with tempfile.TemporaryFile() as out:
            pages = letter_pdf.merge_pdfs(
                (part._pdf_bytes() for part in parts), out, title=self.display_name
            )
            out.seek(0)
            raw = out.read()
        values = {
            "name": self._document_filename(),
            "raw": raw,
            "mimetype": "application/pdf",
        }
        if document:
            document.write(values)
        else:
            document = (
                self.env["ir.attachment"]
                .sudo()
                .create(dict(values, res_model=self._name, res_id=self.id))
            )
        self._internal_write(
            {"document_attachment_id": document.id, "document_page_count": pages}
        )

    def _hold_back_parts_in_print(self):
        """Before the document is written (at the end of generating, at a
        stop, after edits): no part may commit letters this document leaves
        out. Lock the correspondence (waiting for parts that are committing,
        see :meth:`_hold_correspondence_while_printing`; a part still
        printing will wait for this transaction and then fail, as the stop
        has changed the correspondence), then the recipients still pending,
        skipping the ones a part printing now holds. A part committed since
        this transaction began has evaluated some of them: locking them
        fails with a serialization error and the whole action (a stop, say)
        runs again, seeing that part. Nothing here waits for a part that
        waits for this transaction."""
        self.env.flush_all()
        # serialization errors here are expected and retried: not logged
        self.env.cr.execute(
            SQL(
                "SELECT id FROM serial_correspondence WHERE id = %s FOR NO KEY UPDATE",
                self.id,
            ),
            log_exceptions=False,
        )
        self.env.cr.execute(
            SQL(
                """
                SELECT id FROM serial_correspondence_recipient
                 WHERE correspondence_id = %s AND state = 'pending'
                   FOR NO KEY UPDATE SKIP LOCKED
                """,
                self.id,
            ),
            log_exceptions=False,
        )

    def _update_letter_document(self):
        """Print the parts with edited letters again, then the document."""
        outdated = self.sudo().letter_part_ids.filtered("outdated")
        if not outdated:
            return False
        for part in outdated.sorted("sequence"):
            self._print_part(part)
        self._write_letter_document()
        return True

    # ------------------------------------------------------------------
    # finalizing
    # ------------------------------------------------------------------

    def _archive_letter_document(self):
        """Keep the document unchangeable, with its checksum; the parts go."""
        self.sudo().letter_part_ids.unlink()
        document = self._own_document()
        if not document:
            return
        checksum = hashlib.sha256(document.raw).hexdigest()
        document._serial_archive()
        self._internal_write({"document_checksum": checksum})
        self.message_post(
            body=_(
                "Finalized: the document %(name)s is archived and can no longer be "
                "changed (SHA-256 %(checksum)s).",
                name=document.name,
                checksum=checksum,
            ),
            subtype_xmlid="mail.mt_note",
        )

    def _verify_archived_document(self):
        self.ensure_one()
        document = self._own_document()
        if not (document and self.document_checksum):
            return False
        return hashlib.sha256(document.raw).hexdigest() == self.document_checksum

    def _log_letters_on_contacts(self):
        """ "Letter sent" in the history of every contact who got a letter,
        with the date and a link to the serial letter."""
        recipients = self.recipient_ids.filtered(lambda r: r.state == "created")
        if not recipients:
            return
        body = Markup(_("Serial letter %(link)s sent on %(date)s.")) % {
            "link": self._get_html_link(),
            "date": format_date(self.env, fields.Date.context_today(self)),
        }
        partners = recipients.partner_id
        messages = partners._message_log_batch(
            bodies=dict.fromkeys(partners.ids, body),
            author_id=self.env.user.partner_id.id,
            message_type="comment",
        )
        message_by_partner = {message.res_id: message.id for message in messages}
        recipient_ids = recipients.ids
        self.env.cr.execute(
            SQL(
                """
                UPDATE serial_correspondence_recipient r
                   SET message_id = v.message_id
                  FROM unnest(%s::int[], %s::int[]) AS v(id, message_id)
                 WHERE r.id = v.id
                """,
                recipient_ids,
                [message_by_partner[r.partner_id.id] for r in recipients],
            )
        )
        recipients.invalidate_recordset(["message_id"])
