"""Benchmark "Load": 5 x 10,000 recipients at once on two Odoo servers.

What it measures
----------------
A fresh database (``sc_bench_load``, serial_correspondence without demo
data) served by two real Odoo server processes at once (``--workers`` HTTP
workers each, ``--load=base,web,queue_job``, no cron thread): server A on
``--port``, server B (``OdooServer(attach_to=A)``) on ``--port-b``, nothing
shared but the database and the filestore. queue_job's runner takes a
PostgreSQL advisory lock per database, so A's runner dispatches (B's stands
by); it sends every job to a round-robin TCP balancer in front of both
(``testing/balancer.py``), as a multi-node installation's ``[queue_job]
host/port`` points at its load balancer, so the jobs run in the workers of
both servers. Channels ``root:<workers*2-1>,root.serial_correspondence:
<--capacity>``: several correspondences run at once.

The load (``testing/load.py``, the same scenario as the suite's
``tests/test_e2e_load.py`` at 5 x 200): three serial e-mails and two serial
letters of ``10,000 x --scale`` recipients each (contacts of their own,
inserted with SQL; 30 % of the e-mail addresses at ``big.example``, the rest
over seven other domains), one template with the contact's name, e-mails
into the addon's SMTP sink (``testing/smtp_sink.py``, in this process, on
loopback). The sending limits bind: at most ``--limit`` e-mails per sliding
window of ``--window-minutes`` (by default the e-mails need twelve windows)
and ``--per-domain`` per recipient domain (by default 28 % of the limit:
less than the 30 % that ``big.example`` would take). The five are
created (alternately through A and B), their recipients read, then started
together over XML-RPC (``action_send``, ``action_generate``, one thread per
call, alternately through A and B), and watched until each has an outcome.

Printed: seconds to complete each; e-mails/s and letters/s; the most
e-mails in any sliding window (from the send log, what was handed to the
mail server, and from the sink's arrival times) against the limit, and per
domain against the per-domain limit; the fair turns: per window, the share
each serial e-mail got, and the longest run of one serial e-mail's e-mails
while another one was still sending; the peak RSS of every process of both
servers (``/proc``, every 0.25 s; the workers that ran jobs marked); jobs
per server; failed jobs (must be 0), duplicates in the sink (must be 0),
lost (must be 0).

The exit code is 1 when a correctness check fails (not complete, a limit
exceeded, a failed job, a duplicate, a loss); missed goals (the limit never
reached, a worker over 1 GB) are printed, not turned into a failure.

How to run
----------
    bench/run-bench-load.sh [--scale 1] [--limit N] [--window-minutes M]
                            [--per-domain K] [--workers 3] [--keep]

``--scale 0.02`` runs 5 x 200 (limit 50 per 6 s) in about 7 minutes, most
of them installing the database. At scale 1 (limit 2,500 per minute, 700
per domain) a run took 26 minutes on a two-core machine shared with other
work (load average 6-11): 3 installing, 21 of load. On a machine that busy
the e-mails do not reach the limit while the letters print; ``--limit``
lower makes it bind. Server logs go to ``var/<db>-server-a.log`` and
``var/<db>-server-b.log``.
"""

from __future__ import annotations

import math
import os
import sys
import time

from common import (
    MB,
    VAR,
    Checks,
    error_note,
    fmt,
    install_database,
    log,
    parse,
    parser,
    print_verdict,
    release_database,
    set_up_odoo,
)

FULL_RECIPIENTS = 10_000
WINDOWS = 12  # the e-mails need this many windows at the limit
# the per-domain limit: a little less than the 30 % of the e-mails that go to
# big.example, so that it binds there and nowhere else
PER_DOMAIN_SHARE = 0.28
GOAL_PEAK_MB = 1024.0


