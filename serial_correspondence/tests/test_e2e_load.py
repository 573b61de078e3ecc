# Copyright 2026 serial_correspondence authors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""Load, small: five correspondences at once on two Odoo servers.

Three serial e-mails and two serial letters of 200 recipients each are
started together over XML-RPC on two real Odoo servers sharing one database
(``OdooServer`` and ``OdooServer(attach_to=...)``, three workers each,
queue_job's runner dispatching through a round-robin balancer to both,
channel ``root.serial_correspondence:4`` so that several run at once), the
e-mails into the real SMTP sink, with tight limits: 80 e-mails per sliding
window of 6 seconds, 20 per recipient domain (30 % of the addresses are at
``big.example``, so both limits bind). The scenario is
``testing/load.py``, the same as ``bench/bench_load.py`` runs with 5 x 10,000.

Asserted: all five complete (every recipient sent or created, none in
error); in every 6-second window at most 80 e-mails were handed over (send
log) and arrived (sink), and the busiest window used the limit exactly; the
same per domain; while the three serial e-mails were all sending, each got
e-mails in every window, and no one of them sent more than two fair shares
in a row while another waited; no job failed; nobody got an e-mail twice,
nobody was lost; both servers ran jobs; every process of both servers stayed
below 1 GB. A fair share is the limit over the serial e-mails sending or
waiting: letters being printed take none (``TestFairShareWithLetters``,
in-process).
"""

import logging
import math
import shutil
import tempfile

from odoo.tests import tagged
from odoo.tests.common import BaseCase

from ..testing import smtp_sink
from ..testing.balancer import RoundRobinBalancer
from ..testing.e2e_server import OdooServer, free_port
from ..testing.load import (
    BIG_DOMAIN,
    GroupMemory,
    LoadRun,
    Plan,
    busiest_window,
    longest_streak,
    spans,
    window_shares,
)
from .common import SerialCorrespondenceCase

_logger = logging.getLogger(__name__)

CHANNELS = "root:5,root.serial_correspondence:4"
WORKERS = 3
MB = 1024 * 1024
MEMORY_BOUND = 1024 * MB


@tagged("post_install", "-at_install", "serial_correspondence_e2e")
class TestE2ELoad(BaseCase):
    """5 x 200 (3 serial e-mails, 2 serial letters) on two servers."""

    plan = Plan(recipients=200, limit=80, window_minutes=0.1, per_domain=20)
    timeout = 240  # seconds for the five to finish

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.mail_dir = tempfile.mkdtemp(prefix="sc_e2e_load_mail_")
        cls.addClassCleanup(shutil.rmtree, cls.mail_dir, ignore_errors=True)
        cls.sink = smtp_sink.start("127.0.0.1", 0, cls.mail_dir)
        cls.addClassCleanup(cls.sink.stop)
        cls.balancer = RoundRobinBalancer()
        cls.addClassCleanup(cls.balancer.close)
        runner_options = {"host": "127.0.0.1", "port": cls.balancer.port}
        # four distinct ports, fixed: a port picked while the first server's
        # gevent process has not bound its port yet would be that one
        ports = []
        for _port in range(4):
            ports.append(free_port(exclude=set(ports)))
        cls.server = OdooServer(
            workers=WORKERS,
            channels=CHANNELS,
            runner_options=runner_options,
            port=ports[0],
            gevent_port=ports[1],
        )
        cls.addClassCleanup(cls.server.close)
        cls.server.start()
        cls.node = OdooServer(
            attach_to=cls.server,
            workers=WORKERS,
            channels=CHANNELS,
            runner_options=runner_options,
            port=ports[2],
            gevent_port=ports[3],
        )
        cls.addClassCleanup(cls.node.close)
        cls.node.start()
        cls.balancer.backends = [cls.server, cls.node]

    def test_five_at_once_on_two_servers_complete_within_limits_and_take_turns(self):
        plan = self.plan
        # two servers really serve the database, each on its own port
        for server in (self.server, self.node):
            self.assertTrue(server.running, server.log_tail())
            self.assertIn(
                f"HTTP service (werkzeug) running on 127.0.0.1:{server.port}",
                server.log_text(),
            )
        run = LoadRun([self.server, self.node], self.sink, plan)
        run.prepare(timeout=120)
        # four connections per serial e-mail: while the three share the
        # limit, each sends its turns over one connection (the others stand
        # down), so the turns asserted below stay even; alone at the end,
        # the last one sends over all four
        run.set_param("send_connections", 4)
        memory = GroupMemory(
            {
                self.server.name: self.server.process.pid,
                self.node.name: self.node.process.pid,
            }
        )
        memory.start()
        try:
            run.start()
            run.watch(self.timeout)
        finally:
            memory.stop()
        figures = run.collect()
        figures.memory = memory.peaks(figures.job_workers)
        emails, letters = figures.ids("email"), figures.ids("letter")
        with self.server.log_on_failure():
            # no job failed, none timed out, all complete
            self.assertFalse(figures.failed_jobs, "failed jobs")
            self.assertFalse(figures.timed_out, f"not finished: {run.progress()}")
            self.assertEqual(set(figures.jobs), {"done"}, "jobs by state")
            for id_ in emails:
                values = figures.correspondences[id_]
                self.assertEqual(values["state"], "done_auto", values)
                self.assertEqual(values["by_state"], {"sent": plan.recipients})
            for id_ in letters:
                values = figures.correspondences[id_]
                self.assertEqual(values["state"], "created", values)
                self.assertEqual(values["by_state"], {"created": plan.recipients})
            # nobody twice, nobody lost, nobody else
            self.assertFalse(figures.duplicates(), "received twice")
            self.assertFalse(figures.lost(), "never received")
            self.assertFalse(figures.unknown(), "received but not a recipient")
            self.assertEqual(len(figures.arrivals), len(emails) * plan.recipients)
            self.assertEqual(len(figures.send_log), len(emails) * plan.recipients)
            # the general limit: held in every window, and it bound
            handed_over = [at for at, _id, _domain in figures.send_log]
            busiest, _start = busiest_window(handed_over, plan.window)
            self.assertEqual(busiest, plan.limit, "most e-mails in a window (log)")
            arrived, _start = busiest_window(
                [at for at, _address in figures.arrivals], plan.window
            )
            self.assertLessEqual(arrived, plan.limit, "most e-mails in a window (sink)")
            # the limit per recipient domain: held, and it bound at big.example
            per_domain = {}
            for domain in {domain for _at, _id, domain in figures.send_log}:
                per_domain[domain], _start = busiest_window(
                    [at for at, _id, d in figures.send_log if d == domain],
                    plan.window,
                )
                self.assertLessEqual(per_domain[domain], plan.per_domain, domain)
            self.assertEqual(per_domain[BIG_DOMAIN], plan.per_domain)
            # fair turns: while all three were sending, each got e-mails in
            # every window
            events = figures.emails_by()
            span = spans(events)
            all_sending = (
                max(first for first, _last in span.values()),
                min(last for _first, last in span.values()),
            )
            shared_windows = [
                shares
                for start, shares in window_shares(events, plan.window, emails)
                if all_sending[0] <= start and start + plan.window <= all_sending[1]
            ]
            self.assertTrue(shared_windows, f"no full window with all three {span}")
            for shares in shared_windows:
                self.assertTrue(
                    all(shares.values()), f"a window without turns {shares}"
                )
            # ... and no one sent more than two fair shares in a row while
            # another waited (a share: the limit over the serial e-mails)
            share = math.ceil(plan.limit / plan.emails)
            streak = longest_streak(events)
            self.assertLessEqual(streak[0], 2 * share, f"longest streak {streak}")
            # both servers ran jobs
            routed = {}
            for route in self.balancer.routed:
                routed[route["server"]] = routed.get(route["server"], 0) + 1
            self.assertEqual(
                set(routed),
                {self.server.name, self.node.name},
                f"jobs run per server {routed}; server B running: "
                f"{self.node.running}\n{self.node.log_tail()}",
            )
            # memory bounded
            for group, pid, kind, peak in figures.memory:
                self.assertLess(peak, MEMORY_BOUND, f"{group} {kind} {pid}")
            for server in (self.server, self.node):
                errors = server.log_lines(r" (ERROR|CRITICAL) ")
                self.assertFalse(errors, f"errors in the log of {server.name}")
        _logger.info(
            "e2e load: 5 x %s on two servers: finished after %s s; busiest window "
            "%s of %s (sink %s), big.example %s of %s; %s windows with all three "
            "sending, shares %s; longest streak %s (2 shares: %s); peak RSS %s MB",
            plan.recipients,
            [
                round(values["finished"] - figures.started, 1)
                for values in figures.correspondences.values()
            ],
            busiest,
            plan.limit,
            arrived,
            per_domain[BIG_DOMAIN],
            plan.per_domain,
            len(shared_windows),
            [list(shares.values()) for shares in shared_windows],
            streak[:2],
            2 * share,
            max(peak for *_rest, peak in figures.memory) // MB,
        )


@tagged("post_install", "-at_install")
class TestFairShareWithLetters(SerialCorrespondenceCase):
    """The fair share of the sending limit is the limit over the serial
    e-mails sending or waiting: serial letters being printed at the same
    time use no e-mail budget and take no share (in-process, real jobs)."""

    def test_letters_being_printed_take_no_share_of_the_email_budget(self):
        params = self.env["ir.config_parameter"].sudo()
        params.set_param("serial_correspondence.throttle_max_emails", "30")
        params.set_param("serial_correspondence.throttle_window_minutes", "1")
        self.partners.write(
            {"street": "Hauptstraße 1", "country_id": self.env.ref("base.de").id}
        )
        template = self.env["mail.template"].create(
            {
                "name": "Rundschreiben",
                "model_id": self.env.ref("base.model_res_partner").id,
                "body_html": "<p>Hallo <t t-out='object.name'/></p>",
            }
        )
        values = {"subject": "Neuigkeiten", "template_id": template.id}
        emails = [
            self.create_correspondence(email_from="verein@example.com", **values)
            for _index in range(2)
        ]
        letters = [
            self.create_correspondence(kind="letter", **values) for _index in range(3)
        ]
        for record in emails + letters:
            self.run_jobs(record)
            self.assertEqual(record.state, "ready")
        emails[0].action_send()
        self.assertEqual(emails[0]._fair_share(False), 30)
        for letter in letters:
            letter.action_generate()
            self.assertEqual(letter.state, "in_progress")
        # three letters printing: still the whole budget for the one e-mail
        self.assertEqual(emails[0]._fair_share(False), 30)
        # a second serial e-mail sending: half each
        emails[1].action_send()
        self.assertEqual(emails[1].state, "in_progress")
        self.assertEqual(emails[0]._fair_share(False), 15)
        self.assertEqual(emails[1]._fair_share(False), 15)
