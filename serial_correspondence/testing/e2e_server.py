# Copyright 2026 serial_correspondence authors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""End-to-end harness: a real Odoo server process with queue_job's runner.

Not a test module. Tests that must see what happens when a server dies (a
killed worker, a crash in the middle of sending) use :class:`OdooServer`:

- a fresh database of its own, committed, with serial_correspondence
  installed (no demo data). The module is installed once per test process
  into a template database (:func:`template_database`); each server gets a
  copy of it (``CREATE DATABASE ... TEMPLATE``, plus the filestore);
- ``odoo-bin`` as a subprocess in its own process group, with
  ``--load=base,web,queue_job``, ``--workers`` and queue_job's job runner, its
  channels given by a ``[queue_job]`` section of its own configuration file,
  on a free port, logging to a file;
- an XML-RPC client logged in as ``admin`` (:meth:`OdooServer.rpc`), SQL on
  the server's database (:meth:`OdooServer.sql`), and
  :meth:`~OdooServer.kill` (any signal, to the whole process group),
  :meth:`~OdooServer.restart`, :meth:`~OdooServer.stop`,
  :meth:`~OdooServer.close` (stops the server and drops the database);
- scale-out: ``OdooServer(attach_to=other)`` is a second server process on
  the *same* database as ``other`` (another node of one installation), with
  its own port, workers, job runner, configuration and log; see
  :class:`OdooServer`.
- the benchmarks: a :class:`Database` of their own (a given name, more
  modules) served as it is by ``OdooServer(database=db, port=...)``.
- another PostgreSQL cluster: a :class:`Database` with ``db_params`` (host,
  port, user of psycopg2) lives there; its servers get ``db_host``/``db_port``
  and the SQL helpers connect there too. :func:`database_on_cluster` copies
  the template into a :class:`~.pg_cluster.PgCluster` (the tests that restart
  PostgreSQL).

Odoo, its Python and the addons path are the ones of the running (test)
process. Names: databases ``sc_e2e_<pid>_*``, ports from ``SC_E2E_PORTS``
(default ``8180-8199``). ``SC_E2E_KEEP=1`` keeps databases and logs for a
look afterwards.
"""

import atexit
import contextlib
import itertools
import logging
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
import weakref
import xmlrpc.client
from pathlib import Path

import psycopg2
from passlib.hash import pbkdf2_sha512
from psycopg2 import sql

import odoo
from odoo.tools import config

from odoo.addons.base.models.res_users import MIN_ROUNDS
from odoo.addons.queue_job.jobrunner import START_DELAY as RUNNER_START_DELAY
from odoo.addons.queue_job.jobrunner.runner import Database as RunnerDatabase

_logger = logging.getLogger(__name__)

MODULE = "serial_correspondence"
DB_PREFIX = "sc_e2e"
ADMIN_LOGIN = "admin"
DEFAULT_CHANNELS = "root:1,root.serial_correspondence:1"
START_MARKER = "===== e2e harness: start"
# queue_job states of a job that a worker has taken (or is about to)
JOB_RUNNING_STATES = ("enqueued", "started")


def _dead_job_grace():
    """Seconds a job must have been enqueued before queue_job's runner
    considers it dead (read from the runner's own query)."""
    match = re.search(
        r"INTERVAL '(\d+) sec'", RunnerDatabase._query_requeue_dead_jobs(None)
    )
    return int(match.group(1)) if match else 10


DEAD_JOB_GRACE = _dead_job_grace()


class E2EError(AssertionError):
    """The server or its database did not do what the test waited for."""


def keep_artifacts():
    return os.environ.get("SC_E2E_KEEP", "") not in ("", "0")


# ----------------------------------------------------------------------
# Odoo, PostgreSQL, ports
# ----------------------------------------------------------------------


def odoo_command():
    """The command that starts the Odoo of this process: its ``odoo-bin``
    (source tree), else ``python -m odoo``; always with this Python."""
    root = Path(odoo.__file__).resolve().parent.parent
    odoo_bin = root / "odoo-bin"
    if odoo_bin.is_file():
        return [sys.executable, str(odoo_bin)]
    return [sys.executable, "-m", "odoo"]


def addons_path():
    return config["addons_path"]


def pg_connect(dbname="postgres", db_params=None):
    """An autocommit connection with the test process's database settings,
    or those of ``db_params`` (``host``, ``port``, ``user``, ``password`` of
    another cluster)."""
    _name, params = odoo.sql_db.connection_info_for(dbname)
    params = dict(params, application_name=f"{DB_PREFIX}_harness")
    if db_params:
        params.update(db_params)
    connection = psycopg2.connect(**params)
    connection.autocommit = True
    return connection


def _pg_admin(query, db_params=None):
    connection = pg_connect("postgres", db_params)
    try:
        with connection.cursor() as cr:
            cr.execute(query)
    finally:
        connection.close()


def drop_database(name, db_params=None):
    _pg_admin(
        sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)),
        db_params,
    )


