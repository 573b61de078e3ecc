"""Benchmark "Foundation": 100,000 contacts read in as recipients.

What it measures
----------------
A. The real path (ours). A fresh database with serial_correspondence installed
   (no demo data) gets 100,000 contacts. A real Odoo server runs with
   ``--workers`` and queue_job's job runner (``--load=base,web,queue_job``).
   A serial e-mail is created over XML-RPC with a contact filter that matches
   exactly those contacts; the import then runs as a chain of queue_job jobs,
   one batch each (``serial_correspondence.import_batch_size``, default 5000).
   Measured: wall time from the ``create`` call until the state is ``ready``,
   and the peak RSS of the server's processes (psutil, sampled every 0.2 s;
   the figure in the table and the goal are the peak of the worker processes
   that ran the jobs, queue_job's ``worker_pid``). Checked: 100,000
   recipients, no duplicates, no failed job.
   Also counted: the SQL queries of one batch job (``Job.perform()`` plus the
   flush the runner does), run in-process for batch sizes 1000 and 5000
   (batches 3 and 4 of a chain, after two that warm the caches up); the
   counts must be equal (constant number of queries per batch).
B. The reference: the naive ORM way, in-process in this benchmark's own
   process: search the contacts, then one
   ``serial.correspondence.recipient.create([...100,000 vals...])`` and a
   flush. Measured: wall time and peak RSS of this process (psutil, sampled
   every 0.2 s). Rolled back afterwards.

Goals (issue "Foundation", 2-core machine): A in <= 60 s, worker peak RSS
< 1 GB, the same number of queries per batch for any batch size.

The exit code is 1 when a correctness check fails (recipient count,
duplicates, failed jobs, state not reached); missed speed or memory goals are
printed, not turned into a failure.

How to run
----------
    bench/run-bench-import.sh [--contacts 100000] [--keep] [--no-reference]

The wrapper finds Odoo 18.0, starts PostgreSQL and calls this script with
``--odoo-dir`` and ``--addons-path``. The database (``sc_bench_import`` by
default) is dropped first and dropped again at the end unless ``--keep`` is
given. Server logs go to ``var/<db>-*.log`` in the repository.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import threading
import time
import xmlrpc.client
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import psutil
import psycopg2
from psycopg2 import sql

REPO_ROOT = Path(__file__).resolve().parent.parent
ADMIN_LOGIN = "admin"
ADMIN_PASSWORD = "admin"
ADMIN_UID = 2  # base.user_admin
BATCH_PARAM = "serial_correspondence.import_batch_size"
EMAIL_DOMAIN = "bench.example.com"
PARTNER_DOMAIN = [("email", "ilike", f"@{EMAIL_DOMAIN}")]
SAMPLE_INTERVAL = 0.2
MB = 1024 * 1024

GOAL_SECONDS = 60.0
GOAL_PEAK_MB = 1024.0


# ----------------------------------------------------------------------
# memory sampling
# ----------------------------------------------------------------------


class RssSampler(threading.Thread):
    """Sample the RSS of a process and (optionally) its descendants."""

    def __init__(self, pid: int, tree: bool):
        super().__init__(daemon=True)
        self.root = psutil.Process(pid)
        self.tree = tree
        self.peak_by_pid: dict[int, int] = {}
        self.label_by_pid: dict[int, str] = {}
        self.peak_total = 0
        self._stop_event = threading.Event()

    def _processes(self) -> list[psutil.Process]:
        processes = [self.root]
        if self.tree:
            try:
                processes += self.root.children(recursive=True)
            except psutil.NoSuchProcess:
                pass
        return processes

    def sample(self) -> None:
        total = 0
        for process in self._processes():
            try:
                rss = process.memory_info().rss
            except psutil.Error:
                continue
            total += rss
            if rss > self.peak_by_pid.get(process.pid, 0):
                self.peak_by_pid[process.pid] = rss
            if process.pid not in self.label_by_pid:
                self.label_by_pid[process.pid] = self._label(process)
        self.peak_total = max(self.peak_total, total)

    def _label(self, process: psutil.Process) -> str:
        if process.pid == self.root.pid:
            return "main"
        try:
            return "gevent" if "gevent" in process.cmdline() else "worker"
        except psutil.Error:
            return "?"

    def run(self) -> None:
        while not self._stop_event.is_set():
            self.sample()
            self._stop_event.wait(SAMPLE_INTERVAL)

    def stop(self) -> None:
        self._stop_event.set()
        self.join()
        self.sample()

    @property
    def peak_single(self) -> int:
        return max(self.peak_by_pid.values(), default=0)


# ----------------------------------------------------------------------
# results
# ----------------------------------------------------------------------


@dataclass
class Result:
    method: str
    seconds: float | None = None
    recipients: int = 0
    peak_mb: float | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def per_second(self) -> float | None:
        if not self.seconds:
            return None
        return self.recipients / self.seconds


@dataclass
class Checks:
    failures: list[str] = field(default_factory=list)

    def expect(self, condition: bool, message: str) -> None:
        print(f"  check: {'ok  ' if condition else 'FAIL'} {message}")
        if not condition:
            self.failures.append(message)


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


# ----------------------------------------------------------------------
# database set-up
# ----------------------------------------------------------------------


def pg_connect(dbname: str):
    connection = psycopg2.connect(dbname=dbname)
    connection.autocommit = True
    return connection


@contextmanager
def pg_cursor(dbname: str):
    connection = pg_connect(dbname)
    try:
        with connection.cursor() as cr:
            yield cr
    finally:
        connection.close()


def drop_database(db: str) -> None:
    with pg_cursor("postgres") as cr:
        cr.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                sql.Identifier(db)
            )
        )


def release_database(args, registry=None) -> None:
    """The end of a run: close this process's connections to the benchmark
    database, then drop it unless ``--keep`` was given."""
    if registry is not None:
        import odoo.sql_db

        odoo.sql_db.close_db(args.db)
    if args.keep:
        log(f"keeping database {args.db}")
    else:
        drop_database(args.db)
        log(f"dropped database {args.db}")


def exit_code(checks) -> int:
    """1 when a correctness check failed (said), else 0."""
    if checks.failures:
        print(f"CORRECTNESS FAILED: {'; '.join(checks.failures)}")
        return 1
    return 0


def install_database(args) -> None:
    drop_database(args.db)
    logfile = REPO_ROOT / "var" / f"{args.db}-install.log"
    command = [
        sys.executable,
        str(args.odoo_bin),
        f"--database={args.db}",
        f"--addons-path={args.addons_path}",
        "--init=serial_correspondence",
        "--without-demo=all",
        "--stop-after-init",
        "--no-http",
        "--log-level=warn",
        f"--logfile={logfile}",
    ]
    log(f"installing serial_correspondence into {args.db} (log: {logfile})")
    subprocess.run(command, check=True)


def insert_contacts(db: str, count: int, batch_size: int) -> None:
    """Insert ``count`` contacts with plain SQL (set-up, not measured)."""
    with pg_cursor(db) as cr:
        cr.execute(
            """
            INSERT INTO res_partner
                (name, complete_name, type, active, is_company, lang,
                 email, email_normalized, street, zip, city, country_id,
                 partner_share, email_advertising_consent,
                 letter_advertising_consent, no_letters, message_bounce,
                 create_uid, write_uid, create_date, write_date)
            SELECT 'Bench Contact ' || n, 'Bench Contact ' || n, 'contact',
                   true, false, 'en_US',
                   'contact' || n || %(email_domain)s,
                   'contact' || n || %(email_domain)s,
                   n || ' Bench Street', lpad((n %% 99999 + 1)::text, 5, '0'),
                   'Benchtown', (SELECT id FROM res_country WHERE code = 'DE'),
                   true, 'unknown', 'unknown', false, 0,
                   1, 1, now() AT TIME ZONE 'UTC', now() AT TIME ZONE 'UTC'
              FROM generate_series(1, %(count)s) AS n
            """,
            {"count": count, "email_domain": f"@{EMAIL_DOMAIN}"},
        )
        cr.execute(
            "UPDATE res_partner SET commercial_partner_id = id"
            " WHERE commercial_partner_id IS NULL"
        )
        cr.execute(
            """
            INSERT INTO ir_config_parameter
                (key, value, create_uid, write_uid, create_date, write_date)
            VALUES (%s, %s, 1, 1, now() AT TIME ZONE 'UTC', now() AT TIME ZONE 'UTC')
            ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value
            """,
            (BATCH_PARAM, str(batch_size)),
        )
        cr.execute("ANALYZE res_partner")


# ----------------------------------------------------------------------
# A: the real server with queue_job's runner
# ----------------------------------------------------------------------


class OdooServer:
    """A real Odoo server with queue_job's runner (``--workers``)."""

    # further odoo-bin options of a subclass
    extra_options: tuple[str, ...] = ()

    def __init__(self, args, label: str = ""):
        self.args = args
        self.label = label
        name = f"{args.db}-server-{label}" if label else f"{args.db}-server"
        self.logfile = REPO_ROOT / "var" / f"{name}.log"
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.args.port}"

    def start(self) -> None:
        if self.logfile.exists():
            self.logfile.unlink()
        command = [
            sys.executable,
            str(self.args.odoo_bin),
            f"--database={self.args.db}",
            f"--db-filter=^{self.args.db}$",
            f"--addons-path={self.args.addons_path}",
            "--load=base,web,queue_job",
            f"--workers={self.args.workers}",
            "--max-cron-threads=0",
            *self.extra_options,
            "--http-interface=127.0.0.1",
            f"--http-port={self.args.port}",
            f"--gevent-port={self.args.gevent_port}",
            "--log-level=info",
            f"--logfile={self.logfile}",
        ]
        env = dict(os.environ, ODOO_QUEUE_JOB_CHANNELS=f"root:{self.args.workers}")
        log(
            f"starting Odoo{f' for {self.label}' if self.label else ''}: "
            f"--workers={self.args.workers}, --max-cron-threads=0, "
            f"port {self.args.port}, queue_job channels root:{self.args.workers} "
            f"(log: {self.logfile})"
        )
        self.process = subprocess.Popen(
            command, env=env, start_new_session=True, stdin=subprocess.DEVNULL
        )
        self._wait_ready()

    def _wait_ready(self, timeout: float = 120.0) -> None:
        deadline = time.monotonic() + timeout
        common = xmlrpc.client.ServerProxy(f"{self.url}/xmlrpc/2/common")
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"Odoo exited with {self.process.returncode}; see {self.logfile}"
                )
            try:
                common.version()
                break
            except OSError:
                time.sleep(0.5)
        else:
            raise RuntimeError(f"Odoo did not answer on {self.url}; see {self.logfile}")
        # the job runner starts a few seconds after the workers
        while time.monotonic() < deadline:
            if (
                self.logfile.exists()
                and "database connections ready"
                in self.logfile.read_text(errors="replace")
            ):
                log("Odoo and the queue_job runner are ready")
                return
            time.sleep(0.5)
        raise RuntimeError(f"the queue_job runner did not start; see {self.logfile}")

    def stop(self) -> None:
        if not self.process or self.process.poll() is not None:
            return
        try:
            children = psutil.Process(self.process.pid).children(recursive=True)
        except psutil.NoSuchProcess:
            children = []
        # start_new_session: the server leads its own process group
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
        # no forked worker of this server may linger
        _gone, alive = psutil.wait_procs(children, timeout=10)
        for child in alive:
            child.kill()
        log("Odoo stopped")

    def error_lines(self) -> list[str]:
        if not self.logfile.exists():
            return []
        return [
            line
            for line in self.logfile.read_text(errors="replace").splitlines()
            if " ERROR " in line or " CRITICAL " in line
        ]


