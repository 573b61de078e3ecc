"""What the benchmarks share: Odoo set-up, the database, the server, memory
sampling, the report.

The server and the SMTP sink are the addon's test-support package
(``serial_correspondence/testing``: ``e2e_server.OdooServer`` and
``smtp_sink``), the same as the tests' and the demo's; this module only gives
them the benchmarks' settings: a database named by ``--db`` (dropped first,
and at the end unless ``--keep``), fixed ``--port``/``--gevent-port``,
``--workers`` with queue_job's channel ``root:<workers>``, no cron thread,
files in ``var/`` (``<db>-install.log``, ``<db>-server[-<label>].log``,
``<db>-inprocess.log``, the filestore in ``<db>-data``).
"""

from __future__ import annotations

import argparse
import os
import shutil
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import psutil

REPO_ROOT = Path(__file__).resolve().parent.parent
VAR = REPO_ROOT / "var"
ADMIN_UID = 2  # base.user_admin
EMAIL_DOMAIN = "bench.example.com"
MB = 1024 * 1024
# a benchmark drops its database: only names it may own
DB_PREFIXES = ("sc_bench_", "bench_par_")


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def fmt(value, pattern: str) -> str:
    """``value`` formatted, or ``-`` as wide as the pattern asks."""
    if value is None:
        width = "".join(c for c in pattern.split(".", maxsplit=1)[0] if c.isdigit())
        return "-".rjust(int(width or 0))
    return format(value, pattern)


# ----------------------------------------------------------------------
# arguments, Odoo in this process
# ----------------------------------------------------------------------


