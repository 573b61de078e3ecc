# Copyright 2026 serial_correspondence authors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
import tempfile
import types
from unittest.mock import patch

from odoo import fields
from odoo.tests import new_test_user
from odoo.tests.common import TransactionCase

from odoo.addons.base.models import ir_mail_server
from odoo.addons.queue_job.job import Job

from ..testing import smtp_sink

CHANNEL = "root.serial_correspondence"
SINK_HOST = "127.0.0.1"
SINK_SERVER = "SMTP sink (tests)"


# what ``ir_mail_server.py`` sees of ``odoo.modules`` while it connects
_NOT_TESTING = types.SimpleNamespace(module=types.SimpleNamespace(current_test=False))


def _connect_while_testing(connect):
    """Odoo's ``ir.mail_server.connect``, which does nothing while a test
    runs (``modules.module.current_test``), made to connect: the sends of
    these tests really deliver, to the sink. Only ``connect`` is told that
    no test runs, and only while it runs: the test cursors still know the
    test, and ``send_email`` (which these sends do not use) still skips."""

    def connect_for_real(self, *args, **kwargs):
        with patch.object(ir_mail_server, "modules", _NOT_TESTING):
            return connect(self, *args, **kwargs)

    return connect_for_real


def start_smtp_sink(case):
    """Start a real SMTP sink (``testing/smtp_sink.py``) for the test class
    ``case``, on a free loopback port, and send every e-mail of the class to
    it: a mail server for every sender (``SINK_SERVER``, first in line) and
    the ones already there pointed at the sink. Stopped with the class."""
    directory = tempfile.TemporaryDirectory(prefix="sc_smtp_sink_")
    case.addClassCleanup(directory.cleanup)
    sink = smtp_sink.start(SINK_HOST, 0, directory.name)
    case.addClassCleanup(sink.stop)
    to_the_sink = {
        "smtp_host": SINK_HOST,
        "smtp_port": sink.port,
        "smtp_encryption": "none",
        "smtp_authentication": "login",
        "smtp_user": False,
        "smtp_pass": False,
    }
    Server = case.env["ir.mail_server"].sudo().with_context(active_test=False)
    Server.search([]).write(to_the_sink)
    Server.create(
        {"name": SINK_SERVER, "sequence": 0, "from_filter": False, **to_the_sink}
    )
    server_class = type(case.env["ir.mail_server"])
    case.startClassPatcher(
        patch.object(
            server_class, "connect", _connect_while_testing(server_class.connect)
        )
    )
    return sink


def perform_stored_job(env, job_record):
    """Run one stored job as queue_job's controller does, in the test's
    transaction (flushes where the controller commits)."""
    # what enqueued the job is committed before a worker can take it
    env.flush_all()
    job = Job.load(env, job_record.uuid)
    job.set_started()
    job.store()
    env.flush_all()  # the controller commits this before performing
    job.perform()
    env.flush_all()
    job.set_done()
    job.store()
    env.flush_all()
    # a job that owns its transaction worked with a cursor (and cache) of
    # its own: read what it committed
    env.invalidate_all()
    return job


class SerialCorrespondenceCase(TransactionCase):
    """Real database, real queue_job: jobs are stored by ``with_delay`` and
    performed the way queue_job's runner does (started, performed, done).
    Real SMTP: every e-mail sent goes to the class's SMTP sink (``sink``),
    emptied before each test."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        # jobs that own their transaction (the send job) open a cursor of
        # their own: in test mode that cursor works inside the test's
        # transaction, its commits become savepoints (as in Odoo's HttpCase)
        cls.registry.enter_test_mode(cls.cr)
        cls.addClassCleanup(cls.registry.leave_test_mode)
        cls.env = cls.env(
            context=dict(cls.env.context, tracking_disable=True, mail_create_nolog=True)
        )
        cls.sink = start_smtp_sink(cls)
        cls.user = new_test_user(
            cls.env,
            login="sc_user",
            name="Ulla User",
            email="ulla@example.com",
            groups="base.group_user,serial_correspondence.group_serial_correspondence_user",
            notification_type="email",
        )
        cls.manager = new_test_user(
            cls.env,
            login="sc_manager",
            name="Max Manager",
            groups="base.group_user,serial_correspondence.group_serial_correspondence_manager",
        )
        cls.Correspondence = cls.env["serial.correspondence"]
        cls.Partner = cls.env["res.partner"]
        cls.town = "Testhausen"
        cls.partners = cls.Partner.create(
            [
                {
                    "name": f"Kontakt {i:02d}",
                    "email": f"kontakt{i:02d}@example.com",
                    "city": cls.town,
                    "zip": f"{10000 + i}",
                }
                for i in range(12)
            ]
        )

    def setUp(self):
        super().setUp()
        self.sink.clear()
        self.sink.tempfail(0)

    # -- helpers ----------------------------------------------------------

    def set_batch_size(self, size):
        self.env["ir.config_parameter"].sudo().set_param(
            "serial_correspondence.import_batch_size", str(size)
        )

    def queued_jobs(
        self, correspondence=None, states=("pending", "enqueued"), include_planned=False
    ):
        domain = [("channel", "=", CHANNEL), ("state", "in", list(states))]
        jobs = self.env["queue.job"].sudo().search(domain, order="id")
        # like the runner: a job planned for later is not run before its time
        if not include_planned:
            now = fields.Datetime.now()
            jobs = jobs.filtered(lambda job: not job.eta or job.eta <= now)
        if correspondence:
            jobs = jobs.filtered(lambda job: job.records == correspondence)
        return jobs

    def perform_job(self, job_record):
        """Run one stored job as queue_job's controller does."""
        return perform_stored_job(self.env, job_record)

    def run_jobs(self, correspondence=None, limit=10000):
        """Perform queued jobs (and the ones they enqueue) until none is left;
        return how many ran."""
        count = 0
        while count < limit:
            jobs = self.queued_jobs(correspondence)
            if not jobs:
                return count
            self.perform_job(jobs[0])
            count += 1
        raise AssertionError("jobs keep enqueuing more jobs")

    def create_correspondence(self, user=None, **vals):
        vals.setdefault("kind", "email")
        vals.setdefault("partner_domain", repr([("city", "=", self.town)]))
        return self.Correspondence.with_user(user or self.user).create(vals)