def _port_range():
    spec = os.environ.get("SC_E2E_PORTS", "8180-8199")
    low, _sep, high = spec.partition("-")
    return range(int(low), int(high or low) + 1)


# the servers of this process that have ports (a server that is starting
# has not bound its gevent port yet: another must not take it)
_SERVERS_WITH_PORTS = weakref.WeakSet()


def free_port(exclude=()):
    """A port of ``SC_E2E_PORTS`` on which nothing listens now, and that no
    server of this process has been given."""
    taken = set(exclude)
    for server in list(_SERVERS_WITH_PORTS):
        taken.update({server.port, server.gevent_port} - {None})
    for port in _port_range():
        if port not in taken and _port_is_free(port):
            return port
    raise E2EError(f"no free port in SC_E2E_PORTS={_port_range()}")


def _port_is_free(port):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _server_env(app_name):
    env = {
        key: value
        for key, value in os.environ.items()
        # the [queue_job] section of our configuration file decides
        if not key.startswith("ODOO_QUEUE_JOB_") and key not in ("ODOO_RC",)
    }
    env["TZ"] = "UTC"
    # tells the server's database connections apart from ours
    env["ODOO_PGAPPNAME"] = app_name + "-{pid}"
    return env


def _write_config(path, options, queue_job=None):
    lines = ["[options]"]
    lines += [f"{key} = {value}" for key, value in options.items()]
    if queue_job:
        lines += ["", "[queue_job]"]
        lines += [f"{key} = {value}" for key, value in queue_job.items()]
    Path(path).write_text("\n".join(lines) + "\n")


def _base_options(data_dir, logfile, db_params=None):
    options = {
        "addons_path": addons_path(),
        "data_dir": data_dir,
        "logfile": logfile,
        "log_level": "info",
        "without_demo": "all",
        "list_db": "False",
        # a random master password: nobody manages these databases over HTTP
        "admin_passwd": uuid.uuid4().hex,
    }
    for key in ("db_host", "db_port", "db_user", "db_password", "db_sslmode"):
        if config.get(key):
            options[key] = config[key]
    # another cluster (psycopg2's names: host, port, user, password)
    for key, value in (db_params or {}).items():
        if value not in (None, ""):
            options[f"db_{key}"] = value
    return options


def tail(path, lines=60):
    try:
        text = Path(path).read_text(errors="replace")
    except OSError:
        return f"(no log at {path})"
    return "\n".join(text.splitlines()[-lines:])


# ----------------------------------------------------------------------
# the template database, built once per test process
# ----------------------------------------------------------------------