def options(argv):
    result = parser(__doc__, "sc_bench_load", 8400, timeout=3600.0)
    result.set_defaults(workers=3)
    result.add_argument("--port-b", type=int, default=8410, help="server B's port")
    result.add_argument(
        "--gevent-port-b", type=int, default=8413, help="server B's gevent port"
    )
    result.add_argument("--smtp-port", type=int, default=8420, help="the sink's")
    result.add_argument(
        "--scale", type=float, default=1.0, help="recipients = 10,000 x scale"
    )
    result.add_argument(
        "--limit",
        type=int,
        help="e-mails per window; None: the e-mails need 12 windows",
    )
    result.add_argument(
        "--window-minutes",
        type=float,
        help="the window; None: 1 at scale 1, else scale (at least 0.1)",
    )
    result.add_argument(
        "--per-domain",
        type=int,
        help="e-mails per domain; None: 28 %% of the limit",
    )
    result.add_argument(
        "--capacity",
        type=int,
        default=4,
        help="jobs of root.serial_correspondence at once",
    )
    args = parse(result, argv)
    args.recipients = max(10, round(FULL_RECIPIENTS * args.scale))
    if args.window_minutes is None:
        args.window_minutes = min(1.0, max(0.1, round(args.scale, 2)))
    if args.limit is None:
        args.limit = math.ceil(3 * args.recipients / WINDOWS)
    if args.per_domain is None:
        args.per_domain = max(1, math.ceil(round(args.limit * PER_DOMAIN_SHARE, 6)))
    return args


def start_servers(args, database, balancer):
    """Servers A and B on the one database, their runners sending jobs to
    the balancer; returned once both answer and A's runner is ready."""
    from odoo.addons.serial_correspondence.testing import e2e_server

    channels = f"root:{2 * args.workers - 1},root.serial_correspondence:{args.capacity}"
    runner = {"host": "127.0.0.1", "port": balancer.port}
    servers = []
    for label, port, gevent_port in (
        ("a", args.port, args.gevent_port),
        ("b", args.port_b, args.gevent_port_b),
    ):
        name = f"{args.db}-server-{label}"
        (VAR / f"{name}.log").unlink(missing_ok=True)
        common = {
            "workers": args.workers,
            "max_cron_threads": 0,
            "channels": channels,
            "runner_options": runner,
            "name": name,
            "port": port,
            "gevent_port": gevent_port,
            "options": {"limit_time_real": 1800, "limit_time_cpu": 1800},
        }
        if servers:
            server = e2e_server.OdooServer(attach_to=servers[0], **common)
        else:
            server = e2e_server.OdooServer(database=database, **common)
        log(
            f"starting Odoo {label.upper()}: --workers={args.workers}, port {port}, "
            f"channels {channels} (log: {server.logfile})"
        )
        server.start()
        # its own port answered, not another process's
        if not server.running or (
            f"HTTP service (werkzeug) running on 127.0.0.1:{port}"
            not in server.log_text()
        ):
            raise RuntimeError(f"Odoo {label.upper()} is not serving port {port}")
        servers.append(server)
    servers[0].wait_runner_ready(timeout=120)
    balancer.backends = list(servers)
    log(f"both servers ready; the runner sends jobs to the balancer {balancer.port}")
    return servers


