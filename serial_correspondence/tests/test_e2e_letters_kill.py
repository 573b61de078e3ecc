# Copyright 2026 serial_correspondence authors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""Generating and finalizing serial letters survive a server killed with -9.

End to end: a real Odoo server with queue_job's runner (see
``testing/e2e_server.py``), a serial letter to 2,025 contacts with complete
postal addresses (2,000 printable, 15 marked "No letters", 10 without a
street), real wkhtmltopdf. The whole server (its process group: main process,
HTTP workers, job runner, wkhtmltopdf) is killed with SIGKILL

- **mid-part**: a part job has evaluated and rendered its letters (their rows
  are written in its open transaction) and wkhtmltopdf is printing them;
- **between parts**: a part job is done and committed, the next one is queued
  and not started;
- **while merging**: the job that puts the parts together into one document
  is writing the merged PDF;
- **while finalizing**: *Finalize* has deleted the parts and is archiving and
  writing the contacts' history entries; and once more when it is at its last
  statement (the history entries written, the document archived, the state
  set, nothing committed).

In parallel (queue_job runs two jobs of the channel at once, so the serial
letter is printed as fixed ranges of the sort order, two parts at a time:
16 parts of 127 positions), it is killed

- **two parts printing**: two part jobs have each evaluated and rendered
  their letters (in their open transactions) and two wkhtmltopdf processes
  print them at the same time;
- **the last part printing, the other committed**: of the last two parts,
  one has committed (it was not the last: it did not queue the assembly)
  while the other one prints;
- **the assembly queued**: that part, run again, ended last and queued the
  assembly in its commit; the assembly has not started.

