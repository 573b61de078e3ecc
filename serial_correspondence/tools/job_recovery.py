# Copyright 2026 serial_correspondence authors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""Jobs that lose their database connection run again; they never fail for it.

What OCA queue_job (18.0) does on its own when PostgreSQL goes away (a
restart, a failover) while one of our jobs runs:

- its job runner survives: a lost connection raises in its loop, it closes
  its connections, waits a few seconds and connects again (retrying until
  the server is back), then requeues the jobs left ``enqueued``/``started``
  whose lock is gone ("Re-queued dead job");
- the job itself raises ``OperationalError`` ("server closed the connection
  unexpectedly"), which queue_job retries only for serialization failures
  and deadlocks: any other error makes it mark the job *failed* with a fresh
  cursor. If PostgreSQL is back by then (a restart takes a second), the job
  ends failed and the correspondence would wait forever.

:func:`connection_lost` tells a lost connection from other database errors;
``controllers/queue_job.py`` turns it into queue_job's ``RetryableJobError``
for the jobs of this addon: the job is postponed and runs again, and our jobs
are idempotent (a transaction that died is rolled back as a whole; the send
job's claims make an interrupted delivery "unknown", never repeated).
Postponing needs the database: the worker first waits for PostgreSQL to be
back (:func:`wait_for_database`, up to ``DATABASE_WAIT_SECONDS``). Without
that, a job whose postponing fails stays *started* until queue_job's runner
requeues it as dead, which it does only when it wakes up (up to a minute
later); if the database stays away longer, that is still what happens.
"""

import logging
import time

import psycopg2

_logger = logging.getLogger(__name__)

# seconds before a job that lost its connection runs again
RETRY_SECONDS = 5
# seconds a worker waits for PostgreSQL to be back to postpone the job
DATABASE_WAIT_SECONDS = 60
# SQLSTATEs of a server that went away: class 08 (connection exception),
# admin_shutdown, crash_shutdown, cannot_connect_now (not 57014, a cancel)
LOST_SQLSTATES = ("57P01", "57P02", "57P03")


def connection_lost(error, *connections):
    """Whether ``error`` (raised by psycopg2) means that the connection to
    PostgreSQL was lost, not that a statement failed; ``connections``
    (psycopg2 connections or Odoo cursors) that are now closed confirm it."""
    if not isinstance(error, psycopg2.Error):
        return False
    code = getattr(error, "pgcode", None)
    if code and (code.startswith("08") or code in LOST_SQLSTATES):
        return True
    closed = any(_is_closed(connection) for connection in connections)
    if isinstance(error, psycopg2.InterfaceError):
        # "connection already closed": a later use of the lost connection
        return closed or "connection already closed" in str(error)
    if isinstance(error, psycopg2.OperationalError) and not code:
        # no SQLSTATE: libpq's own error (the server closed the connection,
        # could not connect)
        return True
    return False


def _is_closed(connection):
    connection = getattr(connection, "_cnx", connection)
    try:
        return bool(connection.closed)
    except Exception:  # a cursor without a connection any more
        return True


def lost_connection_in_chain(error, *connections):
    """The psycopg2 error of a lost connection that ``error`` is, or, when
    one of ``connections`` is closed now, that is in its chain (cause or
    context: code that handled the lost connection raised something else);
    None otherwise."""
    if connection_lost(error, *connections):
        return error
    if not any(_is_closed(connection) for connection in connections):
        return None
    seen = {id(error)}
    error = error.__cause__ or error.__context__
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        if connection_lost(error, *connections):
            return error
        error = error.__cause__ or error.__context__
    return None


def wait_for_database(registry, timeout=DATABASE_WAIT_SECONDS):
    """Wait until a new cursor of ``registry`` works again; whether it does
    (False after ``timeout`` seconds)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with registry.cursor() as cr:
                cr.execute("SELECT 1")
            return True
        except psycopg2.Error as error:
            if time.monotonic() > deadline:
                _logger.warning(
                    "the database is still unreachable after %ss: %s", timeout, error
                )
                return False
            time.sleep(0.5)