def run_server_import(args, checks: Checks) -> Result:
    result = Result("A  queue_job batches (ours)")
    server = OdooServer(args)
    server.start()
    try:
        common = xmlrpc.client.ServerProxy(f"{server.url}/xmlrpc/2/common")
        uid = common.authenticate(args.db, ADMIN_LOGIN, ADMIN_PASSWORD, {})
        if not uid:
            raise RuntimeError("admin/admin cannot log in")
        models = xmlrpc.client.ServerProxy(
            f"{server.url}/xmlrpc/2/object", allow_none=True
        )
        db = pg_connect(args.db)
        cr = db.cursor()

        sampler = RssSampler(server.process.pid, tree=True)
        sampler.start()
        log(f"A: creating the serial e-mail over XML-RPC, filter {PARTNER_DOMAIN!r}")
        start = time.perf_counter()
        correspondence_id = models.execute_kw(
            args.db,
            uid,
            ADMIN_PASSWORD,
            "serial.correspondence",
            "create",
            [{"kind": "email", "partner_domain": repr(PARTNER_DOMAIN)}],
        )
        created = time.perf_counter() - start
        state, failed = None, []
        deadline = start + args.timeout
        last_report = start
        while time.perf_counter() < deadline:
            cr.execute(
                "SELECT state, import_done FROM serial_correspondence WHERE id = %s",
                (correspondence_id,),
            )
            state, done = cr.fetchone()
            if state == "ready":
                break
            cr.execute(
                "SELECT uuid, exc_info FROM queue_job"
                " WHERE method_name = '_import_recipients_batch' AND state = 'failed'"
            )
            failed = cr.fetchall()
            if failed:
                break
            if time.perf_counter() - last_report >= 10:
                last_report = time.perf_counter()
                log(f"A: {done} read after {last_report - start:.0f} s")
            time.sleep(0.1)
        elapsed = time.perf_counter() - start
        sampler.stop()
        log(f"A: state {state!r} after {elapsed:.2f} s (create call: {created:.2f} s)")

        checks.expect(
            not failed,
            f"no failed import job{f' ({failed[0][1][-500:]})' if failed else ''}",
        )
        checks.expect(
            state == "ready",
            f"state is 'ready' within {args.timeout:.0f} s (got {state!r})",
        )
        [record] = models.execute_kw(
            args.db,
            uid,
            ADMIN_PASSWORD,
            "serial.correspondence",
            "read",
            [[correspondence_id]],
            {"fields": ["recipient_count", "import_total", "import_done"]},
        )
        cr.execute(
            """
            SELECT count(*), count(DISTINCT r.partner_id),
                   count(*) FILTER (WHERE p.email NOT ILIKE %s),
                   count(*) FILTER (WHERE r.state <> 'pending')
              FROM serial_correspondence_recipient r
              JOIN res_partner p ON p.id = r.partner_id
             WHERE r.correspondence_id = %s
            """,
            (f"%@{EMAIL_DOMAIN}", correspondence_id),
        )
        total, distinct, foreign, not_pending = cr.fetchone()
        checks.expect(
            record["recipient_count"] == args.contacts,
            f"recipient_count over XML-RPC = {record['recipient_count']} "
            f"(want {args.contacts})",
        )
        checks.expect(
            total == args.contacts, f"{total} recipient rows (want {args.contacts})"
        )
        checks.expect(
            distinct == total, f"no duplicates ({distinct} distinct contacts)"
        )
        checks.expect(foreign == 0, f"only matching contacts ({foreign} others)")
        checks.expect(
            not_pending == 0, f"all recipients pending ({not_pending} others)"
        )
        checks.expect(
            record["import_total"] == record["import_done"] == args.contacts,
            f"import_total {record['import_total']}, "
            f"import_done {record['import_done']}",
        )
        cr.execute(
            """
            SELECT count(*), count(*) FILTER (WHERE state = 'done'),
                   coalesce(sum(exec_time), 0), coalesce(max(exec_time), 0),
                   array_agg(DISTINCT worker_pid)
              FROM queue_job WHERE method_name = '_import_recipients_batch'
            """
        )
        jobs, jobs_done, exec_sum, exec_max, worker_pids = cr.fetchone()
        cr.close()
        db.close()

        result.seconds = elapsed
        result.recipients = total
        job_pids = [pid for pid in worker_pids if pid in sampler.peak_by_pid]
        job_peak = max((sampler.peak_by_pid[pid] for pid in job_pids), default=0)
        # the goal is about the worker that runs the jobs; should no job have
        # run in a process of this server, take its largest process instead
        result.peak_mb = (job_peak or sampler.peak_single) / MB
        per_process = ", ".join(
            f"{sampler.label_by_pid[pid]} {pid}{'*' if pid in job_pids else ''} "
            f"{rss / MB:.0f} MB"
            for pid, rss in sorted(sampler.peak_by_pid.items())
        )
        result.notes.append(
            f"{jobs} batch jobs ({jobs_done} done), time inside the jobs "
            f"{exec_sum:.1f} s (longest {exec_max:.2f} s), create call {created:.2f} s"
        )
        result.notes.append(
            f"peak RSS: workers that ran the jobs {job_peak / MB:.0f} MB, "
            f"largest process {sampler.peak_single / MB:.0f} MB, "
            f"whole server (sum) {sampler.peak_total / MB:.0f} MB"
        )
        result.notes.append(f"per process peak RSS: {per_process} (* ran import jobs)")
        errors = server.error_lines()
        if errors:
            result.notes.append(
                f"{len(errors)} ERROR lines in {server.logfile}, first: {errors[0]}"
            )
    finally:
        server.stop()
    return result


