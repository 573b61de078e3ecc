# Copyright 2026 serial_correspondence authors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""queue_job's ``/queue_job/runjob``: a job of this addon whose connection to
PostgreSQL is lost runs again instead of failing (``tools/job_recovery.py``)."""

import logging

from odoo.addons.queue_job.controllers.main import RunJobController
from odoo.addons.queue_job.exception import FailedJobError, RetryableJobError

from ..tools.job_recovery import (
    RETRY_SECONDS,
    lost_connection_in_chain,
    wait_for_database,
)

_logger = logging.getLogger(__name__)

MODEL = "serial.correspondence"


class SerialCorrespondenceRunJobController(RunJobController):
    @classmethod
    def _try_perform_job(cls, env, job):
        if job.model_name != MODEL:
            return super()._try_perform_job(env, job)
        try:
            return super()._try_perform_job(env, job)
        except Exception as error:
            lost = lost_connection_in_chain(error, env.cr)
            if lost is None:
                raise
            _logger.warning(
                "%s (%s): the connection to the database was lost (%s); "
                "the job runs again in %ss",
                job,
                job.method_name,
                str(lost).strip().splitlines()[0] if str(lost).strip() else lost,
                RETRY_SECONDS,
            )
            # postponing the job (queue_job's _runjob) needs the database
            wait_for_database(env.registry)
            # queue_job's own limit (Job.perform counts the try, and gives
            # up at max_retries only for errors raised inside it)
            if job.max_retries and job.retry >= job.max_retries:
                raise FailedJobError(
                    f"Max. retries ({job.max_retries}) reached: the connection "
                    f"to the database was lost: {lost}"
                ) from error
            raise RetryableJobError(
                _retry_message(env), seconds=RETRY_SECONDS
            ) from error


def _retry_message(env):
    """The job's result while it waits to run again (shown in Queue Jobs)."""
    try:
        return env._("The connection to the database was lost; the job runs again.")
    except Exception:  # the translation needs the database, which is gone
        return "The connection to the database was lost; the job runs again."