def parser(doc: str, db: str, port: int, **defaults) -> argparse.ArgumentParser:
    """The options of every benchmark; ``defaults``: more options' defaults
    (``contacts=...``, ``timeout=...``)."""
    result = argparse.ArgumentParser(
        description=doc.split("\n", 1)[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    result.add_argument(
        "--addons-path", required=True, help="given by the run-bench-*.sh wrapper"
    )
    result.add_argument(
        "--db", default=db, help="dropped first; starts sc_bench_ or bench_par_"
    )
    result.add_argument("--workers", type=int, default=2, help="Odoo's workers")
    result.add_argument("--port", type=int, default=port, help="Odoo's HTTP port")
    result.add_argument(
        "--gevent-port", type=int, default=port + 3, help="Odoo's gevent port"
    )
    result.add_argument(
        "--timeout",
        type=float,
        default=defaults.pop("timeout", 900.0),
        help="seconds to wait for ours",
    )
    result.add_argument("--keep", action="store_true", help="keep the database")
    if "contacts" in defaults:
        result.add_argument(
            "--contacts", type=int, default=defaults.pop("contacts"), help="size"
        )
    return result


def parse(parser_: argparse.ArgumentParser, argv=None):
    args = parser_.parse_args(argv)
    if not args.db.startswith(DB_PREFIXES):
        parser_.error(
            f"--db must start with {' or '.join(DB_PREFIXES)} (it is dropped)"
        )
    return args


def set_up_odoo(args):
    """Configure Odoo in this process (the in-process parts, and the harness
    reads its settings); return the harness module ``e2e_server``."""
    import odoo
    from odoo.modules.module import initialize_sys_path

    VAR.mkdir(exist_ok=True)
    odoo.tools.config.parse_config(
        [
            f"--database={args.db}",
            f"--addons-path={args.addons_path}",
            "--log-level=warn",
            f"--logfile={VAR / f'{args.db}-inprocess.log'}",
        ]
    )
    initialize_sys_path()
    from odoo.addons.serial_correspondence.testing import e2e_server

    return e2e_server


def load_registry(args):
    from odoo.modules.registry import Registry

    return Registry(args.db)


# ----------------------------------------------------------------------
# the database and the server
# ----------------------------------------------------------------------


def install_database(args, modules=("serial_correspondence",)):
    """``args.db`` made anew with ``modules`` (no demo data); the harness's
    :class:`Database`."""
    from odoo.addons.serial_correspondence.testing import e2e_server

    database = e2e_server.Database(
        args.db, VAR, modules=modules, data_dir=VAR / f"{args.db}-data"
    )
    logfile = VAR / f"{args.db}-install.log"
    logfile.unlink(missing_ok=True)
    log(f"installing {', '.join(modules)} into {args.db} (log: {logfile})")
    database.install(logfile=str(logfile))
    return database


def release_database(args, database, registry=None) -> None:
    """The end of a run: close this process's connections to the database,
    stop its servers, drop it unless ``--keep`` was given."""
    if registry is not None:
        import odoo.sql_db

        odoo.sql_db.close_db(args.db)
    if database is None:
        return
    for server in list(database.servers):
        server.stop()
        for path in (server.conf, server.pidfile):
            Path(path).unlink(missing_ok=True)
    Path(database.work_dir, f"{args.db}-install.conf").unlink(missing_ok=True)
    if args.keep:
        log(f"keeping database {args.db}")
    else:
        database.drop()
        shutil.rmtree(database.data_dir, ignore_errors=True)
        log(f"dropped database {args.db}")


def start_server(args, database, label: str = "", options=None):
    """A real Odoo server on the benchmark's database (``--workers``,
    ``--load=base,web,queue_job``, ``--max-cron-threads=0``, queue_job's
    channels ``root:<workers>``, ``options``: more of its configuration);
    returned once admin can log in and queue_job's runner is ready."""
    from odoo.addons.serial_correspondence.testing import e2e_server

    name = f"{args.db}-server" + (f"-{label}" if label else "")
    (VAR / f"{name}.log").unlink(missing_ok=True)
    channels = f"root:{args.workers}"
    server = e2e_server.OdooServer(
        database=database,
        name=name,
        workers=args.workers,
        max_cron_threads=0,
        channels=channels,
        options=options,
        port=args.port,
        gevent_port=args.gevent_port,
    )
    log(
        f"starting Odoo{f' for {label}' if label else ''}: --workers={args.workers}, "
        f"--max-cron-threads=0, port {args.port}, queue_job channels {channels} "
        f"(log: {server.logfile})"
    )
    server.start()
    server.wait_runner_ready(timeout=120)
    log("Odoo and the queue_job runner are ready")
    return server


def error_lines(server) -> list[str]:
    return server.log_lines(r" (ERROR|CRITICAL) ")


def error_note(server) -> list[str]:
    """A note on the ERROR lines of the server's log, if any."""
    errors = error_lines(server)
    if not errors:
        return []
    return [f"{len(errors)} ERROR lines in {server.logfile}, first: {errors[0]}"]


def db_cursor(args, autocommit=True):
    """A cursor of a new connection to the benchmark's database (close its
    ``connection`` when done)."""
    from odoo.addons.serial_correspondence.testing import e2e_server

    connection = e2e_server.pg_connect(args.db)
    connection.autocommit = autocommit
    return connection.cursor()


def set_param(cr, key: str, value) -> None:
    cr.execute(
        """
        INSERT INTO ir_config_parameter
            (key, value, create_uid, write_uid, create_date, write_date)
        VALUES (%s, %s, 1, 1, now() AT TIME ZONE 'UTC', now() AT TIME ZONE 'UTC')
        ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value
        """,
        (key, str(value)),
    )


def insert_contacts(
    cr, count: int, prefix="Bench Contact ", local="contact", domain=EMAIL_DOMAIN
) -> None:
    """Insert ``count`` contacts with a German postal address and the
    address ``<local><n>@<domain>`` with plain SQL (set-up, not measured)."""
    cr.execute(
        """
        INSERT INTO res_partner
            (name, complete_name, type, active, is_company, lang,
             email, email_normalized, street, zip, city, country_id,
             partner_share, email_advertising_consent,
             letter_advertising_consent, no_letters, message_bounce,
             create_uid, write_uid, create_date, write_date)
        SELECT %(prefix)s || n, %(prefix)s || n, 'contact', true, false, 'en_US',
               %(local)s || n || '@' || %(domain)s,
               %(local)s || n || '@' || %(domain)s,
               n || ' Bench Street', lpad((n %% 99999 + 1)::text, 5, '0'),
               'Benchtown', (SELECT id FROM res_country WHERE code = 'DE'),
               true, 'unknown', 'unknown', false, 0,
               1, 1, now() AT TIME ZONE 'UTC', now() AT TIME ZONE 'UTC'
          FROM generate_series(1, %(count)s) AS n
        """,
        {"prefix": prefix, "local": local, "domain": domain, "count": count},
    )
    cr.execute(
        "UPDATE res_partner SET commercial_partner_id = id"
        " WHERE commercial_partner_id IS NULL"
    )
    cr.execute("ANALYZE res_partner")


def vacuum_database(args) -> None:
    """``VACUUM ANALYZE`` the benchmark's database before a measured run, so
    that PostgreSQL's autovacuum catching up with the earlier runs' writes
    (or the contacts just inserted) does not fall into this run's window; what
    a run writes itself is still vacuumed inside it, when autovacuum decides."""
    cr = db_cursor(args)
    try:
        cr.execute("VACUUM ANALYZE")
    finally:
        cr.connection.close()


def wait_state(cr, record: int, states, timeout: float, interval=0.1) -> str:
    """Poll the state of serial correspondence ``record`` until it is one of
    ``states``; fail at once when a job failed. Each poll ends with a
    rollback, so that polling adds no committed transaction."""
    deadline = time.monotonic() + timeout
    state = None
    try:
        while time.monotonic() < deadline:
            cr.execute(
                "SELECT state FROM serial_correspondence WHERE id = %s", [record]
            )
            [state] = cr.fetchone()
            if state in states:
                return state
            cr.execute("SELECT exc_info FROM queue_job WHERE state = 'failed' LIMIT 1")
            failed = cr.fetchone()
            if failed:
                raise RuntimeError(f"a job failed: {failed[0][-1500:]}")
            cr.connection.rollback()
            time.sleep(interval)
    finally:
        cr.connection.rollback()
    raise RuntimeError(f"correspondence {record} in state {state!r} after {timeout} s")


# ----------------------------------------------------------------------
# memory
# ----------------------------------------------------------------------


class Sampler(threading.Thread):
    """Peak RSS per process of a process (and, with ``tree``, its
    descendants), per process together with its descendants at the same
    moment, and of all of them together; processes labelled main, worker,
    gevent or wkhtmltopdf."""

    def __init__(self, pid: int, tree: bool = True, interval: float = 0.2):
        super().__init__(daemon=True)
        self.root = psutil.Process(pid)
        self.tree = tree
        self.interval = interval
        self.peak_by_pid: dict[int, int] = {}
        self.peak_with_children: dict[int, int] = {}
        self.peak_total = 0
        self.label_by_pid: dict[int, str] = {}
        self.seen: dict[int, list[float]] = {}  # pid: [first, last] (monotonic)
        self._stop_event = threading.Event()

    def sample(self) -> None:
        processes = [self.root]
        if self.tree:
            try:
                processes += self.root.children(recursive=True)
            except psutil.NoSuchProcess:
                pass
        now = time.monotonic()
        rss, parent = {}, {}
        for process in processes:
            try:
                rss[process.pid] = process.memory_info().rss
                parent[process.pid] = process.ppid()
            except psutil.Error:
                continue
            self.seen.setdefault(process.pid, [now, now])[1] = now
            if process.pid not in self.label_by_pid:
                self.label_by_pid[process.pid] = self._label(process)
        totals = dict(rss)
        for pid, value in rss.items():
            self.peak_by_pid[pid] = max(self.peak_by_pid.get(pid, 0), value)
            ancestor = parent.get(pid)
            while ancestor in rss and ancestor != self.root.pid:
                totals[ancestor] += value
                ancestor = parent.get(ancestor)
        for pid, value in totals.items():
            self.peak_with_children[pid] = max(
                self.peak_with_children.get(pid, 0), value
            )
        self.peak_total = max(self.peak_total, sum(rss.values()))

    def _label(self, process: psutil.Process) -> str:
        if process.pid == self.root.pid:
            return "main"
        try:
            cmdline = process.cmdline()
        except psutil.Error:
            return "?"
        if cmdline and "wkhtmltopdf" in os.path.basename(cmdline[0]):
            return "wkhtmltopdf"
        return "gevent" if "gevent" in cmdline else "worker"

    def run(self) -> None:
        while not self._stop_event.is_set():
            self.sample()
            self._stop_event.wait(self.interval)

    def stop(self) -> None:
        self._stop_event.set()
        self.join()
        self.sample()

    @property
    def peak_single(self) -> int:
        return max(self.peak_by_pid.values(), default=0)

    def pids(self, label: str) -> list[int]:
        return [pid for pid, value in self.label_by_pid.items() if value == label]

    def count(self, label: str) -> int:
        return len(self.pids(label))

    def peak(self, label: str, pids=None) -> int:
        return max(
            (
                self.peak_by_pid[pid]
                for pid in self.pids(label)
                if pid in self.peak_by_pid and (pids is None or pid in pids)
            ),
            default=0,
        )

    def peak_of(self, pids) -> int:
        """The peak of ``pids`` seen here, or of the largest process."""
        peak = max((self.peak_by_pid.get(pid, 0) for pid in pids or ()), default=0)
        return peak or self.peak_single

    def peak_tree(self, pids) -> int:
        return max((self.peak_with_children.get(pid, 0) for pid in pids), default=0)

    def seconds(self, label: str) -> float:
        """From the first to the last moment a process of ``label`` ran."""
        spans = [self.seen[pid] for pid in self.pids(label) if pid in self.seen]
        if not spans:
            return 0.0
        return max(span[1] for span in spans) - min(span[0] for span in spans)

    def per_process(self, marked=(), what="") -> str:
        """``label pid[*] MB, ...``: each process's peak (* the ``marked``)."""
        text = ", ".join(
            f"{self.label_by_pid[pid]} {pid}{'*' if pid in marked else ''} "
            f"{rss / MB:.0f} MB"
            for pid, rss in sorted(self.peak_by_pid.items())
        )
        return text + (f" (* {what})" if marked and what else "")


# ----------------------------------------------------------------------
# results, checks, report
# ----------------------------------------------------------------------


@dataclass
class Result:
    method: str
    count: int = 0  # recipients, e-mails or letters
    seconds: float | None = None
    peak_mb: float | None = None
    notes: list[str] = field(default_factory=list)
    failed: str | None = None
    cpu_ms: float | None = None  # send: CPU per mail of the sending side
    # letters: peak RSS of the worker, of wkhtmltopdf, of both at once
    wkhtmltopdf_mb: float | None = None
    together_mb: float | None = None

    @property
    def per_second(self) -> float | None:
        return self.count / self.seconds if self.seconds else None


@dataclass
class Checks:
    failures: list[str] = field(default_factory=list)

    def expect(self, condition: bool, message: str) -> None:
        print(f"  check: {'ok  ' if condition else 'FAIL'} {message}")
        if not condition:
            self.failures.append(message)

    def exit_code(self) -> int:
        """1 when a correctness check failed (said), else 0."""
        if self.failures:
            print(f"CORRECTNESS FAILED: {'; '.join(self.failures)}")
            return 1
        return 0


def print_notes(
    results, prefix=lambda result: result.method.split()[0].rstrip(",")
) -> None:
    for result in results:
        for note in result.notes:
            print(f"  {prefix(result)}: {note}")


def print_verdict(verdicts: list[tuple[bool, str]]) -> None:
    if verdicts:
        print(
            "verdict: "
            + "; ".join(f"{'MET' if ok else 'MISSED'} {text}" for ok, text in verdicts)
        )