# ----------------------------------------------------------------------
# in-process parts: queries per batch, and the naive reference
# ----------------------------------------------------------------------


def use_addons_path(addons_path: str) -> None:
    """Make the addons of ``addons_path`` importable as ``odoo.addons.<name>``
    (as Odoo does when it starts), e.g. the addon's test-support package
    ``odoo.addons.serial_correspondence.testing`` (SMTP sink, server harness)."""
    import odoo
    from odoo.modules.module import initialize_sys_path

    odoo.tools.config["addons_path"] = addons_path
    initialize_sys_path()


def load_registry(args):
    import odoo
    from odoo.modules.registry import Registry

    odoo.tools.config.parse_config(
        [
            f"--database={args.db}",
            f"--addons-path={args.addons_path}",
            "--log-level=warn",
            f"--logfile={REPO_ROOT / 'var' / f'{args.db}-inprocess.log'}",
        ]
    )
    return Registry(args.db)


def count_queries_per_batch(
    registry, sizes: list[int], checks: Checks
) -> dict[int, list[int]]:
    """Queries of batch jobs 3 and 4 (1 and 2 warm the caches up), per size."""
    from odoo import api

    from odoo.addons.queue_job.job import Job

    counts: dict[int, list[int]] = {}
    with registry.cursor() as cr:
        env = api.Environment(cr, ADMIN_UID, {})
        try:
            for size in sizes:
                env["ir.config_parameter"].sudo().set_param(BATCH_PARAM, str(size))
                correspondence = env["serial.correspondence"].create(
                    {"kind": "email", "partner_domain": repr(PARTNER_DOMAIN)}
                )
                env.flush_all()
                counts[size] = []
                for batch in range(1, 5):
                    job = Job.load(env, correspondence.job_uuid)
                    before = cr.sql_log_count
                    job.perform()
                    env.flush_all()  # as queue_job's runner does after perform()
                    if batch > 2:
                        counts[size].append(cr.sql_log_count - before)
                cr.execute(
                    "SELECT count(*) FROM serial_correspondence_recipient"
                    " WHERE correspondence_id = %s",
                    (correspondence.id,),
                )
                [read] = cr.fetchone()
                checks.expect(
                    read == 4 * size,
                    f"in-process: 4 batches of {size} read {read} recipients",
                )
        finally:
            cr.rollback()
    return counts