class Database:
    """A database with serial_correspondence (and ``modules``) installed, no
    demo data, admin's password set (:attr:`admin_password`); its filestore
    under ``<work_dir>/data``, the files of its servers in ``work_dir``.

    The template of the tests is one (:class:`TemplateDatabase`); the
    benchmarks make one of their own and serve it as is
    (``OdooServer(database=...)``). With ``db_params`` (psycopg2's ``host``,
    ``port``, ``user``, ``password``), it lives on another PostgreSQL cluster
    than the test process's: its servers and the SQL helpers connect there
    (e.g. :func:`database_on_cluster`).
    """

    def __init__(
        self, name, work_dir, modules=(MODULE,), data_dir=None, db_params=None
    ):
        self.name = name
        self.db_params = dict(db_params or {})
        self.work_dir = str(work_dir)
        self.data_dir = str(data_dir or os.path.join(self.work_dir, "data"))
        self.modules = tuple(modules)
        self.admin_password = uuid.uuid4().hex
        # servers on this database or made from it, not closed yet
        self.servers = set()

    def filestore(self, db_name=None):
        return os.path.join(self.data_dir, "filestore", db_name or self.name)

    def install(self, logfile=None, timeout=900):
        """(Re)create the database and install the modules into it."""
        drop_database(self.name, self.db_params)
        shutil.rmtree(self.filestore(), ignore_errors=True)
        os.makedirs(self.work_dir, exist_ok=True)
        logfile = logfile or os.path.join(self.work_dir, f"{self.name}.log")
        conf = os.path.splitext(logfile)[0] + ".conf"
        options = _base_options(self.data_dir, logfile, self.db_params)
        options["log_level"] = "warn"
        _write_config(conf, options)
        command = [
            *odoo_command(),
            *("-c", conf, "-d", self.name, "-i", ",".join(self.modules)),
            "--stop-after-init",
            "--no-http",
        ]
        _logger.info("e2e: installing %s into %s", self.modules, self.name)
        started = time.monotonic()
        with open(logfile, "ab") as out:
            result = subprocess.run(
                command,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=_server_env(f"{DB_PREFIX}_tpl"),
                timeout=timeout,
                check=False,
            )
        connection = (
            pg_connect(self.name, self.db_params) if result.returncode == 0 else None
        )
        try:
            states = {}
            if connection:
                with connection.cursor() as cr:
                    cr.execute(
                        "SELECT name, state FROM ir_module_module WHERE name IN %s",
                        [self.modules],
                    )
                    states = dict(cr.fetchall())
                    if all(states.get(name) == "installed" for name in self.modules):
                        cr.execute(
                            "UPDATE res_users SET password = %s WHERE login = %s",
                            [
                                pbkdf2_sha512.using(rounds=MIN_ROUNDS).hash(
                                    self.admin_password
                                ),
                                ADMIN_LOGIN,
                            ],
                        )
            if not all(states.get(name) == "installed" for name in self.modules):
                raise E2EError(
                    f"installing {', '.join(self.modules)} into {self.name} failed "
                    f"(exit {result.returncode}, module states {states}):\n"
                    f"{tail(logfile)}"
                )
        finally:
            if connection:
                connection.close()
        _logger.info(
            "e2e: database %s ready in %.1fs", self.name, time.monotonic() - started
        )

    def duplicate(self, name):
        """A copy ``name`` of this database on the same cluster (``CREATE
        DATABASE ... TEMPLATE``, plus the filestore), with the same work and
        data directories; nobody may be connected to this one meanwhile."""
        drop_database(name, self.db_params)
        _pg_admin(
            sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
                sql.Identifier(name), sql.Identifier(self.name)
            ),
            self.db_params,
        )
        duplicate = Database(
            name,
            self.work_dir,
            modules=self.modules,
            data_dir=self.data_dir,
            db_params=self.db_params,
        )
        duplicate.admin_password = self.admin_password
        if os.path.isdir(self.filestore()):
            shutil.copytree(self.filestore(), duplicate.filestore(), dirs_exist_ok=True)
        return duplicate

    def drop(self):
        """Stop its servers (their files stay), drop the database and its
        filestore."""
        for server in list(self.servers):
            with contextlib.suppress(Exception):
                server.stop()
        drop_database(self.name, self.db_params)
        shutil.rmtree(self.filestore(), ignore_errors=True)


class TemplateDatabase(Database):
    """serial_correspondence installed (no demo), admin's password set; the
    servers of the tests get copies of it (:meth:`clone`)."""

    def __init__(self):
        self.pid = os.getpid()
        super().__init__(
            f"{DB_PREFIX}_{self.pid}_tpl",
            tempfile.mkdtemp(prefix=f"{DB_PREFIX}_{self.pid}_"),
        )

    def build(self):
        _drop_stale_leftovers()
        self.install()

    def clone(self, db_name):
        """A new database ``db_name``, a copy of the template."""
        drop_database(db_name)
        _pg_admin(
            sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
                sql.Identifier(db_name), sql.Identifier(self.name)
            )
        )
        source = self.filestore(self.name)
        if os.path.isdir(source):
            shutil.copytree(source, self.filestore(db_name), dirs_exist_ok=True)

    def destroy(self):
        for server in list(self.servers):
            with contextlib.suppress(Exception):
                server.close()
        if keep_artifacts():
            _logger.info("e2e: keeping %s and %s", self.name, self.work_dir)
            return
        with contextlib.suppress(Exception):
            drop_database(self.name)
        shutil.rmtree(self.work_dir, ignore_errors=True)