Each moment is found from outside, from the database and ``/proc``: the
server's processes are stopped (SIGSTOP) as soon as the moment is seen, the
moment is checked again while they stand still, and then they are killed.
Between parts, the job runner alone is stopped first, so the next job stays
queued (so too for the queued assembly); while merging, the server runs in
slices of milliseconds once the job has started, so the moment cannot slip
by; at the last statement of *Finalize*, a row lock held by the test (as
another user's edit would) keeps it there; in parallel, the worker of the
part first seen printing is stopped alone (its wkhtmltopdf too), so it stays
printing until the other part prints, or has committed. Nothing in the addon
knows about the test.

After each restart (queue_job requeues the jobs that died), the run ends
*Created*: the document holds every created letter exactly once, in sort
order (read back with pdftotext), one page each; the recipients' outcomes are
right; no job failed, each part job ran once (twice if killed), the assembly
once; the temporary files of the killed prints are gone. What a kill leaves
committed is checked too: the parts done, the recipients of every other part
pending. An interrupted *Finalize* has not happened at all (nothing archived,
no history entry, the parts still there) and runs again to completion: the
archived document unchanged, one history entry per contact.
"""

import base64
import contextlib
import hashlib
import logging
import math
import os
import random
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import xmlrpc.client
from pathlib import Path

from odoo.tests import tagged
from odoo.tests.common import BaseCase

from odoo.addons.queue_job.jobrunner.runner import PG_ADVISORY_LOCK_ID

from ..testing.e2e_server import E2EError, OdooServer, pg_connect
from ..tools import letter_pdf
from .letter_common import pdf_pages

_logger = logging.getLogger(__name__)

TOWN = "Absturzstadt"
PART_METHOD = "_generate_letters_part"
ASSEMBLY_METHOD = "_assemble_letter_document"
PART_RE = re.compile(r"_generate_letters_part\((\d+), (\d+)\)")
MARKER_RE = re.compile(r"\[\[(K\d{4})\]\]")
TEMPLATE_BODY = (
    "<p>Liebe(r) <t t-out='object.name'/>,</p>"
    "<p>wir laden Sie herzlich zu unserer Versammlung ein.</p>"
    "<p>Brief [[<t t-out='object.ref'/>]]</p>"
    "<p>Mit freundlichen Grüßen</p>"
)
# a print's temporary directory names its process (tools/letter_pdf.py)
WORK_DIR_RE = re.compile(r"^serial_letters\.(\d+)\.")
OUTCOME_STATES = ("created", "created_incomplete", "create_failed")
# in parallel: queue_job runs two jobs of our channel at once (two parts),
# on three HTTP workers (one free for the test's calls); parts of 127
# positions: 16 parts, the last one 120 positions
PARALLEL_CHANNELS = "root:3,root.serial_correspondence:2"
PARALLEL_WORKERS = 3
PARALLEL_SPAN = 127
PART_SIZE_PARAM = "serial_correspondence.letter_part_size"


class _SingleRequestTransport(xmlrpc.client.Transport):
    """XML-RPC without the retry of ``xmlrpc.client``: a call interrupted by
    the kill must not be sent again to the restarted server."""

    def request(self, host, handler, request_body, verbose=False):
        return self.single_request(host, handler, request_body, verbose)


def _children(pid):
    """Pids of the live child processes of ``pid``."""
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return []
    children = []
    for task in tasks:
        try:
            children += Path(f"/proc/{pid}/task/{task}/children").read_text().split()
        except OSError:
            continue
    return [int(child) for child in children]


def _cmdline(pid):
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return []


def _printing(pid):
    """Whether process ``pid`` is wkhtmltopdf printing letters (not, say,
    asked for its version)."""
    command = _cmdline(pid)
    return bool(command) and (
        os.path.basename(command[0]).startswith(b"wkhtmltopdf")
        and any(arg.endswith(b"letters.html") for arg in command)
    )


def _printers(pid):
    """The wkhtmltopdf processes of worker ``pid`` printing letters."""
    return [child for child in _children(pid) if _printing(child)] if pid else []


def _descendants(pid):
    """Pids of the live descendants of ``pid``."""
    found = []
    for child in _children(pid):
        found += [child, *_descendants(child)]
    return found


def _signal_processes(pids, sig):
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)


def _open_temporary_pdfs(pid):
    """Sizes of the unnamed temporary files (``O_TMPFILE``, as
    ``tempfile.TemporaryFile`` makes them) that process ``pid`` has open and
    that hold the start of a PDF."""
    sizes = []
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return sizes
    for fd in fds:
        path = f"/proc/{pid}/fd/{fd}"
        try:
            target = os.readlink(path)
            if not (
                target.startswith(tempfile.gettempdir())
                and target.endswith("(deleted)")
            ):
                continue
            with open(path, "rb") as file:
                if file.read(5) == b"%PDF-":
                    sizes.append(os.fstat(file.fileno()).st_size)
        except OSError:
            continue
    return sizes


def _work_directories(pids):
    """The print directories in the temporary directory made by ``pids``."""
    found = []
    for entry in os.scandir(tempfile.gettempdir()):
        match = WORK_DIR_RE.match(entry.name)
        if match and int(match.group(1)) in pids:
            found.append(entry.path)
    return found


@tagged("post_install", "-at_install", "serial_correspondence_e2e")
class TestE2ELettersSurviveKilledServer(BaseCase):
    printable = 2000
    no_letters = 15
    no_street = 10
    # seconds; generous for a busy two-core machine shared with other tests
    import_timeout = 120
    generate_timeout = 420

    # -- set-up ---------------------------------------------------------------

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.server = OdooServer()
        cls.addClassCleanup(cls.server.close)
        cls._insert_contacts()
        cls.server.start()
        germany = cls.server.rpc("res.country", "search", [("code", "=", "DE")])[0]
        company = cls.server.rpc("res.company", "search", [], limit=1)[0]
        cls.server.rpc(
            "res.company",
            "write",
            [company],
            {
                "name": "Musterverein e.V.",
                "street": "Vereinsweg 1",
                "zip": "12345",
                "city": "Vereinsstadt",
                "country_id": germany,
            },
        )
        [partner_model] = cls.server.rpc(
            "ir.model", "search", [("model", "=", "res.partner")]
        )
        cls.template_id = cls.server.rpc(
            "mail.template",
            "create",
            {
                "name": "Einladung",
                "model_id": partner_model,
                "body_html": TEMPLATE_BODY,
            },
        )
        # a generated serial letter, kept for the next test (saves a run)
        cls.generated = None

    def setUp(self):
        super().setUp()
        # a test that failed midway may have left the server stopped or dead
        if self.server.running:
            self._signal_group(signal.SIGCONT)
        else:
            self._restart()

    @classmethod
    def _insert_contacts(cls):
        """2,025 contacts in TOWN with complete postal addresses, named and
        referenced in an order unrelated to their ids; 15 marked "No
        letters", 10 without a street."""
        total = cls.printable + cls.no_letters + cls.no_street
        ids = cls.server.insert_partners(total, TOWN, name_prefix="Briefkontakt")
        numbers = list(range(1, total + 1))
        random.Random(14).shuffle(numbers)
        cls.server.sql(
            """
            UPDATE res_partner p
               SET name = 'Briefkontakt ' || lpad(v.n::text, 4, '0'),
                   complete_name = 'Briefkontakt ' || lpad(v.n::text, 4, '0'),
                   ref = 'K' || lpad(v.n::text, 4, '0'),
                   street = 'Poststraße ' || v.n,
                   country_id = (SELECT id FROM res_country WHERE code = 'DE'),
                   email = NULL, email_normalized = NULL
              FROM unnest(%s::int[], %s::int[]) AS v(id, n)
             WHERE p.id = v.id
            """,
            [ids, numbers],
        )
        # spread over the whole sort order, hence over every part
        shuffled = ids[:]
        random.Random(5).shuffle(shuffled)
        cls.no_letters_ids = set(shuffled[: cls.no_letters])
        cls.no_street_ids = set(
            shuffled[cls.no_letters : cls.no_letters + cls.no_street]
        )
        cls.server.sql(
            "UPDATE res_partner SET no_letters = true WHERE id = ANY(%s)",
            [list(cls.no_letters_ids)],
        )
        cls.server.sql(
            "UPDATE res_partner SET street = NULL WHERE id = ANY(%s)",
            [list(cls.no_street_ids)],
        )
        rows = cls.server.sql(
            "SELECT id, ref FROM res_partner WHERE id = ANY(%s)", [ids]
        )
        refs = dict(rows)
        # the letters in the document: by name, i.e. by reference
        cls.expected_refs = sorted(
            refs[pid]
            for pid in ids
            if pid not in cls.no_letters_ids and pid not in cls.no_street_ids
        )
        cls.contact_ids = ids

    def _create_letter(self):
        correspondence_id = self.server.rpc(
            "serial.correspondence",
            "create",
            {
                "kind": "letter",
                "subject": "Einladung zur Versammlung",
                "template_id": self.template_id,
                "sort_order": "name",
                "partner_domain": repr([("city", "=", TOWN)]),
            },
        )
        self._wait_state(
            correspondence_id, ("ready",), self.import_timeout, "recipients read"
        )
        return correspondence_id

    # -- looking at the server ------------------------------------------------

    def _state(self, correspondence_id):
        return self.server.sql_value(
            "SELECT state FROM serial_correspondence WHERE id = %s",
            [correspondence_id],
        )

    def _wait_state(self, correspondence_id, states, timeout, what):
        def reached():
            self.server.check_no_failed_job()
            state = self._state(correspondence_id)
            return state if state in states else None

        return self.server.wait_for(reached, timeout, what, interval=0.2)

    def _jobs(self, correspondence_id):
        """The letter jobs of the correspondence, as committed:
        ``[{uuid, method, part, state, worker_pid, retry}]`` (``part`` None for
        the assembly)."""
        rows = self.server.sql(
            """
            SELECT uuid, method_name, func_string, state, worker_pid,
                   COALESCE(retry, 0)
              FROM queue_job
             WHERE method_name IN (%s, %s) AND func_string LIKE %s
             ORDER BY id
            """,
            [
                PART_METHOD,
                ASSEMBLY_METHOD,
                f"serial.correspondence({correspondence_id},).%",
            ],
        )
        jobs = []
        for uuid, method, func_string, state, worker_pid, retry in rows:
            match = PART_RE.search(func_string)
            jobs.append(
                {
                    "uuid": uuid,
                    "method": method,
                    "part": int(match.group(2)) if match else None,
                    "state": state,
                    "worker_pid": worker_pid,
                    "retry": retry,
                }
            )
        return jobs

    def _parts(self, correspondence_id):
        """Committed parts: ``[(sequence, letter_count, page_count)]``."""
        return self.server.sql(
            "SELECT sequence, letter_count, page_count"
            " FROM serial_correspondence_letter_part"
            " WHERE correspondence_id = %s ORDER BY sequence",
            [correspondence_id],
        )

    def _recipient_states(self, correspondence_id):
        return dict(
            self.server.sql(
                "SELECT state, count(*) FROM serial_correspondence_recipient"
                " WHERE correspondence_id = %s GROUP BY state",
                [correspondence_id],
            )
        )

    def _rows_locked_by_others(self, table, where, params):
        """How many rows of ``table`` matching ``where`` another transaction
        has written (updated or deleted) and not committed yet: they are
        locked, ``SKIP LOCKED`` leaves them out. Never waits."""
        total = self.server.sql_value(
            f"SELECT count(*) FROM {table} WHERE {where}",
            params,
        )
        free = self.server.sql_value(
            f"SELECT count(*) FROM (SELECT id FROM {table} WHERE {where}"
            " FOR NO KEY UPDATE SKIP LOCKED) AS free",
            params,
        )
        return total - free

    def _runner_pid(self):
        """The process of queue_job's runner: the holder of its advisory lock
        on the database (its session is named after its pid)."""
        classid, objid = PG_ADVISORY_LOCK_ID >> 32, PG_ADVISORY_LOCK_ID & 0xFFFFFFFF
        name = self.server.sql_value(
            """
            SELECT a.application_name
              FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
             WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1
               AND l.classid::bigint = %s AND l.objid::bigint = %s
               AND l.database = (SELECT oid FROM pg_database
                                  WHERE datname = current_database())
            """,
            [classid, objid],
        )
        match = re.search(r"-(\d+)$", name or "")
        return int(match.group(1)) if match else None

    # -- stopping and killing -------------------------------------------------

    def _signal_group(self, sig):
        os.killpg(self.server.process.pid, sig)

    def _freeze_when(self, condition, timeout, what, interval=0.01, held=()):
        """Wait until ``condition()`` returns something truthy, then stop
        every process of the server (SIGSTOP) and call it again once they
        stand still: when it holds then too, return its value with the server
        stopped; otherwise let the server go on (SIGCONT) and keep waiting.
        The processes ``held`` (stopped by the caller) stay stopped."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.server.running:
                raise E2EError(f"the server exited while waiting for {what}")
            if condition():
                self._signal_group(signal.SIGSTOP)
                # statements already sent to PostgreSQL finish meanwhile
                time.sleep(0.1)
                value = condition()
                if value:
                    return value
                self._signal_group(signal.SIGCONT)
                _signal_processes(held, signal.SIGSTOP)
            time.sleep(interval)
        raise E2EError(
            f"timed out after {timeout}s waiting for {what}\n{self.server.log_tail()}"
        )

    def _step_until(self, condition, timeout, what, run_slice=0.003):
        """With the server stopped: let it run for ``run_slice`` seconds at a
        time until ``condition()`` holds while it stands still; return its
        value with the server stopped."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = condition()
            if value:
                return value
            self._signal_group(signal.SIGCONT)
            time.sleep(run_slice)
            self._signal_group(signal.SIGSTOP)
            time.sleep(0.01)
        raise E2EError(
            f"timed out after {timeout}s waiting for {what}\n{self.server.log_tail()}"
        )

    def _kill(self, what):
        """SIGKILL the server's process group (stopped or not) and wait until
        its processes and database sessions are gone."""
        self.server.kill(signal.SIGKILL)
        _logger.info("e2e letters: killed the server %s", what)

    def _restart(self):
        self.server.wait_dead_jobs_requeueable()
        self.server.start()

    # -- the kill points ------------------------------------------------------

    def _kill_mid_part(self, correspondence_id, min_part):
        """Kill while a part job (``min_part`` or later) prints: its letters
        are evaluated and rendered (recipients written in its transaction)
        and wkhtmltopdf is running. Returns what was seen."""

        def printing():
            for job in self._jobs(correspondence_id):
                if (
                    job["part"]
                    and job["part"] >= min_part
                    and job["state"] == "started"
                    and job["worker_pid"]
                ):
                    printers = [
                        child
                        for child in _children(job["worker_pid"])
                        if _printing(child)
                    ]
                    if printers:
                        return dict(job, printers=printers)
            if self._state(correspondence_id) != "in_progress":
                raise E2EError(f"generating ended before part {min_part} printed")
            return None

        seen = self._freeze_when(
            printing, self.generate_timeout, f"part {min_part}+ being printed"
        )
        # the recipients the part job has written (evaluated: created,
        # excluded, error) in its open transaction
        seen["written"] = self._rows_locked_by_others(
            "serial_correspondence_recipient",
            "correspondence_id = %s",
            [correspondence_id],
        )
        # what is committed: the earlier parts, their letters; nothing of
        # the part being printed
        parts = self._parts(correspondence_id)
        states = self._recipient_states(correspondence_id)
        seen.update(
            parts=parts,
            states=states,
            work_dirs=_work_directories({seen["worker_pid"]}),
        )
        self._kill(f"mid-part: {seen}")
        with self.server.log_on_failure():
            self.assertEqual([p[0] for p in parts], list(range(1, seen["part"])))
            self.assertEqual(states.get("created", 0), sum(p[1] for p in parts))
            # some letters of the part were written, uncommitted, and are
            # pending again now
            self.assertGreater(seen["written"], 0)
            self.assertLessEqual(
                seen["written"], 200 + self.no_letters + self.no_street
            )
            self.assertEqual(self._recipient_states(correspondence_id), states)
            self.assertTrue(
                seen["work_dirs"], "the killed print left its temporary directory"
            )
        return seen

    def _kill_between_parts(self, correspondence_id, min_part):
        """Kill when part job ``min_part`` (or a later one) is done and the
        next one is queued, not started: the runner is stopped first so
        that it cannot hand the next job to a worker."""

        def started():
            return next(
                (
                    job
                    for job in self._jobs(correspondence_id)
                    if job["part"]
                    and job["part"] >= min_part
                    and job["state"] == "started"
                ),
                None,
            )

        running = self.server.wait_for(
            started, self.generate_timeout, f"part {min_part}+ started", interval=0.05
        )
        runner = self._runner_pid()
        self.assertTrue(runner, "queue_job's runner holds its lock")
        os.kill(runner, signal.SIGSTOP)

        def between():
            jobs = {job["part"]: job for job in self._jobs(correspondence_id)}
            done = jobs.get(running["part"])
            following = jobs.get(running["part"] + 1)
            if (
                done
                and done["state"] == "done"
                and following
                and following["state"] == "pending"
                and not any(
                    job["state"] in ("enqueued", "started") for job in jobs.values()
                )
            ):
                return dict(following, done_part=running["part"])
            return None

        seen = self.server.wait_for(
            between, self.generate_timeout, "a part done and the next one queued"
        )
        parts = self._parts(correspondence_id)
        states = self._recipient_states(correspondence_id)
        seen.update(parts=parts, states=states)
        self._kill(f"between parts: {seen}")
        with self.server.log_on_failure():
            self.assertEqual([p[0] for p in parts], list(range(1, seen["part"])))
            self.assertEqual(states.get("created", 0), sum(p[1] for p in parts))
            self.assertTrue(states.get("pending"), states)
        return seen

    def _kill_while_merging(self, correspondence_id):
        """Kill while the assembly job writes the merged document (a
        temporary PDF file of its worker). Once the job has started, the
        server runs in slices of a few milliseconds, stopped in between, so
        that the moment cannot slip by however fast the machine merges."""

        def assembling():
            return next(
                (
                    job
                    for job in self._jobs(correspondence_id)
                    if job["method"] == ASSEMBLY_METHOD
                    and job["state"] == "started"
                    and job["worker_pid"]
                ),
                None,
            )

        job = self._freeze_when(
            assembling,
            self.generate_timeout,
            "the assembly job started",
            interval=0.005,
        )

        def merging():
            sizes = [size for size in _open_temporary_pdfs(job["worker_pid"]) if size]
            if sizes:
                return dict(job, merged_bytes=max(sizes))
            if assembling() is None:
                raise E2EError("the assembly job ended before it merged anything")
            return None

        seen = self._step_until(merging, 120, "the document being merged")
        seen["document"] = self.server.sql_value(
            "SELECT document_attachment_id FROM serial_correspondence WHERE id = %s",
            [correspondence_id],
        )
        seen["correspondence_state"] = self._state(correspondence_id)
        self._kill(f"while merging: {seen}")
        with self.server.log_on_failure():
            self.assertFalse(seen["document"], "no document committed yet")
            self.assertEqual(seen["correspondence_state"], "in_progress")
        return seen

    # -- what must hold afterwards ----------------------------------------------

    def _document(self, correspondence_id):
        attachment_id, pages = self.server.sql(
            "SELECT document_attachment_id, document_page_count"
            " FROM serial_correspondence WHERE id = %s",
            [correspondence_id],
        )[0]
        self.assertTrue(attachment_id, "the serial letter has a document")
        [attachment] = self.server.rpc(
            "ir.attachment", "read", [attachment_id], fields=["datas"]
        )
        raw = base64.b64decode(attachment["datas"])
        self.assertTrue(raw.startswith(b"%PDF"))
        return attachment_id, raw, pages

    @contextlib.contextmanager
    def _restarted_to_the_end(self, correspondence_id):
        """After the last kill: restart, let the letters finish, check every
        outcome and each letter once in sort order, then the caller's own
        checks (the server's log shown when one fails)."""
        self._restart()
        self._wait_state(
            correspondence_id, OUTCOME_STATES, self.generate_timeout, "letters"
        )
        with self.server.log_on_failure():
            self._assert_outcomes(correspondence_id)
            self._assert_document_holds_each_letter_once_in_order(correspondence_id)
            yield

    def _assert_document_holds_each_letter_once_in_order(self, correspondence_id):
        _attachment_id, raw, page_count = self._document(correspondence_id)
        pages = pdf_pages(raw)
        info = subprocess.run(
            ["pdfinfo", "-"], input=raw, capture_output=True, check=True
        ).stdout.decode()
        self.assertRegex(info, rf"(?m)^Pages:\s+{len(pages)}$")
        # one page per letter, each page one letter: the contact's marker
        # and name once
        self.assertEqual(len(pages), len(self.expected_refs))
        self.assertEqual(page_count, len(self.expected_refs))
        printed = []
        for index, page in enumerate(pages):
            markers = MARKER_RE.findall(page)
            self.assertEqual(len(markers), 1, f"page {index + 1}: {markers}")
            name = f"Briefkontakt {markers[0][1:]}"
            self.assertIn(f"Liebe(r) {name},", page, f"page {index + 1}")
            printed.append(markers[0])
        self.assertEqual(len(set(printed)), len(printed), "a letter printed twice")
        self.assertEqual(printed, self.expected_refs, "the letters in sort order")
        # one document, however often its assembly ran
        self.assertEqual(
            self.server.sql_value(
                "SELECT count(*) FROM ir_attachment"
                " WHERE res_model = 'serial.correspondence' AND res_id = %s",
                [correspondence_id],
            ),
            1,
        )
        return raw

    def _assert_outcomes(self, correspondence_id):
        rows = self.server.sql(
            """
            SELECT r.partner_id, r.state, r.reason->>'en_US', r.letter_sequence
              FROM serial_correspondence_recipient r
             WHERE r.correspondence_id = %s
            """,
            [correspondence_id],
        )
        self.assertEqual(len(rows), len(self.contact_ids))
        self.assertEqual(
            {pid for pid, *_rest in rows}, set(self.contact_ids), "every contact once"
        )
        for partner_id, state, reason, _sequence in rows:
            if partner_id in self.no_letters_ids:
                self.assertEqual(
                    (state, reason),
                    ("excluded", "The contact is marked 'No letters'."),
                )
            elif partner_id in self.no_street_ids:
                self.assertEqual(state, "error")
                self.assertIn("The postal address is incomplete", reason)
            else:
                self.assertEqual((state, reason), ("created", None))
        [(created, excluded, errors, state)] = self.server.sql(
            "SELECT (SELECT count(*) FROM serial_correspondence_recipient"
            "         WHERE correspondence_id = c.id AND state = 'created'),"
            "       (SELECT count(*) FROM serial_correspondence_recipient"
            "         WHERE correspondence_id = c.id AND state = 'excluded'),"
            "       (SELECT count(*) FROM serial_correspondence_recipient"
            "         WHERE correspondence_id = c.id AND state = 'error'),"
            "       c.state"
            "  FROM serial_correspondence c WHERE c.id = %s",
            [correspondence_id],
        )
        self.assertEqual(
            (created, excluded, errors, state),
            (self.printable, self.no_letters, self.no_street, "create_failed"),
            "errors take precedence in the outcome",
        )

    def _assert_jobs_done(self, correspondence_id, killed_running):
        jobs = self._jobs(correspondence_id)
        self.assertEqual({job["state"] for job in jobs}, {"done"}, jobs)
        parts = [job["part"] for job in jobs if job["part"]]
        self.assertEqual(sorted(parts), list(range(1, len(parts) + 1)), "parts")
        self.assertEqual(len(parts), len(set(parts)), "a part job queued twice")
        self.assertEqual(
            len([job for job in jobs if job["method"] == ASSEMBLY_METHOD]), 1
        )
        runs = {job["uuid"]: job["retry"] for job in jobs}
        for uuid in killed_running:
            self.assertTrue(
                self.server.log_lines(f"Re-queued dead job with uuid: {uuid}"),
                f"queue_job's runner did not requeue the killed job {uuid}",
            )
        # queue_job's ``retry`` counts runs: the killed run and the next one
        self.assertEqual(
            runs,
            {uuid: 2 if uuid in killed_running else 1 for uuid in runs},
            "runs per job",
        )
        self.assertEqual(
            self.server.sql_value(
                "SELECT count(*) FROM queue_job WHERE state = 'failed'"
            ),
            0,
        )
        self.assertEqual(
            len(self._parts(correspondence_id)), len(parts), "one part per part job"
        )

    def _assert_no_errors_logged(self):
        errors = self.server.log_lines(r" (ERROR|CRITICAL) ")
        self.assertFalse(errors, "errors in the server log:\n" + "\n".join(errors))

    # -- generating -------------------------------------------------------------

    def _generate_without_kill(self):
        if type(self).generated:
            return type(self).generated
        correspondence_id = self._create_letter()
        self.server.rpc("serial.correspondence", "action_generate", [correspondence_id])
        self._wait_state(
            correspondence_id, OUTCOME_STATES, self.generate_timeout, "letters"
        )
        type(self).generated = correspondence_id
        return correspondence_id

    def test_generating_killed_at_every_step_prints_each_letter_once_in_order(self):
        started = time.monotonic()
        correspondence_id = self._create_letter()
        self.server.rpc("serial.correspondence", "action_generate", [correspondence_id])

        mid_part = self._kill_mid_part(correspondence_id, min_part=2)
        self._restart()
        between = self._kill_between_parts(correspondence_id, mid_part["part"] + 2)
        self._restart()
        merging = self._kill_while_merging(correspondence_id)
        with self._restarted_to_the_end(correspondence_id):
            self._assert_jobs_done(
                correspondence_id, {mid_part["uuid"], merging["uuid"]}
            )
            # the queued part was not run by the killed server: it ran once,
            # after the restart
            self.assertNotIn(
                between["uuid"],
                {mid_part["uuid"], merging["uuid"]},
            )
            # the print killed midway left its letters (personal data) in
            # the temporary directory; the next print removed them
            self.assertFalse(
                _work_directories({mid_part["worker_pid"]}),
                "the temporary files of the killed print are still there",
            )
            self._assert_no_errors_logged()
        type(self).generated = correspondence_id
        _logger.info(
            "e2e letters: generating with 3 kills took %.1fs",
            time.monotonic() - started,
        )

    # -- finalizing -------------------------------------------------------------

    def _finalize_in_background(self, correspondence_id):
        """Call *Finalize* over XML-RPC in a thread (it is killed under way);
        returns the thread and a list that gets the result or the error."""
        outcome = []

        def call():
            proxy = xmlrpc.client.ServerProxy(
                f"{self.server.url}/xmlrpc/2/object",
                allow_none=True,
                transport=_SingleRequestTransport(),
            )
            try:
                with proxy:
                    outcome.append(
                        proxy.execute_kw(
                            self.server.db_name,
                            self.server.uid,
                            self.server.admin_password,
                            "serial.correspondence",
                            "action_finalize",
                            [[correspondence_id]],
                        )
                    )
            except Exception as error:
                outcome.append(error)

        thread = threading.Thread(target=call, daemon=True)
        thread.start()
        return thread, outcome

    def _finalize_state(self, correspondence_id, attachment_id):
        [(state, checksum, archived, parts, logged, notes, linked)] = self.server.sql(
            """
            SELECT c.state, c.document_checksum,
                   (SELECT COALESCE(serial_correspondence_archived, false)
                      FROM ir_attachment
                     WHERE id = %(attachment)s),
                   (SELECT count(*) FROM serial_correspondence_letter_part
                     WHERE correspondence_id = c.id),
                   (SELECT count(*) FROM mail_message
                     WHERE model = 'res.partner' AND res_id = ANY(%(partners)s)
                       AND body LIKE %(link)s),
                   (SELECT count(*) FROM mail_message
                     WHERE model = 'serial.correspondence' AND res_id = c.id
                       AND body LIKE '%%is archived and can no longer be changed%%'),
                   (SELECT count(*) FROM serial_correspondence_recipient
                     WHERE correspondence_id = c.id AND message_id IS NOT NULL)
              FROM serial_correspondence c
             WHERE c.id = %(id)s
            """,
            {
                "id": correspondence_id,
                "attachment": attachment_id,
                "partners": self.contact_ids,
                "link": f"%data-oe-id=_{correspondence_id}_%",
            },
        )
        return {
            "state": state,
            "checksum": checksum,
            "archived": archived,
            "parts": parts,
            "logged": logged,
            "notes": notes,
            "linked": linked,
        }

    def _assert_not_started(self, correspondence_id, attachment_id, raw, parts):
        after = self._finalize_state(correspondence_id, attachment_id)
        self.assertEqual(
            after,
            {
                "state": "create_failed",
                "checksum": None,
                "archived": False,
                "parts": parts,
                "logged": 0,
                "notes": 0,
                "linked": 0,
            },
            "an interrupted Finalize has not happened at all",
        )
        _id, raw_after, _pages = self._document(correspondence_id)
        self.assertEqual(raw_after, raw, "the document is unchanged")

    def _kill_finalize_midway(self, correspondence_id):
        """Kill while *Finalize* runs: it has deleted the parts (in its
        transaction) and archives and writes the history entries."""
        parts = len(self._parts(correspondence_id))
        thread, outcome = self._finalize_in_background(correspondence_id)

        def finalizing():
            deleted = self._rows_locked_by_others(
                "serial_correspondence_letter_part",
                "correspondence_id = %s",
                [correspondence_id],
            )
            return {"parts_deleted": deleted} if deleted == parts else None

        seen = self._freeze_when(finalizing, 120, "Finalize under way", interval=0.005)
        self._kill(f"while finalizing: {seen}")
        thread.join(30)
        self.assertTrue(outcome and isinstance(outcome[0], Exception), outcome)
        return seen

    def _kill_finalize_at_its_last_statement(self, correspondence_id):
        """Kill *Finalize* at its last statement: the history entries are
        written, the document archived, the state set, nothing committed.
        A row lock held here (as another user editing the record would)
        holds it at that statement long enough to be seen."""
        last = self.server.sql_value(
            "SELECT max(id) FROM serial_correspondence_recipient"
            " WHERE correspondence_id = %s AND state = 'created'",
            [correspondence_id],
        )
        blocker = pg_connect(self.server.db_name)
        try:
            blocker.autocommit = False
            with blocker.cursor() as cr:
                cr.execute(
                    "SELECT id FROM serial_correspondence_recipient"
                    " WHERE id = %s FOR UPDATE",
                    [last],
                )
            thread, outcome = self._finalize_in_background(correspondence_id)

            def waiting_at_last_statement():
                return self.server.sql_value(
                    """
                    SELECT pid FROM pg_stat_activity
                     WHERE datname = current_database()
                       AND application_name LIKE %s
                       AND wait_event_type = 'Lock'
                       AND query LIKE '%%UPDATE serial_correspondence_recipient%%'
                       AND query LIKE '%%message_id%%'
                    """,
                    [f"{self.server.app_name}-%"],
                )

            seen = self._freeze_when(
                waiting_at_last_statement, 120, "Finalize at its last statement"
            )
            # the workers die; the session waiting for the lock notices when
            # it gets it and finds its client gone: it rolls back
            self._signal_group(signal.SIGKILL)
            blocker.rollback()
        finally:
            blocker.close()
        self._kill(f"at the last statement of Finalize (backend {seen})")
        thread.join(30)
        self.assertTrue(outcome and isinstance(outcome[0], Exception), outcome)

    def test_interrupted_finalize_is_not_started_and_runs_again_completely(self):
        started = time.monotonic()
        correspondence_id = self._generate_without_kill()
        self.assertEqual(self._state(correspondence_id), "create_failed")
        attachment_id, raw, _pages = self._document(correspondence_id)
        parts = len(self._parts(correspondence_id))
        self.assertGreater(parts, 1)

        self._kill_finalize_midway(correspondence_id)
        self._restart()
        with self.server.log_on_failure():
            self._assert_not_started(correspondence_id, attachment_id, raw, parts)

        self._kill_finalize_at_its_last_statement(correspondence_id)
        self._restart()
        with self.server.log_on_failure():
            self._assert_not_started(correspondence_id, attachment_id, raw, parts)

        # run again: complete, once
        self.server.rpc("serial.correspondence", "action_finalize", [correspondence_id])
        with self.server.log_on_failure():
            after = self._finalize_state(correspondence_id, attachment_id)
            self.assertEqual(
                after,
                {
                    "state": "done",
                    "checksum": hashlib.sha256(raw).hexdigest(),
                    "archived": True,
                    "parts": 0,
                    "logged": self.printable,
                    "notes": 1,
                    "linked": self.printable,
                },
            )
            # one history entry per contact who got a letter, none for the
            # others
            per_contact = dict(
                self.server.sql(
                    """
                    SELECT res_id, count(*) FROM mail_message
                     WHERE model = 'res.partner' AND res_id = ANY(%s)
                       AND body LIKE %s
                     GROUP BY res_id
                    """,
                    [self.contact_ids, f"%data-oe-id=_{correspondence_id}_%"],
                )
            )
            self.assertEqual(set(per_contact.values()), {1})
            self.assertFalse(
                set(per_contact) & (self.no_letters_ids | self.no_street_ids)
            )
            _id, raw_after, _pages = self._document(correspondence_id)
            self.assertEqual(raw_after, raw, "the archived document is the one printed")
            verified = self.server.rpc(
                "serial.correspondence", "action_verify_document", [correspondence_id]
            )
            self.assertEqual(verified["params"]["type"], "success", verified)
            self.server.check_no_failed_job()
            self._assert_no_errors_logged()
        _logger.info(
            "e2e letters: finalize with 2 kills took %.1fs", time.monotonic() - started
        )

    # -- generating in parallel -------------------------------------------------

    def _serve_parallel(self):
        """Restart the server so that queue_job runs two jobs of our channel
        at once (a worker more than that for the test's calls), with parts of
        ``PARALLEL_SPAN`` positions; the cleanup gives the server back its
        channels and workers for the other tests."""
        channels, workers = self.server.channels, self.server.workers
        self.server.stop()
        self.addCleanup(self._serve_sequential, channels, workers)
        # set while the server is down: no worker has the old value cached
        self.server.sql(
            "INSERT INTO ir_config_parameter (key, value) VALUES (%s, %s)"
            " ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
            [PART_SIZE_PARAM, str(PARALLEL_SPAN)],
        )
        self.server.workers = PARALLEL_WORKERS
        self.server.start(channels=PARALLEL_CHANNELS)

    def _serve_sequential(self, channels, workers):
        if self.server.running:
            self._kill("to give it its channels back")
        self.server.sql(
            "DELETE FROM ir_config_parameter WHERE key = %s", [PART_SIZE_PARAM]
        )
        # what a failed test left unfinished does not run into the next tests
        self.server.sql(
            "UPDATE queue_job SET state = 'cancelled'"
            " WHERE method_name IN (%s, %s)"
            "   AND state IN ('wait_dependencies', 'pending', 'enqueued', 'started')",
            [PART_METHOD, ASSEMBLY_METHOD],
        )
        self.server.workers = workers
        self.server.start(channels=channels)

    def _positions(self, parts, span):
        """The letter positions of ``parts`` (fixed ranges of ``span``)."""
        total = len(self.contact_ids)
        return {
            position
            for part in parts
            for position in range((part - 1) * span + 1, min(part * span, total) + 1)
        }

    def _pending_positions(self, correspondence_id):
        return {
            position
            for (position,) in self.server.sql(
                "SELECT letter_sequence FROM serial_correspondence_recipient"
                " WHERE correspondence_id = %s AND state = 'pending'",
                [correspondence_id],
            )
        }

    def _written_uncommitted(self, correspondence_id, part, span):
        """How many recipients of ``part`` a transaction has written and not
        committed (see :meth:`_rows_locked_by_others`)."""
        return self._rows_locked_by_others(
            "serial_correspondence_recipient",
            "correspondence_id = %s AND letter_sequence BETWEEN %s AND %s",
            [correspondence_id, (part - 1) * span + 1, part * span],
        )

    def _job_row(self, uuid):
        """``(date_started, date_done, result)`` of a job, as committed."""
        return self.server.sql(
            "SELECT date_started, date_done, result FROM queue_job WHERE uuid = %s",
            [uuid],
        )[0]

    def _hold_printing_part(self, correspondence_id, candidates, what):
        """Wait until one of the part jobs ``candidates(jobs)`` returns (of
        the committed ``jobs``) is started and its worker prints, then stop
        (SIGSTOP) that worker and its processes alone: the part stays in the
        middle of printing while the rest of the server goes on. Returns the
        job with its ``printers`` and the stopped processes (``held``)."""
        deadline = time.monotonic() + self.generate_timeout
        while time.monotonic() < deadline:
            if not self.server.running:
                raise E2EError(f"the server exited while waiting for {what}")
            for job in candidates(self._jobs(correspondence_id)):
                worker = job["worker_pid"]
                if job["state"] != "started" or not _printers(worker):
                    continue
                # the worker first: then it starts no other process
                _signal_processes([worker], signal.SIGSTOP)
                held = [worker, *_descendants(worker)]
                _signal_processes(held[1:], signal.SIGSTOP)
                printers = _printers(worker)
                now = {other["uuid"]: other for other in self._jobs(correspondence_id)}
                if printers and now[job["uuid"]] == job:
                    return dict(job, printers=printers, held=held)
                _signal_processes(held, signal.SIGCONT)
            time.sleep(0.01)
        raise E2EError(
            f"timed out after {self.generate_timeout}s waiting for {what}\n"
            f"{self.server.log_tail()}"
        )

    def _check_generating(self, correspondence_id, jobs, what):
        if self._state(correspondence_id) != "in_progress" or any(
            job["method"] == ASSEMBLY_METHOD for job in jobs
        ):
            raise E2EError(f"the parts were printed before {what}: {jobs}")

    def _kill_two_parts_printing(self, correspondence_id, span, parts):
        """Kill while two part jobs (of ``parts``) print at the same time:
        each has evaluated and rendered its letters (written in its open
        transaction) and runs wkhtmltopdf. The first one seen printing is
        held there (its worker stopped) until a second one prints too.
        Returns the two jobs as seen."""

        def printing(jobs):
            self._check_generating(correspondence_id, jobs, "two printed at once")
            return [job for job in jobs if job["part"] in parts]

        first = self._hold_printing_part(
            correspondence_id, printing, f"a part of {parts} printing"
        )

        def two_printing():
            jobs = self._jobs(correspondence_id)
            self._check_generating(correspondence_id, jobs, "two printed at once")
            if not _printers(first["worker_pid"]):
                raise E2EError(f"the held part stopped printing: {first}")
            for job in printing(jobs):
                if job["uuid"] != first["uuid"] and job["state"] == "started":
                    printers = _printers(job["worker_pid"])
                    if printers:
                        return dict(job, printers=printers)
            return None

        second = self._freeze_when(
            two_printing,
            self.generate_timeout,
            "a second part printing",
            held=first["held"],
        )
        killed = [first, second]
        for job in killed:
            job["written"] = self._written_uncommitted(
                correspondence_id, job["part"], span
            )
            job["work_dirs"] = _work_directories({job["worker_pid"]})
        done = sorted(
            job["part"]
            for job in self._jobs(correspondence_id)
            if job["part"] and job["state"] == "done"
        )
        parts_committed = self._parts(correspondence_id)
        pending = self._pending_positions(correspondence_id)
        self._kill(f"with two parts printing: {killed}, parts done {done}")
        with self.server.log_on_failure():
            self.assertNotEqual(first["worker_pid"], second["worker_pid"])
            # the window moved on: part k was queued by part k - 2, done
            for job in killed:
                self.assertIn(job["part"] - 2, done, job)
            # what is committed: the parts done, no other; every position
            # of the others is pending
            self.assertEqual([part[0] for part in parts_committed], done)
            self.assertEqual(
                pending,
                set(range(1, len(self.contact_ids) + 1)) - self._positions(done, span),
            )
            for job in killed:
                # every recipient of the part written, uncommitted: pending
                # again now
                self.assertEqual(
                    job["written"], len(self._positions([job["part"]], span)), job
                )
                self.assertTrue(
                    job["work_dirs"], "the killed print left its temporary directory"
                )
            self.assertEqual(self._pending_positions(correspondence_id), pending)
        return killed

    def _kill_last_part_while_another_commits(self, correspondence_id, span, total):
        """Kill one of the last two parts while it prints, once the other
        one has committed (it was not the last: this one's recipients were
        pending, so it did not queue the assembly). The first of the two
        seen printing while the other has not committed yet is held there
        (its worker stopped) until every other part has committed. Returns
        the held part as seen."""
        final = (total - 1, total)

        def one_of_last_two(jobs):
            self._check_generating(correspondence_id, jobs, "the last two parts ran")
            last_two = {job["part"]: job for job in jobs if job["part"] in final}
            candidates = []
            for part, job in last_two.items():
                other = last_two.get(final[0] if part == final[1] else final[1])
                if job["state"] == "started" and (
                    other is None
                    or other["state"] != "done"
                    # done since this one started
                    or self._job_row(other["uuid"])[1] > self._job_row(job["uuid"])[0]
                ):
                    candidates.append(job)
            return candidates

        last = self._hold_printing_part(
            correspondence_id, one_of_last_two, "one of the last two parts printing"
        )

        def others_committed():
            jobs = self._jobs(correspondence_id)
            if not _printers(last["worker_pid"]):
                raise E2EError(f"the held part stopped printing: {last}")
            parts = [job for job in jobs if job["part"]]
            if len(parts) == total and all(
                job["state"] == "done" for job in parts if job["uuid"] != last["uuid"]
            ):
                return jobs
            return None

        jobs = self._freeze_when(
            others_committed,
            self.generate_timeout,
            "every other part committed",
            held=last["held"],
        )
        [other] = [
            job for job in jobs if job["part"] in final and job["uuid"] != last["uuid"]
        ]
        seen = dict(
            last,
            other=other["part"],
            written=self._written_uncommitted(correspondence_id, last["part"], span),
            work_dirs=_work_directories({last["worker_pid"]}),
            parts=[part[0] for part in self._parts(correspondence_id)],
            date_started=self._job_row(last["uuid"])[0],
        )
        pending = self._pending_positions(correspondence_id)
        _started, other_done, other_result = self._job_row(other["uuid"])
        self._kill(f"the last part printing, another one committed: {seen}")
        with self.server.log_on_failure():
            self.assertEqual(
                [job for job in jobs if job["method"] == ASSEMBLY_METHOD],
                [],
                "no assembly queued while a part was not committed",
            )
            self.assertEqual(
                seen["parts"],
                [part for part in range(1, total + 1) if part != last["part"]],
            )
            self.assertEqual(pending, self._positions([last["part"]], span))
            self.assertEqual(seen["written"], len(pending))
            # the other one committed while this one was printing: it was
            # not the last, it did not queue the assembly
            self.assertGreater(other_done, seen["date_started"])
            self.assertRegex(other_result or "", rf"^Part {other['part']} printed\.$")
            self.assertTrue(seen["work_dirs"])
        return seen

    def _kill_with_assembly_queued(self, correspondence_id, last, total):
        """Kill when the part killed last has run again and, the last to
        end, queued the assembly, which has not started: queue_job's runner
        is stopped while the part runs, so the assembly stays queued."""

        def rerun():
            jobs = self._jobs(correspondence_id)
            self._check_generating(correspondence_id, jobs, "the last part ran again")
            [job] = [job for job in jobs if job["uuid"] == last["uuid"]]
            # started anew (not the state the killed run left)
            return (
                job["state"] == "started"
                and self._job_row(job["uuid"])[0] > last["date_started"]
            )

        self.server.wait_for(
            rerun, self.generate_timeout, "the last part running again", interval=0.05
        )
        runner = self._runner_pid()
        self.assertTrue(runner, "queue_job's runner holds its lock")
        os.kill(runner, signal.SIGSTOP)

        def queued():
            jobs = self._jobs(correspondence_id)
            assembly = [job for job in jobs if job["method"] == ASSEMBLY_METHOD]
            if any(job["state"] != "pending" for job in assembly):
                raise E2EError(f"the assembly was handed to a worker: {jobs}")
            if assembly and all(job["state"] == "done" for job in jobs if job["part"]):
                return assembly[0]
            return None

        seen = self.server.wait_for(
            queued, self.generate_timeout, "the assembly queued by the last part"
        )
        seen.update(
            parts=len(self._parts(correspondence_id)),
            pending=len(self._pending_positions(correspondence_id)),
            correspondence_state=self._state(correspondence_id),
            document=self.server.sql_value(
                "SELECT document_attachment_id FROM serial_correspondence"
                " WHERE id = %s",
                [correspondence_id],
            ),
            last_result=self._job_row(last["uuid"])[2],
        )
        self._kill(f"with the assembly queued: {seen}")
        with self.server.log_on_failure():
            self.assertEqual(
                (seen["parts"], seen["pending"], seen["correspondence_state"]),
                (total, 0, "in_progress"),
            )
            self.assertFalse(seen["document"])
            self.assertEqual(
                seen["last_result"], f"Part {last['part']} printed, the last one."
            )
        return seen

    def test_parallel_parts_killed_print_each_letter_once_in_order(self):
        started = time.monotonic()
        self._serve_parallel()
        correspondence_id = self._create_letter()
        self.server.rpc("serial.correspondence", "action_generate", [correspondence_id])
        [(span, window)] = self.server.sql(
            "SELECT letter_part_span, letter_part_window FROM serial_correspondence"
            " WHERE id = %s",
            [correspondence_id],
        )
        # fixed ranges, two parts at a time (the channel's capacity)
        self.assertEqual((span, window), (PARALLEL_SPAN, 2))
        total = math.ceil(len(self.contact_ids) / span)

        two = self._kill_two_parts_printing(
            correspondence_id, span, range(3, total - 1)
        )
        self._restart()
        last = self._kill_last_part_while_another_commits(
            correspondence_id, span, total
        )
        self._restart()
        self._kill_with_assembly_queued(correspondence_id, last, total)
        with self._restarted_to_the_end(correspondence_id):
            killed = {job["uuid"] for job in [*two, last]}
            self.assertEqual(len(killed), 3)
            self._assert_jobs_done(correspondence_id, killed)
            self.assertEqual(len(self._parts(correspondence_id)), total)
            self.assertFalse(
                _work_directories({job["worker_pid"] for job in [*two, last]}),
                "the temporary files of the killed prints are still there",
            )
            self._assert_no_errors_logged()
        _logger.info(
            "e2e letters: generating in parallel with 3 kills took %.1fs",
            time.monotonic() - started,
        )


@tagged("post_install", "-at_install")
class TestLetterPrintLeftovers(BaseCase):
    """What a killed print leaves in the temporary directory (the letters as
    HTML: names and addresses) is removed by the next print."""

    def test_next_print_removes_the_directories_of_dead_processes_only(self):
        process = subprocess.Popen(["true"])
        process.wait()
        own = os.getpid()
        leftover = tempfile.mkdtemp(prefix=f"serial_letters.{process.pid}.")
        Path(leftover, "letters.html").write_text("<p>Briefkontakt 0001</p>")
        running = tempfile.mkdtemp(prefix=f"serial_letters.{own}.")
        other = tempfile.mkdtemp(prefix="serial_letters_other.")
        for path in (running, other):
            self.addCleanup(shutil.rmtree, path, ignore_errors=True)
        self.addCleanup(shutil.rmtree, leftover, ignore_errors=True)

        letter_pdf._remove_stale_work_directories()

        self.assertFalse(os.path.exists(leftover), "a dead process's print")
        self.assertTrue(os.path.isdir(running), "a running process's print")
        self.assertTrue(os.path.isdir(other), "not a print directory")