def run_naive_reference(registry, args, checks: Checks) -> Result:
    from odoo import api

    from odoo.addons.serial_correspondence.tools.processing import processing

    result = Result("B  one ORM create() (reference)")
    with registry.cursor() as cr:
        env = api.Environment(cr, ADMIN_UID, {})
        try:
            correspondence = env["serial.correspondence"].create(
                {"kind": "email", "partner_domain": repr(PARTNER_DOMAIN)}
            )
            env.flush_all()
            env.invalidate_all()
            sampler = RssSampler(os.getpid(), tree=False)
            sampler.sample()
            baseline = sampler.peak_single
            sampler.start()
            log("B: search + one create() of all recipients in this process")
            start = time.perf_counter()
            partner_ids = env["res.partner"].search(PARTNER_DOMAIN, order="id").ids
            with processing():
                env["serial.correspondence.recipient"].create(
                    [
                        {"correspondence_id": correspondence.id, "partner_id": p_id}
                        for p_id in partner_ids
                    ]
                )
            env.flush_all()
            elapsed = time.perf_counter() - start
            sampler.stop()
            log(f"B: done after {elapsed:.2f} s")
            cr.execute(
                "SELECT count(*), count(DISTINCT partner_id)"
                "  FROM serial_correspondence_recipient"
                " WHERE correspondence_id = %s",
                (correspondence.id,),
            )
            total, distinct = cr.fetchone()
            checks.expect(
                total == distinct == args.contacts, f"reference: {total} recipients"
            )
            result.seconds = elapsed
            result.recipients = total
            result.peak_mb = sampler.peak_single / MB
            result.notes.append(
                f"RSS of this process before {baseline / MB:.0f} MB (registry loaded), "
                f"growth {(sampler.peak_single - baseline) / MB:.0f} MB"
            )
        finally:
            cr.rollback()
    return result