def check_and_report(args, run, figures, servers, balancer, checks: Checks) -> None:
    """The checks (correctness) and the printed figures."""
    from odoo.addons.serial_correspondence.testing.load import (
        BIG_DOMAIN,
        busiest_window,
        longest_streak,
        spans,
        window_shares,
    )

    plan = run.plan
    emails, letters = figures.ids("email"), figures.ids("letter")
    names = {id_: values["name"] for id_, values in figures.correspondences.items()}
    window = plan.window
    started = figures.started
    print()
    print(
        f"== load: {len(emails)} serial e-mails + {len(letters)} serial letters of "
        f"{plan.recipients:,} recipients each, started together on two Odoo servers "
        f"(--workers={args.workers} each, {os.cpu_count()} CPUs, load average now "
        f"{os.getloadavg()[0]:.2f})"
    )
    print(
        f"   limits: {plan.limit:,} e-mails per {plan.window_minutes:g} min "
        f"({window:g} s), {plan.per_domain:,} per recipient domain"
    )
    print(f"{'correspondence':<16} {'state':<12} {'recipients':>10} {'seconds':>9}")
    for id_, values in figures.correspondences.items():
        seconds = values["finished"] - started if values["finished"] else None
        print(
            f"{values['name'] + f' ({id_})':<16} {values['state'] or '-':<12} "
            f"{plan.recipients:>10,} {fmt(seconds, '9.1f')}  {values['by_state']}"
        )
    # completion
    for id_ in emails:
        values = figures.correspondences[id_]
        checks.expect(
            values["state"] == "done_auto"
            and values["by_state"] == {"sent": plan.recipients},
            f"{values['name']}: {values['state']} {values['by_state']}",
        )
    for id_ in letters:
        values = figures.correspondences[id_]
        checks.expect(
            values["state"] == "created"
            and values["by_state"] == {"created": plan.recipients},
            f"{values['name']}: {values['state']} {values['by_state']}",
        )

    def rate(ids, count):
        ends = [figures.correspondences[id_]["finished"] for id_ in ids]
        if not ids or not all(ends):
            return None, None
        seconds = max(ends) - started
        return seconds, count / seconds

    email_seconds, email_rate = rate(emails, len(figures.send_log))
    letter_seconds, letter_rate = rate(letters, len(letters) * plan.recipients)
    print(
        f"e-mails: {len(figures.send_log):,} in {fmt(email_seconds, '.1f')} s = "
        f"{fmt(email_rate, '.1f')} e-mails/s (the limit allows "
        f"{plan.limit / window:.1f}/s); letters: {len(letters) * plan.recipients:,} "
        f"in {fmt(letter_seconds, '.1f')} s = {fmt(letter_rate, '.1f')} letters/s"
    )
    # limits
    handed_over = [at for at, _id, _domain in figures.send_log]
    busiest, busiest_start = busiest_window(handed_over, window)
    arrived, _start = busiest_window([at for at, _a in figures.arrivals], window)
    print(
        f"most e-mails in any {window:g} s window: {busiest:,} handed over (send log), "
        f"{arrived:,} arrived (sink); limit {plan.limit:,}"
        + (f", at +{busiest_start - started:.1f} s" if busiest_start else "")
    )
    checks.expect(busiest <= plan.limit, f"send log: {busiest} <= {plan.limit}")
    checks.expect(arrived <= plan.limit, f"sink: {arrived} <= {plan.limit}")
    per_domain = {}
    for domain in sorted({domain for _at, _id, domain in figures.send_log}):
        per_domain[domain] = busiest_window(
            [at for at, _id, d in figures.send_log if d == domain], window
        )[0]
    print(
        "most e-mails per domain in any window: "
        + ", ".join(f"{domain} {count}" for domain, count in per_domain.items())
        + f"; limit {plan.per_domain:,}"
    )
    checks.expect(
        all(count <= plan.per_domain for count in per_domain.values()),
        f"per domain: at most {max(per_domain.values(), default=0)} <= "
        f"{plan.per_domain}",
    )
    # fair turns
    events = figures.emails_by()
    span = spans(events)
    print("fair turns: e-mails handed over per window (from the first e-mail)")
    print(
        f"  {'window from':>11} "
        + " ".join(f"{names[id_]:>9}" for id_ in emails)
        + f" {'all':>7}"
    )
    windows = window_shares(events, window, emails)
    for start, shares in windows:
        print(
            f"  {f'+{start - started:.0f} s':>11} "
            + " ".join(f"{shares[id_]:>9,}" for id_ in emails)
            + f" {sum(shares.values()):>7,}"
        )
    if len(span) == len(emails):
        first_all = max(first for first, _last in span.values())
        last_all = min(last for _first, last in span.values())
        shared = [
            shares
            for start, shares in windows
            if first_all <= start and start + window <= last_all
        ]
        with_turns = sum(all(shares.values()) for shares in shared)
        print(
            f"  windows with all three sending: {len(shared)}, in which every one got "
            f"e-mails: {with_turns}; smallest share in them: "
            + (
                f"{min(min(s.values()) / max(sum(s.values()), 1) for s in shared):.0%}"
                if shared
                else "-"
            )
        )
    length, key, streak_start, streak_end = longest_streak(events)
    if key is not None:
        print(
            f"  longest run of one serial e-mail while another was still sending: "
            f"{length:,} e-mails of {names[key]} (+{streak_start - started:.1f} to "
            f"+{streak_end - started:.1f} s); a fair share per job: "
            f"{math.ceil(plan.limit / plan.emails):,}"
        )
    # memory
    print("peak RSS per process (MB; * = ran jobs; wkhtmltopdf: the largest call):")
    for server in servers:
        rows = [row for row in figures.memory if row[0] == server.name]
        printing = [peak for _g, _pid, kind, peak in rows if kind == "wkhtmltopdf"]
        print(
            f"  {server.name}: "
            + ", ".join(
                f"{kind.replace('job worker', 'worker*')} {pid} {peak / MB:.0f}"
                for _group, pid, kind, peak in rows
                if kind != "wkhtmltopdf"
            )
            + (
                f", wkhtmltopdf ({len(printing)} calls) {max(printing) / MB:.0f}"
                if printing
                else ""
            )
        )
    worker_peak = max(
        (peak for _g, _pid, kind, peak in figures.memory if kind == "job worker"),
        default=0,
    )
    print(f"  largest worker that ran jobs: {worker_peak / MB:.0f} MB")
    # jobs, failures, duplicates, losses
    routed = {}
    for route in balancer.routed:
        routed[route["server"]] = routed.get(route["server"], 0) + 1
    print(f"jobs by state: {figures.jobs}; jobs run per server: {routed}")
    duplicates, lost, unknown = figures.duplicates(), figures.lost(), figures.unknown()
    print(
        f"failed jobs: {len(figures.failed_jobs)}; duplicates in the sink: "
        f"{len(duplicates)}; lost: {len(lost)}; unknown recipients: {len(unknown)}"
    )
    checks.expect(not figures.failed_jobs, f"{len(figures.failed_jobs)} failed jobs")
    checks.expect(not figures.timed_out, "all finished within --timeout")
    checks.expect(not duplicates, f"{len(duplicates)} duplicates")
    checks.expect(not lost, f"{len(lost)} lost")
    checks.expect(not unknown, f"{len(unknown)} unknown recipients")
    checks.expect(len(routed) == 2, f"both servers ran jobs: {routed}")
    for server in servers:
        for note in error_note(server):
            print(f"  {note}")
    print_verdict(
        [
            (busiest == plan.limit, f"the limit bound ({busiest:,} of {plan.limit:,})"),
            (
                per_domain.get(BIG_DOMAIN) == plan.per_domain,
                f"the per-domain limit bound at {BIG_DOMAIN} "
                f"({per_domain.get(BIG_DOMAIN)} of {plan.per_domain})",
            ),
            (
                0 < worker_peak / MB < GOAL_PEAK_MB,
                f"worker peak {worker_peak / MB:.0f} MB < {GOAL_PEAK_MB:.0f} MB",
            ),
        ]
    )


