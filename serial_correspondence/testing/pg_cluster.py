# Copyright 2026 serial_correspondence authors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""A PostgreSQL cluster of its own for tests that restart PostgreSQL.

Not a test module. Restarting the cluster the test process runs on would
kill the test runner's own connections (and those of anybody else using it),
so a test that restarts PostgreSQL gets a dedicated, real cluster of the
same major version (Debian's ``postgresql-common``):

- :meth:`PgCluster.make` creates it (``pg_createcluster <version> <name> -p
  <port>``, as root), starts it, gives the current user a superuser role,
  and :meth:`~PgCluster.restart` (``pg_ctlcluster ... restart``, the real
  thing: every session is terminated), :meth:`~PgCluster.stop`,
  :meth:`~PgCluster.start` and :meth:`~PgCluster.drop` (``pg_dropcluster
  --stop``) it;
- :meth:`PgCluster.copy_database` copies a database of the main cluster
  (``pg_dump | psql``), e.g. the e2e template, into it;
- :func:`require_cluster_tools` raises a clear :class:`ClusterUnavailable`
  (an ``AssertionError``: the test fails, it is never skipped) when the tools
  or root are missing.

Names ``sc_e2e_<pid>_<n>``: a cluster left behind by a test process that
died is dropped by the next one (:func:`drop_stale_clusters`).
"""

import contextlib
import getpass
import logging
import os
import re
import shutil
import subprocess
import time

import psycopg2
from psycopg2 import sql

_logger = logging.getLogger(__name__)

CLUSTER_PREFIX = "sc_e2e"
SOCKET_DIR = "/var/run/postgresql"
TOOLS = ("pg_createcluster", "pg_ctlcluster", "pg_dropcluster", "pg_lsclusters")


class ClusterUnavailable(AssertionError):
    """A dedicated PostgreSQL cluster cannot be made here (the test fails)."""


def _run(command, timeout=180, **kwargs):
    result = subprocess.run(
        command,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        **kwargs,
    )
    if result.returncode:
        raise ClusterUnavailable(
            f"{' '.join(command)} exited with {result.returncode}:\n"
            f"{result.stdout}\n{result.stderr}"
        )
    return result.stdout


def server_major_version(connection):
    """The major version of the server behind ``connection`` (e.g. 15)."""
    return connection.server_version // 10000


def require_cluster_tools():
    """Raise :class:`ClusterUnavailable` naming what is missing, unless this
    process can create and restart a PostgreSQL cluster of its own."""
    missing = [tool for tool in TOOLS if not shutil.which(tool)]
    problems = []
    if missing:
        problems.append(
            f"the postgresql-common tools {', '.join(missing)} are not installed"
        )
    if os.geteuid() != 0:
        problems.append(
            f"the test runs as {getpass.getuser()!r}, not as root "
            "(pg_createcluster and pg_ctlcluster need root)"
        )
    if problems:
        raise ClusterUnavailable(
            "the PostgreSQL restart tests need a dedicated PostgreSQL cluster "
            "they can restart, and cannot make one: "
            + "; ".join(problems)
            + ". Run the tests as root on a Debian/Ubuntu PostgreSQL "
            "(postgresql-common)."
        )


def _existing_clusters():
    """[(version, name, port, status)] of pg_lsclusters."""
    clusters = []
    for line in _run(["pg_lsclusters", "--no-header"]).splitlines():
        fields = line.split()
        if len(fields) >= 4:
            clusters.append((fields[0], fields[1], int(fields[2]), fields[3]))
    return clusters


def drop_stale_clusters():
    """Drop the clusters of test processes that no longer exist."""
    pattern = re.compile(rf"^{CLUSTER_PREFIX}_(\d+)_\d+$")
    for version, name, _port, _status in _existing_clusters():
        match = pattern.match(name)
        if match and not os.path.exists(f"/proc/{match.group(1)}"):
            _logger.info("pg cluster: dropping stale cluster %s/%s", version, name)
            with contextlib.suppress(ClusterUnavailable, subprocess.SubprocessError):
                _run(["pg_dropcluster", "--stop", version, name])


class PgCluster:
    """A real PostgreSQL cluster of its own, on ``port``, its socket in
    :data:`SOCKET_DIR`; the current user is a superuser in it. Always
    :meth:`drop` it."""

    _counter = 0

    def __init__(self, version, port):
        require_cluster_tools()
        PgCluster._counter += 1
        self.version = str(version)
        self.port = int(port)
        self.name = f"{CLUSTER_PREFIX}_{os.getpid()}_{PgCluster._counter}"
        self.host = SOCKET_DIR
        self.user = getpass.getuser()
        self.created = False
        self.restarts = 0

    def __repr__(self):
        return f"<PgCluster {self.version}/{self.name} on port {self.port}>"

    # -- life cycle ---------------------------------------------------------

    def make(self):
        """Create, start and open the cluster to the current user."""
        drop_stale_clusters()
        if any(port == self.port for _v, _n, port, _s in _existing_clusters()):
            raise ClusterUnavailable(
                f"a PostgreSQL cluster already uses port {self.port}"
            )
        _logger.info("pg cluster: creating %s", self)
        _run(
            [
                "pg_createcluster",
                self.version,
                self.name,
                "-p",
                str(self.port),
                "--start",
                "--",
                "--auth-local=peer",
                "--auth-host=scram-sha-256",
            ]
        )
        self.created = True
        # small and quick: a test cluster, no durability needed
        for setting in (
            "fsync=off",
            "synchronous_commit=off",
            "full_page_writes=off",
            "shared_buffers=64MB",
            "max_connections=100",
        ):
            _run(["pg_conftool", self.version, self.name, "set", *setting.split("=")])
        self.restart()
        self.restarts = 0
        if self.user != "postgres":
            _run(
                [
                    "runuser",
                    "-u",
                    "postgres",
                    "--",
                    "psql",
                    "-X",
                    "-q",
                    "-h",
                    self.host,
                    "-p",
                    str(self.port),
                    "-d",
                    "postgres",
                    "-c",
                    f'CREATE ROLE "{self.user}" SUPERUSER LOGIN',
                ]
            )
        return self

    def _ctl(self, action, timeout=120):
        _run(["pg_ctlcluster", self.version, self.name, action], timeout=timeout)

    def restart(self):
        """``pg_ctlcluster <version> <name> restart``: the server stops (every
        session is terminated) and starts again; returns once it accepts
        connections."""
        _logger.info("pg cluster: restarting %s", self)
        self._ctl("restart")
        self.restarts += 1
        self.wait_ready()

    def stop(self):
        self._ctl("stop")

    def start(self):
        self._ctl("start")
        self.wait_ready()

    def wait_ready(self, timeout=60):
        """Wait until the server accepts connections (``pg_isready``: no
        role needed)."""
        deadline = time.monotonic() + timeout
        command = [
            os.path.join(f"/usr/lib/postgresql/{self.version}/bin", "pg_isready"),
            "-q",
            "-h",
            self.host,
            "-p",
            str(self.port),
        ]
        while subprocess.run(command, check=False, timeout=30).returncode:
            if time.monotonic() > deadline:
                raise ClusterUnavailable(f"{self} does not accept connections")
            time.sleep(0.1)

    def drop(self):
        """Stop and remove the cluster (data directory and configuration)."""
        if not self.created:
            return
        _logger.info("pg cluster: dropping %s", self)
        _run(["pg_dropcluster", "--stop", self.version, self.name])
        self.created = False

    # -- connections and databases ------------------------------------------

    @property
    def connection_params(self):
        return {"host": self.host, "port": self.port, "user": self.user}

    def connect(self, dbname="postgres", application_name="sc_e2e_cluster"):
        """An autocommit connection to ``dbname`` of this cluster."""
        connection = psycopg2.connect(
            dbname=dbname, application_name=application_name, **self.connection_params
        )
        connection.autocommit = True
        return connection

    def copy_database(self, source_params, source_name, target_name):
        """Copy the database ``source_name`` (on the cluster of the psycopg2
        connection parameters ``source_params``) into this cluster as
        ``target_name`` (``pg_dump | psql``; created anew)."""
        connection = self.connect("postgres")
        try:
            with connection.cursor() as cr:
                target = sql.Identifier(target_name)
                cr.execute(
                    sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(target)
                )
                cr.execute(
                    sql.SQL(
                        "CREATE DATABASE {} ENCODING 'unicode' LC_COLLATE 'C'"
                        " TEMPLATE template0"
                    ).format(target)
                )
        finally:
            connection.close()
        dump_args = ["pg_dump", "--no-owner", "--no-privileges", "-d", source_name]
        for key, option in (("host", "-h"), ("port", "-p"), ("user", "-U")):
            if source_params.get(key):
                dump_args += [option, str(source_params[key])]
        env = dict(os.environ)
        if source_params.get("password"):
            env["PGPASSWORD"] = source_params["password"]
        bindir = f"/usr/lib/postgresql/{self.version}/bin"
        dump_args[0] = os.path.join(bindir, "pg_dump")
        restore_args = [
            os.path.join(bindir, "psql"),
            "-X",
            "-q",
            "-v",
            "ON_ERROR_STOP=1",
            "-h",
            self.host,
            "-p",
            str(self.port),
            "-d",
            target_name,
        ]
        started = time.monotonic()
        dump = subprocess.Popen(
            dump_args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env
        )
        restore = subprocess.run(
            restore_args,
            stdin=dump.stdout,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        dump.stdout.close()
        dump_errors = dump.stderr.read().decode(errors="replace")
        dump.stderr.close()
        dump.wait(60)
        if dump.returncode or restore.returncode:
            raise ClusterUnavailable(
                f"copying {source_name} into {self} failed (pg_dump exit "
                f"{dump.returncode}, psql exit {restore.returncode}):\n"
                f"{dump_errors}\n{restore.stderr[-3000:]}"
            )
        _logger.info(
            "pg cluster: %s copied into %s in %.1fs",
            source_name,
            self,
            time.monotonic() - started,
        )