# ----------------------------------------------------------------------
# report
# ----------------------------------------------------------------------


def fmt(value: float | None, pattern: str) -> str:
    return "-" if value is None else format(value, pattern)


def print_report(args, results: list[Result], counts: dict[int, list[int]]) -> None:
    print()
    print(
        f"== {args.contacts:,} contacts read in as recipients "
        f"(batch size {args.batch_size}, --workers={args.workers}, "
        f"{os.cpu_count()} CPUs)"
    )
    print(f"{'method':<34} {'seconds':>9} {'recipients/s':>13} {'peak MB':>9}")
    for result in results:
        print(
            f"{result.method:<34} {fmt(result.seconds, '9.2f')} "
            f"{fmt(result.per_second, '13,.0f')} {fmt(result.peak_mb, '9.0f')}"
        )
    for result in results:
        for note in result.notes:
            print(f"  {result.method.split()[0]}: {note}")
    if counts:
        print(
            "queries per batch job (perform + flush, batches 3 and 4): "
            + ", ".join(f"size {size}: {values}" for size, values in counts.items())
        )
    ours = results[0]
    all_counts = {value for values in counts.values() for value in values}
    verdicts = [
        (
            ours.seconds is not None and ours.seconds <= GOAL_SECONDS,
            f"time {fmt(ours.seconds, '.1f')} s <= {GOAL_SECONDS:.0f} s",
        ),
        (
            ours.peak_mb is not None and ours.peak_mb < GOAL_PEAK_MB,
            f"worker peak {fmt(ours.peak_mb, '.0f')} MB < {GOAL_PEAK_MB:.0f} MB",
        ),
        (
            len(all_counts) == 1,
            "constant queries per batch "
            + (
                f"({all_counts.pop()})"
                if len(all_counts) == 1
                else f"({sorted(all_counts)})"
            ),
        ),
    ]
    print(
        "verdict: "
        + "; ".join(f"{'MET' if ok else 'MISSED'} {text}" for ok, text in verdicts)
    )