def main(argv=None) -> int:
    args = options(argv)
    set_up_odoo(args)
    from odoo.addons.serial_correspondence.testing import smtp_sink
    from odoo.addons.serial_correspondence.testing.balancer import (
        RoundRobinBalancer,
    )
    from odoo.addons.serial_correspondence.testing.load import (
        GroupMemory,
        LoadRun,
        Plan,
    )

    plan = Plan(
        recipients=args.recipients,
        limit=args.limit,
        window_minutes=args.window_minutes,
        per_domain=args.per_domain,
    )
    checks = Checks()
    database = sink = balancer = None
    directory = VAR / f"{args.db}-mail"
    try:
        database = install_database(args)
        sink = smtp_sink.start("127.0.0.1", args.smtp_port, directory)
        sink.clear()
        log(f"SMTP sink on 127.0.0.1:{args.smtp_port} (files: {directory})")
        balancer = RoundRobinBalancer()
        servers = start_servers(args, database, balancer)
        run = LoadRun(servers, sink, plan, say=log)
        run.prepare(timeout=args.timeout)
        memory = GroupMemory({server.name: server.process.pid for server in servers})
        memory.start()
        log(
            f"starting all five at once: {plan.emails} x action_send, "
            f"{plan.letters} x action_generate over XML-RPC"
        )
        try:
            run.start()
            run.watch(args.timeout)
        finally:
            memory.stop()
        figures = run.collect()
        figures.memory = memory.peaks(figures.job_workers)
        check_and_report(args, run, figures, servers, balancer, checks)
    finally:
        if balancer is not None:
            balancer.close()
        if sink is not None:
            sink.stop()
            if not args.keep:
                for path in directory.glob("*.eml"):
                    path.unlink(missing_ok=True)
        release_database(args, database)
    return checks.exit_code()


if __name__ == "__main__":
    start = time.perf_counter()
    code = main()
    log(f"benchmark done in {time.perf_counter() - start:.0f} s")
    sys.exit(code)