_template = None


def template_database():
    """The template database of this process (built on first use, dropped
    when the process exits)."""
    global _template
    if _template is None or _template.pid != os.getpid():
        template = TemplateDatabase()
        try:
            template.build()
        except BaseException:
            template.destroy()
            raise
        _template = template
        atexit.register(template.destroy)
    return _template


_cluster_databases = itertools.count(1)


def database_on_cluster(cluster, name=None):
    """A copy of the template database (serial_correspondence installed, no
    demo, admin's password) in ``cluster``, a :class:`~.pg_cluster.PgCluster`
    (``pg_dump | psql``, plus the filestore): a :class:`Database` with the
    cluster's ``db_params``, to serve with ``OdooServer(database=db)``.
    Dropped with the cluster (or :meth:`Database.drop`)."""
    template = template_database()
    name = name or f"{DB_PREFIX}_{os.getpid()}_pg{next(_cluster_databases)}"
    database = Database(
        name,
        tempfile.mkdtemp(prefix=f"{DB_PREFIX}_{os.getpid()}_pg_"),
        db_params=cluster.connection_params,
    )
    # the copy has the template's users: the same password
    database.admin_password = template.admin_password
    _name, source_params = odoo.sql_db.connection_info_for(template.name)
    cluster.copy_database(source_params, template.name, name)
    source = template.filestore(template.name)
    if os.path.isdir(source):
        shutil.copytree(source, database.filestore(), dirs_exist_ok=True)
    return database


def _kill_orphaned_server(pidfile):
    """Kill the process group of a server whose test process died, if the
    process is still that server (its command line names its config)."""
    try:
        pgid = int(pidfile.read_text())
        cmdline = Path(f"/proc/{pgid}/cmdline").read_bytes().decode(errors="replace")
    except (OSError, ValueError):
        return
    if str(pidfile.with_suffix(".conf")) in cmdline:
        _logger.info("e2e: killing orphaned server %s (%s)", pgid, pidfile)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGKILL)


def _drop_stale_leftovers():
    """Drop databases and work directories of harness processes that died
    without cleaning up (their pid no longer exists)."""
    pattern = re.compile(rf"^{DB_PREFIX}_(\d+)_")
    for path in Path(tempfile.gettempdir()).glob(f"{DB_PREFIX}_*_*"):
        match = pattern.match(path.name)
        if match and path.is_dir() and not os.path.exists(f"/proc/{match.group(1)}"):
            for pidfile in path.glob("*.pid"):
                _kill_orphaned_server(pidfile)
            shutil.rmtree(path, ignore_errors=True)
    connection = pg_connect("postgres")
    try:
        with connection.cursor() as cr:
            cr.execute(
                "SELECT datname FROM pg_database WHERE datname LIKE %s",
                [f"{DB_PREFIX}\\_%"],
            )
            names = [name for (name,) in cr.fetchall()]
    finally:
        connection.close()
    for name in names:
        match = pattern.match(name)
        if match and not os.path.exists(f"/proc/{match.group(1)}"):
            _logger.info("e2e: dropping stale database %s", name)
            with contextlib.suppress(Exception):
                drop_database(name)


# ----------------------------------------------------------------------
# the server
# ----------------------------------------------------------------------