# ----------------------------------------------------------------------
# main
# ----------------------------------------------------------------------


def parse_args(argv: list[str] | None = None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument(
        "--odoo-dir", required=True, type=Path, help="Odoo 18.0 source tree"
    )
    parser.add_argument("--addons-path", required=True)
    parser.add_argument("--db", default="sc_bench_import")
    parser.add_argument("--contacts", type=int, default=100_000)
    parser.add_argument("--batch-size", type=int, default=5000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--port", type=int, default=8269)
    parser.add_argument("--gevent-port", type=int, default=8272)
    parser.add_argument(
        "--timeout", type=float, default=900.0, help="seconds to wait for A"
    )
    parser.add_argument("--keep", action="store_true", help="keep the database")
    parser.add_argument("--no-reference", action="store_true", help="skip reference B")
    args = parser.parse_args(argv)
    if not args.db.startswith("sc_bench_"):
        parser.error("--db must start with sc_bench_ (it is dropped)")
    args.odoo_bin = args.odoo_dir / "odoo-bin"
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    (REPO_ROOT / "var").mkdir(exist_ok=True)
    checks = Checks()
    results: list[Result] = []
    counts: dict[int, list[int]] = {}
    registry = None
    try:
        install_database(args)
        log(f"inserting {args.contacts:,} contacts (SQL, not measured)")
        insert_contacts(args.db, args.contacts, args.batch_size)

        results.append(run_server_import(args, checks))

        log("loading the registry in this process")
        registry = load_registry(args)
        sizes = [size for size in (1000, 5000) if 4 * size < args.contacts]
        log(f"counting queries per batch job for batch sizes {sizes}")
        counts = count_queries_per_batch(registry, sizes, checks)
        if not args.no_reference:
            results.append(run_naive_reference(registry, args, checks))
    finally:
        release_database(args, registry)

    print_report(args, results, counts)
    return exit_code(checks)


if __name__ == "__main__":
    sys.exit(main())
