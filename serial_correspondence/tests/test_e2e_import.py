# Copyright 2026 serial_correspondence authors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""Reading recipients survives a server that is killed.

End to end: a real Odoo server with queue_job's runner (see
``testing/e2e_server.py``), 30,000 contacts, a batch size of 1000 (31 jobs),
the server killed with SIGKILL in the middle of the import and started
again. Whatever the moment of the kill, the import ends with every contact a
recipient exactly once.
"""

import logging
import signal

from odoo.tests import tagged
from odoo.tests.common import BaseCase

from ..testing.e2e_server import DEFAULT_CHANNELS, E2EError, OdooServer

BATCH_PARAM = "serial_correspondence.import_batch_size"
IMPORT_METHOD = "_import_recipients_batch"

_logger = logging.getLogger(__name__)


@tagged("post_install", "-at_install", "serial_correspondence_e2e")
class TestE2EImportSurvivesKilledServer(BaseCase):
    contacts = 30000
    batch_size = 1000
    town = "Absturzhausen"
    # seconds; generous for a busy two-core machine
    import_timeout = 150

    def setUp(self):
        super().setUp()
        self.server = OdooServer()
        self.addCleanup(self.server.close)
        self.partner_ids = self.server.insert_partners(self.contacts, self.town)
        # contacts elsewhere, which must not become recipients
        self.server.insert_partners(200, "Anderswo", name_prefix="E2E Elsewhere")
        # uuids of the import jobs that were running when the server was killed
        self.killed_running = set()

    # -- helpers ------------------------------------------------------------

    def _create_correspondence(self):
        self.server.rpc(
            "ir.config_parameter", "set_param", BATCH_PARAM, str(self.batch_size)
        )
        return self.server.rpc(
            "serial.correspondence",
            "create",
            {
                "kind": "email",
                "subject": "Absturz-Test",
                "partner_domain": repr([("city", "=", self.town)]),
            },
        )

    def _progress(self, correspondence_id):
        """The correspondence and its current job, as the server committed them."""
        rows = self.server.sql(
            """
            SELECT c.state, COALESCE(c.import_done, 0), COALESCE(c.import_total, 0),
                   j.uuid, j.state,
                   (SELECT count(*) FROM serial_correspondence_recipient r
                     WHERE r.correspondence_id = c.id),
                   (SELECT count(*) FROM queue_job WHERE state = 'failed')
              FROM serial_correspondence c
              LEFT JOIN queue_job j ON j.uuid = c.job_uuid
             WHERE c.id = %s
            """,
            [correspondence_id],
        )
        keys = (
            "state",
            "done",
            "total",
            "job_uuid",
            "job_state",
            "recipients",
            "failed",
        )
        progress = dict(zip(keys, rows[0], strict=True))
        if progress["failed"]:
            self.server.check_no_failed_job()
        return progress

    def _job(self, uuid):
        rows = self.server.sql(
            "SELECT state, retry, exc_info FROM queue_job WHERE uuid = %s", [uuid]
        )
        return dict(zip(("state", "retry", "exc_info"), rows[0], strict=True))

    @property
    def jobs(self):
        """Import jobs: the full batches and the one that finds nothing more."""
        return self.contacts // self.batch_size + 1

    def _runs_per_job(self):
        """{runs: number of import jobs}; queue_job's ``retry`` counts runs."""
        return dict(
            self.server.sql(
                "SELECT retry, count(*) FROM queue_job WHERE method_name = %s"
                " GROUP BY retry",
                [IMPORT_METHOD],
            )
        )

    def _kill_when(self, correspondence_id, job_states, min_done):
        """Kill the server (SIGKILL) as soon as at least ``min_done`` contacts
        are read and the current import job is in one of ``job_states``;
        return the progress seen right before the kill."""

        def kill_point():
            progress = self._progress(correspondence_id)
            if progress["state"] != "importing":
                raise E2EError(
                    f"the import ended before the kill point ({min_done} read, job "
                    f"{job_states}): {progress}"
                )
            if progress["done"] >= min_done and progress["job_state"] in job_states:
                return progress
            return None

        seen = self.server.wait_for(
            kill_point,
            self.import_timeout,
            f"{min_done} recipients read and the import job in state {job_states}",
            interval=0.01,
        )
        self.server.kill(signal.SIGKILL)
        _logger.info(
            "e2e: killed the server with %s read, job %s %s",
            seen["done"],
            seen["job_uuid"],
            seen["job_state"],
        )
        return seen

    def _wait_ready(self, correspondence_id):
        def ready():
            progress = self._progress(correspondence_id)
            return progress if progress["state"] == "ready" else None

        return self.server.wait_for(
            ready, self.import_timeout, "the correspondence to be ready"
        )

    def _assert_every_contact_read_once(self, correspondence_id):
        progress = self._progress(correspondence_id)
        self.assertEqual(progress["state"], "ready")
        self.assertEqual(
            (progress["done"], progress["total"]), (self.contacts, self.contacts)
        )
        [(count, distinct)] = self.server.sql(
            "SELECT count(*), count(DISTINCT partner_id)"
            " FROM serial_correspondence_recipient WHERE correspondence_id = %s",
            [correspondence_id],
        )
        self.assertEqual((count, distinct), (self.contacts, self.contacts))
        missing = self.server.sql_value(
            """
            SELECT count(*) FROM unnest(%s::int[]) AS p(id)
             WHERE NOT EXISTS (
                SELECT 1 FROM serial_correspondence_recipient r
                 WHERE r.correspondence_id = %s AND r.partner_id = p.id)
            """,
            [self.partner_ids, correspondence_id],
        )
        self.assertEqual(missing, 0, "contacts of the filter that are no recipient")
        job_states = dict(
            self.server.sql(
                "SELECT state, count(*) FROM queue_job WHERE method_name = %s"
                " GROUP BY state",
                [IMPORT_METHOD],
            )
        )
        self.assertEqual(job_states, {"done": self.jobs}, "import jobs")
        self.assertEqual(
            self.server.sql_value(
                "SELECT count(*) FROM queue_job WHERE state = 'failed'"
            ),
            0,
        )
        errors = self.server.log_lines(r" (ERROR|CRITICAL) ")
        self.assertFalse(errors, "errors in the server log:\n" + "\n".join(errors))

    def _in_flight_jobs(self):
        """{uuid: state} of the jobs a worker had taken (or was about to)."""
        return dict(
            self.server.sql(
                "SELECT uuid, state FROM queue_job"
                " WHERE state IN ('enqueued', 'started')"
            )
        )

    def _crash(self, correspondence_id, job_state, min_done, channels):
        """Kill the server once ``min_done`` contacts are read, at a moment
        when the current import job is in ``job_state``, and check that the
        kill came at that moment: for "started", a job was still running
        (its transaction open, nothing of it committed); for "pending",
        nothing was running. When the kill came a moment too late, start the
        server (with ``channels``) and try again a few batches later.

        Return the progress after the kill; remember the jobs killed while
        they ran in ``self.killed_running``.
        """
        for attempt in range(3):
            seen = self._kill_when(
                correspondence_id,
                (job_state,),
                min_done=min_done + attempt * 3 * self.batch_size,
            )
            in_flight = self._in_flight_jobs()
            running = {uuid for uuid, state in in_flight.items() if state == "started"}
            self.killed_running |= running
            if job_state == "started":
                hit = bool(running)
            else:
                hit = (
                    not in_flight and self._job(seen["job_uuid"])["state"] == job_state
                )
            if hit:
                break
            _logger.info("e2e: the kill came a moment too late, trying again")
            self.server.wait_dead_jobs_requeueable()
            self.server.start(channels=channels)
        else:
            self.fail(f"could not kill the server while an import job was {job_state}")
        after = self._progress(correspondence_id)
        # some, not all, recipients read; only whole batches committed
        with self.server.log_on_failure():
            self.assertEqual(after["state"], "importing")
            self.assertTrue(0 < after["done"] < self.contacts, after)
            self.assertEqual(after["done"] % self.batch_size, 0, after)
            self.assertEqual(after["recipients"], after["done"], after)
        return after

    def _restart_and_finish(self, correspondence_id, channels=DEFAULT_CHANNELS):
        """Start the killed server again; the import must end complete."""
        self.server.wait_dead_jobs_requeueable()
        self.server.start(channels=channels)
        self._wait_ready(correspondence_id)
        with self.server.log_on_failure():
            self._assert_every_contact_read_once(correspondence_id)
            # queue_job's runner found each job killed while it ran dead and
            # queued it again; ``retry`` counts runs, the dead one included
            for uuid in self.killed_running:
                self.assertTrue(
                    self.server.log_lines(f"Re-queued dead job with uuid: {uuid}"),
                    f"queue_job's runner did not requeue the killed job {uuid}",
                )
            twice = len(self.killed_running)
            expected_runs = (
                {1: self.jobs - twice, 2: twice} if twice else {1: self.jobs}
            )
            self.assertEqual(self._runs_per_job(), expected_runs, "runs per import job")

    # -- tests --------------------------------------------------------------

    def test_batch_killed_while_running_is_read_again_without_duplicates(self):
        self.server.start()
        correspondence_id = self._create_correspondence()
        self._crash(correspondence_id, "started", self.contacts // 4, DEFAULT_CHANNELS)
        self.assertEqual(len(self.killed_running), 1)
        self._restart_and_finish(correspondence_id)

    def test_server_killed_between_batches_continues_where_it_stopped(self):
        # a throttled channel leaves about a second between two batches, in
        # which the next job waits (state "pending") and none runs
        throttled = f"{DEFAULT_CHANNELS}:throttle=1"
        self.server.start(channels=throttled)
        correspondence_id = self._create_correspondence()
        self._crash(correspondence_id, "pending", self.contacts // 6, throttled)
        self._restart_and_finish(correspondence_id)
