# Copyright 2026 serial_correspondence authors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""A job of this addon that fails is reported on its correspondence.

queue_job tells its job managers on the job itself; the user of a serial
correspondence would see nothing but a correspondence that stops moving. So
when one of our jobs becomes *failed* (through the ORM: queue_job's failure
path, "max retries reached", or a manager), a note with the error goes to the
correspondence's chatter, addressed to the user who started the processing.
"""

import logging

from markupsafe import Markup

from odoo import models

_logger = logging.getLogger(__name__)

MODEL = "serial.correspondence"


class QueueJob(models.Model):
    _inherit = "queue.job"

    def write(self, vals):
        failing = self.browse()
        if vals.get("state") == "failed":
            failing = self.filtered(
                lambda job: job.state != "failed" and job.model_name == MODEL
            )
        result = super().write(vals)
        for job in failing:
            # never in the way of marking the job failed
            try:
                with self.env.cr.savepoint():
                    job._serial_correspondence_report_failure()
            except Exception:
                _logger.exception("Cannot report the failure of %s", job.uuid)
        return result

    def _serial_correspondence_report_failure(self):
        for job in self:
            # the records the job was queued for (chosen by our code, see
            # serial.correspondence._enqueue_job); a note on them, whoever
            # marks the job failed
            for correspondence in job.records.sudo().exists():
                user = correspondence.processing_user_id or correspondence.create_uid
                error = (job.exc_message or job.exc_name or "").strip()
                body = Markup("<p>%s</p>") % correspondence.with_context(
                    lang=user.lang
                ).env._(
                    'The background job "%(job)s" failed: %(error)s. Processing '
                    "stops here; nothing done so far is lost or repeated. Once the "
                    "cause is fixed, an administrator can run the job again "
                    "(Queue Jobs, Requeue).",
                    job=job.name or job.method_name,
                    error=error or "?",
                )
                correspondence.message_post(
                    body=body,
                    subtype_xmlid="mail.mt_note",
                    author_id=self.env.ref("base.partner_root").id,
                    partner_ids=user.partner_id.ids,
                )