class OdooServer:
    """A real Odoo server with queue_job's runner on a database of its own.

    Create it (copies the template), fill the database with :meth:`sql` if
    the test wants data before the server runs, then :meth:`start`. Always
    :meth:`close` it (``addCleanup(server.close)``).

    With ``attach_to=server``, it is one more node of ``server``'s
    installation instead: a separate ``odoo-bin`` process (own port, workers,
    job runner, configuration file and log) serving the same database and
    filestore. It creates no database and its :meth:`close` drops nothing;
    closing the owning server closes its nodes first. Note that queue_job's
    runner takes a PostgreSQL advisory lock per database: of several nodes,
    only the runner started first dispatches jobs (the others retry every few
    seconds and take over when it is gone), and it sends each job to the
    ``host``/``port`` of its ``[queue_job]`` section (``runner_options``),
    by default its own HTTP port.

    With ``database=db`` (a :class:`Database`, e.g. a benchmark's), it serves
    that database as it is: no copy, and :meth:`close` drops nothing.
    """

    _counter = itertools.count(1)

    def __init__(
        self,
        workers=2,
        max_cron_threads=1,
        channels=DEFAULT_CHANNELS,
        options=None,
        runner_options=None,
        attach_to=None,
        database=None,
        name=None,
        port=None,
        gevent_port=None,
    ):
        """``options``: more ``[options]`` of the server's configuration file,
        e.g. ``{"smtp_server": "127.0.0.1", "smtp_port": 2525}``;
        ``runner_options``: more of its ``[queue_job]`` section, e.g.
        ``{"host": "127.0.0.1", "port": 8191}`` (where the runner sends jobs);
        ``attach_to``: an :class:`OdooServer` whose database this server
        serves too (see the class); ``database``: a :class:`Database` to
        serve as it is (see the class); ``name``: of its log, configuration
        and pid files in the database's ``work_dir``; ``port``,
        ``gevent_port``: fixed ports (default: free ones of ``SC_E2E_PORTS``).
        """
        self.attached_to = attach_to
        # the other nodes serving this server's database
        self.nodes = set()
        # whether close() drops the database (a copy of the template)
        self.owns_database = False
        if attach_to is not None:
            self.template = attach_to.template
            self.db_name = attach_to.db_name
            self.name = f"{self.db_name}_node{next(self._counter)}"
        elif database is not None:
            self.template = database
            self.db_name = database.name
            self.name = f"{self.db_name}_srv{next(self._counter)}"
        else:
            self.template = template_database()
            self.db_name = f"{DB_PREFIX}_{os.getpid()}_{next(self._counter)}"
            self.name = self.db_name
            self.owns_database = True
        self.name = name or self.name
        self.options = dict(options or {})
        self.runner_options = dict(runner_options or {})
        self.workers = workers
        self.max_cron_threads = max_cron_threads
        self.channels = channels
        self.app_name = f"{DB_PREFIX}_srv_{self.name}"[:50]
        self.logfile = os.path.join(self.template.work_dir, f"{self.name}.log")
        self.conf = os.path.join(self.template.work_dir, f"{self.name}.conf")
        self.pidfile = os.path.join(self.template.work_dir, f"{self.name}.pid")
        self.process = None
        self.fixed_ports = port is not None
        self.port = port
        self.gevent_port = gevent_port
        self.uid = None
        self.starts = 0
        self._connection = None
        if attach_to is not None:
            attach_to.nodes.add(self)
        elif self.owns_database:
            self.template.clone(self.db_name)
        self.template.servers.add(self)

    # -- SQL on the server's database -------------------------------------

    def cursor(self):
        """A cursor of an autocommit connection to the server's database
        (reconnects when a previous connection broke)."""
        if self._connection is None or self._connection.closed:
            self._connection = pg_connect(self.db_name, self.template.db_params)
        return self._connection.cursor()

    def sql(self, query, params=None):
        """Run ``query`` (autocommit); return its rows, or ``[]``.

        A connection that PostgreSQL ended since the last query (the cluster
        was restarted) is replaced and the query runs once more on the new
        one: a statement sent on a connection of the old server did not run
        on the new one."""
        for attempt in (1, 2):
            try:
                with self.cursor() as cr:
                    cr.execute(query, params)
                    return cr.fetchall() if cr.description else []
            except (psycopg2.OperationalError, psycopg2.InterfaceError):
                broken = self._connection is not None and self._connection.closed
                if attempt == 2 or not broken:
                    raise
                _logger.info("e2e: the connection to %s broke, reconnecting", self.name)
                self._connection = None

    def sql_value(self, query, params=None):
        rows = self.sql(query, params)
        return rows[0][0] if rows else None

    # -- XML-RPC ------------------------------------------------------------

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    @property
    def admin_password(self):
        return self.template.admin_password

    def rpc(self, model, method, *args, **kwargs):
        """``execute_kw`` as admin, e.g. ``rpc("res.partner", "search", [])``."""
        with xmlrpc.client.ServerProxy(
            f"{self.url}/xmlrpc/2/object", allow_none=True
        ) as proxy:
            return proxy.execute_kw(
                self.db_name,
                self.uid,
                self.admin_password,
                model,
                method,
                list(args),
                kwargs,
            )

    def _authenticate(self):
        with xmlrpc.client.ServerProxy(
            f"{self.url}/xmlrpc/2/common", allow_none=True
        ) as proxy:
            return proxy.authenticate(
                self.db_name, ADMIN_LOGIN, self.admin_password, {}
            )

    # -- the process ----------------------------------------------------------

    @property
    def running(self):
        return self.process is not None and self.process.poll() is None

    def start(self, channels=None, timeout=120):
        """Start the server; return once admin can log in over XML-RPC.

        ``channels`` (queue_job's server-wide channel configuration, e.g.
        ``"root:1,root.serial_correspondence:1:throttle=1"``) applies to this
        start and the following ones.
        """
        if self.running:
            raise E2EError(f"the server {self.name} is already running")
        if channels is not None:
            self.channels = channels
        for attempt in range(3):
            self._spawn()
            try:
                self._wait_ready(timeout)
            except E2EError:
                # another server took the port between our check and its bind
                if (
                    attempt < 2
                    and not self.fixed_ports
                    and not self.running
                    and self._port_was_taken()
                ):
                    self.port = self.gevent_port = None
                    continue
                raise
            return self

    def _spawn(self):
        if not self.fixed_ports and (self.port is None or not _port_is_free(self.port)):
            self.port = free_port()
        if self.workers and (
            self.gevent_port is None
            or (not self.fixed_ports and not _port_is_free(self.gevent_port))
        ):
            self.gevent_port = free_port(exclude={self.port})
        _SERVERS_WITH_PORTS.add(self)
        options = _base_options(
            self.template.data_dir, self.logfile, self.template.db_params
        )
        options.update(
            {
                "db_name": self.db_name,
                "dbfilter": f"^{re.escape(self.db_name)}$",
                "http_interface": "127.0.0.1",
                "http_port": self.port,
                "workers": self.workers,
                "max_cron_threads": self.max_cron_threads,
                "server_wide_modules": "base,web,queue_job",
                "limit_time_real": 600,
                "limit_time_cpu": 600,
            }
        )
        if self.workers:
            options["gevent_port"] = self.gevent_port
        options.update(self.options)
        _write_config(
            self.conf, options, {"channels": self.channels, **self.runner_options}
        )
        self.starts += 1
        with open(self.logfile, "ab") as out:
            out.write(
                f"\n{START_MARKER} #{self.starts} on port {self.port}, "
                f"channels {self.channels} =====\n".encode()
            )
            out.flush()
            self.process = subprocess.Popen(
                [*odoo_command(), "-c", self.conf],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=_server_env(self.app_name),
                start_new_session=True,  # its own process group: kill() hits all
            )
        Path(self.pidfile).write_text(str(self.process.pid))

    def _port_was_taken(self):
        since_start = self.log_text().rpartition(START_MARKER)[2]
        return "Address already in use" in since_start

    def _wait_ready(self, timeout):
        deadline = time.monotonic() + timeout
        while True:
            if not self.running:
                raise E2EError(
                    f"the server of {self.name} exited with "
                    f"{self.process.returncode} while starting:\n{self.log_tail()}"
                )
            try:
                with urllib.request.urlopen(
                    f"{self.url}/web/health", timeout=5
                ) as answer:
                    healthy = answer.status == 200
                if healthy:
                    self.uid = self._authenticate()
                    if self.uid:
                        return
                    raise E2EError(
                        f"admin cannot log in to {self.db_name}:\n{self.log_tail()}"
                    )
            except (
                OSError,
                urllib.error.URLError,
                xmlrpc.client.ProtocolError,
            ) as error:
                _logger.debug("e2e: %s not ready yet: %s", self.db_name, error)
            if time.monotonic() > deadline:
                self.kill()
                raise E2EError(
                    f"the server of {self.name} did not answer within "
                    f"{timeout}s:\n{self.log_tail()}"
                )
            time.sleep(0.2)

    def kill(self, sig=signal.SIGKILL, timeout=30):
        """Send ``sig`` to the server's whole process group (main process,
        workers, job runner); with SIGKILL (the default) also wait until
        they are all gone and PostgreSQL has ended their sessions."""
        if self.process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, sig)
        if sig == signal.SIGKILL:
            self.process.wait(timeout)
            self._wait_gone(timeout)

    def stop(self, timeout=30):
        """Stop the server gracefully (SIGTERM), or kill it after ``timeout``."""
        if self.process is None:
            return
        if self.running:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                _logger.warning(
                    "e2e: %s did not stop in %ss, killing it", self.name, timeout
                )
        # whatever of the group is left (a worker, the gevent process)
        self.kill(signal.SIGKILL, timeout)

    def restart(self, channels=None, timeout=120):
        self.stop()
        return self.start(channels=channels, timeout=timeout)

    def _group_members(self):
        """Live (non-zombie) processes of the server's process group."""
        pgid = self.process.pid
        members = []
        for proc in Path("/proc").iterdir():
            if not proc.name.isdigit():
                continue
            try:
                stat = (proc / "stat").read_text()
            except OSError:
                continue
            # pid (comm) state ppid pgrp ...
            fields = stat.rsplit(")", 1)[1].split()
            if int(fields[2]) == pgid and fields[0] not in ("Z", "X"):
                members.append(int(proc.name))
        return members

    def _wait_gone(self, timeout):
        deadline = time.monotonic() + timeout
        while self._group_members() or self.sql_value(
            "SELECT count(*) FROM pg_stat_activity"
            " WHERE datname = %s AND application_name LIKE %s",
            [self.db_name, f"{self.app_name}-%"],
        ):
            if time.monotonic() > deadline:
                raise E2EError(
                    f"the server of {self.name} (process group "
                    f"{self.process.pid}) or its database sessions are still "
                    f"there {timeout}s after it was killed"
                )
            time.sleep(0.05)

    def close(self):
        """Stop the server, drop its database and filestore (a node attached
        to another server's database only stops, and removes its files)."""
        try:
            for node in list(self.nodes):
                node.close()
            self.stop()
        finally:
            self.template.servers.discard(self)
            _SERVERS_WITH_PORTS.discard(self)
            if self.attached_to is not None:
                self.attached_to.nodes.discard(self)
            if self._connection is not None:
                self._connection.close()
                self._connection = None
            if not keep_artifacts():
                if self.owns_database:
                    drop_database(self.db_name)
                    shutil.rmtree(
                        self.template.filestore(self.db_name), ignore_errors=True
                    )
                for path in (self.conf, self.logfile, self.pidfile):
                    with contextlib.suppress(OSError):
                        os.unlink(path)

    # -- the log ----------------------------------------------------------------

    def log_text(self):
        try:
            return Path(self.logfile).read_text(errors="replace")
        except OSError:
            return ""

    def log_tail(self, lines=60):
        return f"--- last lines of {self.logfile} ---\n" + tail(self.logfile, lines)

    def check_no_failed_job(self):
        """Raise E2EError (with the job's traceback) if a job failed."""
        failed = self.sql(
            "SELECT uuid, method_name, exc_info FROM queue_job WHERE state = 'failed'"
        )
        if failed:
            uuid, method, exc_info = failed[0]
            raise E2EError(
                f"the job {uuid} ({method}) failed:\n{exc_info}\n" + self.log_tail()
            )

    @contextlib.contextmanager
    def log_on_failure(self):
        """Add the end of the server log to a failed assertion."""
        try:
            yield
        except E2EError:
            raise  # has it already
        except AssertionError as error:
            raise AssertionError(f"{error}\n{self.log_tail()}") from error

    def log_lines(self, pattern):
        """Lines of the server log that match the regular expression."""
        regex = re.compile(pattern)
        return [line for line in self.log_text().splitlines() if regex.search(line)]

    # -- waiting ----------------------------------------------------------------

    def wait_for(self, condition, timeout, what, interval=0.2):
        """Call ``condition`` until it returns something truthy (returned);
        after ``timeout`` seconds fail with ``what``, the last value it
        returned and the end of the server log."""
        deadline = time.monotonic() + timeout
        value = None
        while True:
            value = condition()
            if value:
                return value
            if time.monotonic() > deadline:
                raise E2EError(
                    f"timed out after {timeout}s waiting for {what} "
                    f"(last seen: {value!r})\n{self.log_tail()}"
                )
            if self.process is not None and not self.running:
                raise E2EError(
                    f"the server exited ({self.process.returncode}) while waiting "
                    f"for {what}\n{self.log_tail()}"
                )
            time.sleep(interval)

    def wait_runner_ready(self, timeout=60):
        """Wait until queue_job's runner of the current start listens."""

        def ready():
            since_start = self.log_text().rpartition(START_MARKER)[2]
            return "database connections ready" in since_start

        self.wait_for(ready, timeout, "queue_job's runner to be ready")

    def wait_dead_jobs_requeueable(self):
        """Wait until the jobs a killed server left enqueued or started are
        old enough for queue_job's runner to requeue them as soon as it starts.

        The runner requeues a job only once it has been enqueued for more than
        ``DEAD_JOB_GRACE`` seconds; it does so in its first loop, which runs
        ``RUNNER_START_DELAY`` seconds after the server starts, and then only
        when woken up again (notification or its 60 s select timeout). Waiting
        here (instead of afterwards) keeps the restart deterministic.
        """
        margin = DEAD_JOB_GRACE - RUNNER_START_DELAY + 1.5
        youngest = self.sql_value(
            "SELECT EXTRACT(EPOCH FROM (now() AT TIME ZONE 'UTC') - max(date_enqueued))"
            " FROM queue_job WHERE state IN %s",
            [JOB_RUNNING_STATES],
        )
        if youngest is not None and float(youngest) < margin:
            time.sleep(margin - float(youngest))

    # -- data -------------------------------------------------------------------

    # ORM defaults of res.partner columns that plain SQL must fill in (when
    # the column exists in this database)
    PARTNER_SQL_DEFAULTS = {
        "email_advertising_consent": "unknown",
        "letter_advertising_consent": "unknown",
        "no_letters": False,
        "message_bounce": 0,
    }

    def insert_partners(
        self, count, city, name_prefix="E2E Contact", email_domain=None
    ):
        """Insert ``count`` active contacts in ``city`` with one SQL statement
        (fast: 30,000 in about a second); return their ids, ascending.

        Names are ``<name_prefix> 000001`` and on; with ``email_domain``, each
        gets the address ``<name_prefix as a word>.<n>@<email_domain>``, e.g.
        ``e2e.contact.1@example.com``.
        """
        rows = self.sql(
            """
            INSERT INTO res_partner
                (name, complete_name, type, active, is_company, lang,
                 email, email_normalized, zip, city, partner_share,
                 create_uid, write_uid, create_date, write_date)
            SELECT %(prefix)s || ' ' || lpad(n::text, 6, '0'),
                   %(prefix)s || ' ' || lpad(n::text, 6, '0'),
                   'contact', true, false, 'en_US',
                   %(local)s || '.' || n || '@' || %(domain)s,
                   %(local)s || '.' || n || '@' || %(domain)s,
                   lpad((n %% 99999 + 1)::text, 5, '0'), %(city)s, true,
                   1, 1, now() AT TIME ZONE 'UTC', now() AT TIME ZONE 'UTC'
              FROM generate_series(1, %(count)s) AS n
            RETURNING id
            """,
            {
                "prefix": name_prefix,
                "local": re.sub(r"\W+", ".", name_prefix.lower()).strip("."),
                "domain": email_domain,
                "city": city,
                "count": count,
            },
        )
        ids = sorted(partner_id for (partner_id,) in rows)
        columns = {
            name
            for (name,) in self.sql(
                "SELECT column_name FROM information_schema.columns"
                " WHERE table_name = 'res_partner'"
            )
        }
        defaults = {
            column: value
            for column, value in self.PARTNER_SQL_DEFAULTS.items()
            if column in columns
        }
        assignments = sql.SQL(", ").join(
            sql.SQL("{} = %s").format(sql.Identifier(column)) for column in defaults
        )
        self.sql(
            sql.SQL(
                "UPDATE res_partner SET commercial_partner_id = id, {}"
                " WHERE id = ANY(%s)"
            ).format(assignments),
            [*defaults.values(), ids],
        )
        self.sql("ANALYZE res_partner")
        return ids
