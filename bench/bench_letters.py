"""Benchmark "Serial letters": 1,000 and 10,000 letters printed to one PDF.

What it measures
----------------
A fresh database (``sc_bench_letters``, serial_correspondence without demo
data) gets the largest number of contacts asked for, each with a complete
German postal address, and a letter template (greeting with the contact's
name, three paragraphs). The company gets a letterhead (address, phone, logo).
For every size (default 1,000 and 10,000):

A. Ours, the real path. A real Odoo server (``--workers``, queue_job's job
   runner, ``--load=base,web,queue_job``). A serial letter is created over
   XML-RPC for the first N contacts; once its recipients are read,
   ``action_generate`` is called over XML-RPC and the clock runs until the
   outcome state (``created``) is reached: numbering in sort order, the chain
   of part jobs (evaluate, render, one wkhtmltopdf call per part of 200
   letters, page numbers), and the job that puts the parts together.
   Measured: seconds, letters per second, the peak RSS (psutil, sampled every
   50 ms) of the worker processes that ran the jobs (queue_job's
   ``worker_pid``), of the wkhtmltopdf processes, and of a worker together
   with its wkhtmltopdf child at the same moment. Then ``action_finalize``
   (archive + a message on each contact) is timed.
   Checked: N letters created, a PDF of N pages whose first and last pages
   show the first and last contact in sort order, no failed job, no ERROR in
   the server log.
B. Odoo's report engine, the plain way: ``ir.actions.report._render_qweb_pdf``
   of the same N letters in one call (the report "Letter" of this addon, the
   same QWeb letter template, all letters in one HTML body because unpatched
   wkhtmltopdf prints one HTML document only), inside the same server through
   a server action called over XML-RPC. After wkhtmltopdf, Odoo splits the PDF
   into one PDF per record and merges them again with PyPDF2. Measured:
   seconds (inside the server action), peak RSS of the busiest worker and of
   wkhtmltopdf. Stopped after ``--one-call-timeout`` seconds (default 600: the
   server's ``limit_time_real``).
C. wkhtmltopdf alone on the bare HTML of the same N letters in one file
   (the self-contained HTML of our letter template, made in this process),
   with the arguments our printing uses: the lower bound of any one-call
   approach. Measured: seconds, wkhtmltopdf's peak RSS. Stopped after
   ``--one-call-timeout`` seconds.
D. wkhtmltopdf alone on N simple pages (a short text per page, one file):
   the machine's reference speed (about 600 pages/s on the project's
   machines).

P. Parts in parallel, side by side: for the largest size, A again (without
   finalizing) on a fresh server per number of workers of
   ``--compare-workers`` (default 1 and 2; queue_job's channel ``root:<n>``,
   so the serial letter queues n parts at once; with 1, one part after the
   other as before). Measured: seconds, letters per second, the ratio to
   wkhtmltopdf's rate on simple pages (D, run for that size too), the peak
   RSS of the Odoo worker processes (each, and all of them at one moment).
   Checked: the document has one page per letter and every page holds its
   contact, in sort order (pdftotext of the whole document).

Goals (issue "Serial letters"): 10,000 letters complete, >= 50 letters/s,
peak memory < 1.5 GB (A). Parallel parts (issue 15): >= 200 letters/s and
>= 30 % of the simple-page rate, Odoo worker processes < 1 GB (P, with the
fastest number of workers).

The exit code is 1 when a correctness check of A fails; missed goals and
failures of the references are printed, not turned into a failure.

How to run
----------
    bench/run-bench-letters.sh [--sizes 1000,10000] [--only A,B,C,D,P] [--keep]
    # only the side-by-side comparison of parallel parts, 10,000 letters:
    bench/run-bench-letters.sh --sizes 10000 --only P --compare-workers 1,2

The wrapper finds Odoo 18.0, starts PostgreSQL and calls this script with
``--addons-path``. The database (``sc_bench_letters`` by default, ``--db``;
``bench_letpar*`` is accepted too) is dropped first and again at the end
unless ``--keep`` is given. Logs go to ``var/<db>-*.log`` (see
``common.py``).
"""

from __future__ import annotations

import argparse
import base64
import os
import subprocess
import sys
import tempfile
import time
import xmlrpc.client

import psutil
from common import (
    ADMIN_UID,
    DB_PREFIXES,
    EMAIL_DOMAIN,
    MB,
    Checks,
    Result,
    Sampler,
    db_cursor,
    error_lines,
    fmt,
    insert_contacts,
    install_database,
    load_registry,
    log,
    parser,
    print_notes,
    print_verdict,
    release_database,
    set_param,
    set_up_odoo,
    start_server,
    wait_state,
)

OUTCOME_STATES = ("created", "created_incomplete", "create_failed")
SAMPLE_INTERVAL = 0.05

GOAL_LETTERS = 10_000
GOAL_PER_SECOND = 50.0
GOAL_PEAK_MB = 1536.0
# parallel parts (P)
GOAL_PARALLEL_PER_SECOND = 200.0
GOAL_PARALLEL_SHARE = 0.30
GOAL_PARALLEL_WORKER_MB = 1024.0
# a benchmark drops its database: the names of common.DB_PREFIXES and these
EXTRA_DB_PREFIXES = ("bench_letpar",)

TEMPLATE_BODY = (
    "<p>Liebe(r) <t t-out='object.name'/>,</p>"
    "<p>wir laden Sie herzlich zu unserer Jahreshauptversammlung am 12. März "
    "ein. Die Versammlung findet im Vereinsheim statt; bitte bringen Sie Ihren "
    "Mitgliedsausweis mit.</p>"
    "<p>Auf der Tagesordnung stehen der Bericht des Vorstands, die Wahl der "
    "Kassenprüfer und die Planung des Sommerfests. Anträge können bis zum "
    "1. März schriftlich eingereicht werden.</p>"
    "<p>Wir freuen uns auf Ihr Kommen und auf anregende Gespräche.</p>"
    "<p>Mit freundlichen Grüßen</p><p>Der Vorstand</p>"
)

REFERENCE_ACTION_CODE = """
recipients = env['serial.correspondence.recipient'].search(
    [('correspondence_id', '=', record.id), ('state', '=', 'created')],
    order='letter_sequence')
start = time.time()
pdf, kind = env['ir.actions.report'].with_context(
    report_pdf_no_attachment=True)._render_qweb_pdf(
    'serial_correspondence.action_report_serial_letter', recipients.ids)
seconds = time.time() - start
attachment = env['ir.attachment'].create({
    'name': 'odoo-report-reference.pdf', 'raw': pdf})
action = {'type': 'ir.actions.act_window_close', 'infos': {
    'seconds': seconds, 'kind': kind, 'attachment_id': attachment.id,
    'letters': len(recipients)}}
"""


# ----------------------------------------------------------------------
# processes
# ----------------------------------------------------------------------


class LetterSampler(Sampler):
    """common.Sampler, and the peak of all Odoo worker processes together
    at one moment."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.peak_workers_total = 0

    def sample(self) -> None:
        super().sample()
        total = 0
        for pid in self.pids("worker"):
            try:
                total += psutil.Process(pid).memory_info().rss
            except psutil.Error:
                continue
        self.peak_workers_total = max(self.peak_workers_total, total)


def kill_leftovers(sampler: Sampler, label: str) -> None:
    """Kill the processes of ``label`` the server started that still run (a
    worker killed at its time limit leaves its wkhtmltopdf behind)."""
    for pid in sampler.pids(label):
        try:
            process = psutil.Process(pid)
            if sampler._label(process) == label:
                process.kill()
                log(f"killed leftover {label} {pid}")
        except psutil.Error:
            continue


def run_sampled(
    command: list[str], timeout: float
) -> tuple[float, int, subprocess.CompletedProcess | None]:
    """Run ``command``; return its seconds, peak RSS and result (None when it
    was killed after ``timeout`` seconds)."""
    start = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    watched = psutil.Process(process.pid)
    peak = 0
    while process.poll() is None:
        try:
            peak = max(peak, watched.memory_info().rss)
        except psutil.Error:
            pass
        if time.perf_counter() - start > timeout:
            process.kill()
            process.communicate()
            return time.perf_counter() - start, peak, None
        time.sleep(SAMPLE_INTERVAL)
    out, err = process.communicate()
    seconds = time.perf_counter() - start
    return (
        seconds,
        peak,
        subprocess.CompletedProcess(command, process.returncode, out, err),
    )


def pdf_pages(pdf_path: str) -> int:
    info = subprocess.run(["pdfinfo", pdf_path], capture_output=True, text=True)
    for line in info.stdout.splitlines():
        if line.startswith("Pages:"):
            return int(line.split()[1])
    return 0


def page_text(pdf_path: str, page: int) -> str:
    return subprocess.run(
        ["pdftotext", "-f", str(page), "-l", str(page), pdf_path, "-"],
        capture_output=True,
        text=True,
    ).stdout


# ----------------------------------------------------------------------
# the server
# ----------------------------------------------------------------------


class SingleTryTransport(xmlrpc.client.Transport):
    """Send a call once: xmlrpc.client sends it again when the connection
    drops (a worker killed at its time limit), running the reference twice."""

    def request(self, host, handler, request_body, verbose=False):
        return self.single_request(host, handler, request_body, verbose)


class Bench:
    def __init__(self, args, checks: Checks, server):
        self.args = args
        self.checks = checks
        self.server = server
        self.call = server.rpc
        self.reference_stopped = False

    def set_up_sender(self) -> int:
        germany = self.call("res.country", "search", [("code", "=", "DE")])[0]
        company = self.call("res.users", "read", [ADMIN_UID], fields=["company_id"])[0][
            "company_id"
        ][0]
        self.call(
            "res.company",
            "write",
            [company],
            {
                "name": "Musterverein e.V.",
                "street": "Vereinsweg 1",
                "zip": "12345",
                "city": "Vereinsstadt",
                "country_id": germany,
                "phone": "+49 30 123456",
                "email": "info@musterverein.example.com",
            },
        )
        model = self.call("ir.model", "search", [("model", "=", "res.partner")])[0]
        return self.call(
            "mail.template",
            "create",
            {
                "name": "Einladung (bench)",
                "model_id": model,
                "body_html": TEMPLATE_BODY,
            },
        )

    def letter_for(self, size: int, template_id: int, cr) -> int:
        cr.execute(
            "SELECT id FROM res_partner WHERE email ILIKE %s ORDER BY id LIMIT %s",
            (f"%@{EMAIL_DOMAIN}", size),
        )
        ids = [row[0] for row in cr.fetchall()]
        domain = [("email", "ilike", f"@{EMAIL_DOMAIN}"), ("id", "<=", ids[-1])]
        record = self.call(
            "serial.correspondence",
            "create",
            {
                "kind": "letter",
                "subject": f"Einladung zur Jahreshauptversammlung ({size})",
                "template_id": template_id,
                "partner_domain": repr(domain),
                "sort_order": "name",
            },
        )
        self.wait_state(cr, record, ("ready",), "reading recipients")
        return record

    def wait_state(self, cr, record: int, states, what: str) -> str:
        try:
            return wait_state(cr, record, states, self.args.timeout)
        except RuntimeError as error:
            raise RuntimeError(f"{what}: {error}") from None

    # -- A -------------------------------------------------------------------

    def run_ours(
        self,
        size: int,
        record: int,
        cr,
        label: str = "A  ours: queue_job parts",
        finalize: bool = True,
    ) -> Result:
        result = Result(label, size)
        tag = label.split(maxsplit=1)[0]
        sampler = LetterSampler(self.server.process.pid, interval=SAMPLE_INTERVAL)
        sampler.start()
        log(f"{tag} {size}: action_generate over XML-RPC")
        start = time.perf_counter()
        self.call("serial.correspondence", "action_generate", [record])
        try:
            state = self.wait_state(cr, record, OUTCOME_STATES, "generating")
        except RuntimeError as error:
            sampler.stop()
            result.failed = str(error)
            self.checks.expect(False, f"{tag} {size}: {error}")
            return result
        result.seconds = time.perf_counter() - start
        sampler.stop()
        log(f"{tag} {size}: {state} after {result.seconds:.1f} s")
        cr.execute(
            """
            SELECT count(*), array_agg(DISTINCT worker_pid),
                   coalesce(sum(exec_time), 0), coalesce(max(exec_time), 0),
                   count(*) FILTER (WHERE retry > 1),
                   count(*) FILTER (WHERE state != 'done')
              FROM queue_job
             WHERE method_name IN ('_generate_letters_part',
                                   '_assemble_letter_document')
               AND func_string LIKE %s
            """,
            (f"serial.correspondence({record},).%",),
        )
        jobs, worker_pids, exec_sum, exec_max, rerun, not_done = cr.fetchone()
        self.checks.expect(not not_done, f"{tag} {size}: {not_done} jobs not done")
        worker_pids = [pid for pid in worker_pids or [] if pid]
        result.peak_mb = sampler.peak("worker", set(worker_pids)) / MB
        # every Odoo worker process, each and all at one moment
        result.worker_peak_mb = sampler.peak("worker") / MB
        result.workers_total_mb = sampler.peak_workers_total / MB
        result.wkhtmltopdf_mb = sampler.peak("wkhtmltopdf") / MB
        result.together_mb = sampler.peak_tree(worker_pids) / MB
        [values] = self.call(
            "serial.correspondence",
            "read",
            [record],
            fields=["created_count", "document_attachment_id", "document_page_count"],
        )
        self.checks.expect(
            state == "created", f"{tag} {size}: state {state!r} (want 'created')"
        )
        self.checks.expect(
            values["created_count"] == size,
            f"{tag} {size}: {values['created_count']} letters created (want {size})",
        )
        path = self.fetch_pdf(values["document_attachment_id"][0])
        try:
            pages = pdf_pages(path)
            self.checks.expect(
                pages == size, f"{tag} {size}: the document has {pages} pages"
            )
            first, last = self.first_and_last(cr, record)
            self.checks.expect(
                first in page_text(path, 1) and last in page_text(path, pages),
                f"{tag} {size}: first page {first!r}, last page {last!r} (sort order)",
            )
            misplaced = self.pages_out_of_order(cr, record, path)
            self.checks.expect(
                not misplaced,
                f"{tag} {size}: every page holds its letter in sort order "
                f"(first misplaced: {misplaced[:3]})",
            )
            size_mb = os.path.getsize(path) / MB
        finally:
            os.unlink(path)
        cr.execute(
            "SELECT letter_part_window, letter_part_span"
            " FROM serial_correspondence WHERE id = %s",
            (record,),
        )
        result.window, span = cr.fetchone()
        result.notes.append(
            f"{jobs} jobs ({rerun} run again, time inside them {exec_sum:.1f} s, "
            f"longest {exec_max:.2f} s), "
            f"{sampler.count('wkhtmltopdf')} wkhtmltopdf calls, PDF {size_mb:.1f} MB, "
            + (
                f"parts of {span} positions, {result.window} at once"
                if span
                else "one part after the other"
            )
        )
        if not finalize:
            return result
        log(
            f"{tag} {size}: action_finalize over XML-RPC "
            f"(archive, {size} contact messages)"
        )
        start = time.perf_counter()
        self.call("serial.correspondence", "action_finalize", [record])
        finalize = time.perf_counter() - start
        cr.execute(
            "SELECT count(*) FROM serial_correspondence_recipient"
            " WHERE correspondence_id = %s AND message_id IS NOT NULL",
            (record,),
        )
        logged = cr.fetchone()[0]
        self.checks.expect(
            logged == size, f"{tag} {size}: {logged} contact messages after finalize"
        )
        result.notes.append(
            f"finalize (archive + {logged} contact messages): {finalize:.1f} s"
        )
        return result

    def first_and_last(self, cr, record: int) -> tuple[str, str]:
        cr.execute(
            """
            SELECT p.name FROM serial_correspondence_recipient r
              JOIN res_partner p ON p.id = r.partner_id
             WHERE r.correspondence_id = %s ORDER BY r.letter_sequence
            """,
            (record,),
        )
        names = [row[0] for row in cr.fetchall()]
        return names[0], names[-1]

    def pages_out_of_order(self, cr, record: int, path: str) -> list[int]:
        """The pages (1-based) that do not hold the contact of the letter at
        that position in sort order (one page per letter)."""
        cr.execute(
            """
            SELECT p.name FROM serial_correspondence_recipient r
              JOIN res_partner p ON p.id = r.partner_id
             WHERE r.correspondence_id = %s AND r.state = 'created'
             ORDER BY r.letter_sequence
            """,
            (record,),
        )
        names = [row[0] for row in cr.fetchall()]
        text = subprocess.run(
            ["pdftotext", "-enc", "UTF-8", path, "-"], capture_output=True, text=True
        ).stdout
        pages = text.split("\f")
        if pages and not pages[-1].strip():
            pages.pop()
        pairs = zip(names, pages, strict=False)
        misplaced = [
            number
            for number, (name, page) in enumerate(pairs, start=1)
            if name not in page
        ]
        if len(pages) != len(names):
            misplaced.append(min(len(pages), len(names)) + 1)
        return misplaced

    def fetch_pdf(self, attachment_id: int) -> str:
        [attachment] = self.call(
            "ir.attachment", "read", [attachment_id], fields=["datas"]
        )
        file = tempfile.NamedTemporaryFile(suffix=".pdf", delete=False)
        with file:
            file.write(base64.b64decode(attachment["datas"]))
        return file.name

    # -- B -------------------------------------------------------------------

    def run_odoo_report(self, size: int, record: int) -> Result:
        result = Result("B  Odoo report, one call", size)
        model = self.call(
            "ir.model", "search", [("model", "=", "serial.correspondence")]
        )[0]
        action = self.call(
            "ir.actions.server",
            "create",
            {
                "name": "bench: one-call report",
                "model_id": model,
                "state": "code",
                "code": REFERENCE_ACTION_CODE,
            },
        )
        sampler = Sampler(self.server.process.pid, interval=SAMPLE_INTERVAL)
        sampler.start()
        log(f"B {size}: _render_qweb_pdf of all letters in one call (server action)")
        once = xmlrpc.client.ServerProxy(
            f"{self.server.url}/xmlrpc/2/object",
            allow_none=True,
            transport=SingleTryTransport(use_builtin_types=True),
        )
        start = time.perf_counter()
        try:
            answer = once.execute_kw(
                self.args.db,
                self.server.uid,
                self.server.admin_password,
                "ir.actions.server",
                "run",
                [[action]],
                {
                    "context": {
                        "active_model": "serial.correspondence",
                        "active_id": record,
                    }
                },
            )
        except (xmlrpc.client.Error, OSError) as error:
            wall = time.perf_counter() - start
            sampler.stop()
            kill_leftovers(sampler, "wkhtmltopdf")
            if wall >= self.args.one_call_timeout - 5:
                self.reference_stopped = True
                result.failed = (
                    f"not finished after {wall:.0f} s "
                    "(worker killed at limit_time_real)"
                )
            else:
                result.failed = str(error)[-300:]
            result.peak_mb = sampler.peak("worker") / MB
            result.wkhtmltopdf_mb = sampler.peak("wkhtmltopdf") / MB
            result.notes.append(
                f"wkhtmltopdf ran {sampler.seconds('wkhtmltopdf'):.0f} s "
                f"of the {wall:.0f} s"
            )
            log(f"B {size}: failed: {result.failed}")
            return result
        wall = time.perf_counter() - start
        sampler.stop()
        infos = answer["infos"]
        result.seconds = infos["seconds"]
        result.peak_mb = sampler.peak("worker") / MB
        result.wkhtmltopdf_mb = sampler.peak("wkhtmltopdf") / MB
        workers = [
            pid for pid, label in sampler.label_by_pid.items() if label == "worker"
        ]
        result.together_mb = sampler.peak_tree(workers) / MB
        path = self.fetch_pdf(infos["attachment_id"])
        try:
            pages = pdf_pages(path)
        finally:
            os.unlink(path)
        result.notes.append(
            f"{infos['letters']} letters -> {pages} pages ({infos['kind']}), "
            f"call {wall:.1f} s wall, of which wkhtmltopdf "
            f"{sampler.seconds('wkhtmltopdf'):.1f} s"
        )
        if pages != size:
            result.notes.append(f"WARNING: {pages} pages for {size} letters")
        return result


# ----------------------------------------------------------------------
# C and D: wkhtmltopdf alone
# ----------------------------------------------------------------------


def letters_html(registry, record: int) -> str:
    from odoo import api

    with registry.cursor() as cr:
        env = api.Environment(cr, ADMIN_UID, {})
        correspondence = env["serial.correspondence"].browse(record)
        recipients = env["serial.correspondence.recipient"].search(
            [("correspondence_id", "=", record), ("state", "=", "created")],
            order="letter_sequence",
        )
        html = correspondence._letters_html(recipients)
        cr.rollback()
    return str(html)


def wkhtmltopdf_alone(method: str, size: int, html: str, timeout: float) -> Result:
    from odoo.addons.serial_correspondence.models import serial_correspondence_letter
    from odoo.addons.serial_correspondence.tools import letter_pdf

    result = Result(method, size)
    top, right, bottom, left = serial_correspondence_letter.LETTER_MARGINS_MM
    with tempfile.TemporaryDirectory(prefix="sc_bench_letters.") as directory:
        source = os.path.join(directory, "letters.html")
        target = os.path.join(directory, "letters.pdf")
        with open(source, "w", encoding="utf-8") as file:
            file.write(html)
        command = [
            letter_pdf._get_wkhtmltopdf_bin(),
            "--quiet",
            "--encoding",
            "utf-8",
            "--disable-javascript",
            "--page-size",
            "A4",
            *("--margin-top", f"{top}mm", "--margin-right", f"{right}mm"),
            *("--margin-bottom", f"{bottom}mm", "--margin-left", f"{left}mm"),
            source,
            target,
        ]
        log(
            f"{method.split(maxsplit=1)[0]} {size}: "
            f"wkhtmltopdf on {len(html) / MB:.0f} MB of HTML"
        )
        seconds, peak, process = run_sampled(command, timeout)
        if process is None:
            result.failed = f"not finished after {seconds:.0f} s, stopped"
            result.wkhtmltopdf_mb = peak / MB
            return result
        if process.returncode not in (0, 1) or not os.path.exists(target):
            result.failed = f"exit {process.returncode}: {process.stderr[-300:]!r}"
            return result
        pages = pdf_pages(target)
        result.seconds = seconds
        result.wkhtmltopdf_mb = peak / MB
        result.notes.append(f"{pages} pages, HTML {len(html) / MB:.1f} MB")
    return result


def simple_pages_html(size: int) -> str:
    pages = "".join(
        f'<div style="page-break-before: {"always" if n > 1 else "auto"}">'
        f"Page {n}: a simple page of text.</div>"
        for n in range(1, size + 1)
    )
    head = '<!DOCTYPE html><html><head><meta charset="utf-8"></head>'
    return f"{head}<body>{pages}</body></html>"


# ----------------------------------------------------------------------
# P: parallel parts, side by side
# ----------------------------------------------------------------------


def compare_workers(args, database, checks: Checks, cr, size: int) -> list[Result]:
    """``size`` letters generated on a fresh server per number of workers
    of ``--compare-workers`` (queue_job's channel ``root:<n>``)."""
    results = []
    for workers in args.compare_workers:
        run_args = argparse.Namespace(**vars(args))
        run_args.workers = workers
        server = start_server(run_args, database, label=f"p{workers}")
        try:
            bench = Bench(run_args, checks, server)
            template = bench.set_up_sender()
            record = bench.letter_for(size, template, cr)
            result = bench.run_ours(
                size,
                record,
                cr,
                label=f"P  ours, {workers} worker{'s' if workers > 1 else ''}",
                finalize=False,
            )
            result.workers = workers
            results.append(result)
            errors = error_lines(server)
            checks.expect(
                not errors, f"P {workers} workers: no ERROR in the log ({errors[:1]})"
            )
        finally:
            server.stop()
    return results


def print_comparison(args, compared: list[Result], simple: Result | None) -> None:
    if not compared:
        return
    size = compared[0].count
    simple_rate = simple.per_second if simple and not simple.failed else None
    print()
    print(
        f"== parallel parts, side by side: {size:,} letters, {os.cpu_count()} CPUs, "
        f"parts of {args.part_size} letters; simple pages (D): "
        + (f"{simple_rate:.0f} pages/s" if simple_rate else "not measured")
    )
    print(
        f"{'workers':>7} {'parts at once':>13} {'seconds':>8} {'letters/s':>10} "
        f"{'of simple':>10} {'worker MB':>10} {'workers MB':>11} {'+wkhtml MB':>11}"
    )
    for result in compared:
        share = (
            result.per_second / simple_rate
            if simple_rate and result.per_second
            else None
        )
        print(
            f"{result.workers:>7} {getattr(result, 'window', None) or '-':>13} "
            f"{fmt(result.seconds, '8.1f')} {fmt(result.per_second, '10.0f')} "
            f"{fmt(share and share * 100, '9.0f')}% "
            f"{fmt(getattr(result, 'worker_peak_mb', None), '10.0f')} "
            f"{fmt(getattr(result, 'workers_total_mb', None), '11.0f')} "
            f"{fmt(result.together_mb, '11.0f')}"
            + (f"  FAILED: {result.failed}" if result.failed else "")
        )
    print_notes(
        compared, lambda r: f"P {r.workers} worker{'s' if r.workers > 1 else ''}"
    )
    print(
        "  (worker MB: peak RSS of the largest Odoo worker process; workers MB: "
        "of all Odoo worker processes at one moment; +wkhtml: a job's worker "
        "with its wkhtmltopdf child)"
    )
    done = [r for r in compared if not r.failed and r.per_second]
    if not done:
        return
    base = next((r for r in done if r.workers == 1), None)
    best = max(done, key=lambda r: r.per_second)
    print(
        f"fastest: {best.workers} worker{'s' if best.workers > 1 else ''}, "
        f"{best.per_second:.0f} letters/s"
        + (f" ({best.per_second / base.per_second:.2f}x 1 worker)" if base else "")
    )
    share = best.per_second / simple_rate if simple_rate else 0.0
    worker_mb = getattr(best, "worker_peak_mb", None) or 0.0
    print_verdict(
        [
            (
                best.per_second >= GOAL_PARALLEL_PER_SECOND,
                f"{best.per_second:.0f} letters/s >= {GOAL_PARALLEL_PER_SECOND:.0f}",
            ),
            (
                share >= GOAL_PARALLEL_SHARE,
                f"{share * 100:.0f} % of the simple-page rate >= "
                f"{GOAL_PARALLEL_SHARE * 100:.0f} %",
            ),
            (
                worker_mb < GOAL_PARALLEL_WORKER_MB,
                f"Odoo worker peak {worker_mb:.0f} MB < "
                f"{GOAL_PARALLEL_WORKER_MB:.0f} MB",
            ),
        ]
    )


# ----------------------------------------------------------------------
# report
# ----------------------------------------------------------------------


def print_report(args, results: list[Result]) -> None:
    print()
    print(
        f"== serial letters printed to one PDF (--workers={args.workers}, "
        f"{os.cpu_count()} CPUs, parts of {args.part_size} letters)"
    )
    print(
        f"{'method':<34} {'letters':>8} {'seconds':>9} {'letters/s':>10} "
        f"{'worker MB':>10} {'wkhtml MB':>10} {'both MB':>9}"
    )
    for result in results:
        print(
            f"{result.method:<34} {result.count:>8,} {fmt(result.seconds, '9.1f')} "
            f"{fmt(result.per_second, '10.0f')} {fmt(result.peak_mb, '10.0f')} "
            f"{fmt(result.wkhtmltopdf_mb, '10.0f')} {fmt(result.together_mb, '9.0f')}"
            + (f"  FAILED: {result.failed}" if result.failed else "")
        )
    print_notes(results, lambda r: f"{r.method.split()[0]} {r.count:,}")
    print(
        "  (worker MB: peak RSS of the worker(s) that ran the jobs or the call; "
        "wkhtml MB: "
        "of a wkhtmltopdf process; both: a worker with its wkhtmltopdf child at once)"
    )
    ours = [
        r for r in results if r.method.startswith("A") and r.count == max(args.sizes)
    ]
    if ours:
        big = ours[0]
        peak = max(big.peak_mb or 0, big.together_mb or 0, big.wkhtmltopdf_mb or 0)
        verdicts = [
            (
                not big.failed and big.count >= GOAL_LETTERS,
                f"{big.count:,} letters complete",
            ),
            (
                (big.per_second or 0) >= GOAL_PER_SECOND,
                f"{fmt(big.per_second, '.0f')} letters/s >= {GOAL_PER_SECOND:.0f}",
            ),
            (peak < GOAL_PEAK_MB, f"peak {peak:.0f} MB < {GOAL_PEAK_MB:.0f} MB"),
        ]
        print_verdict(verdicts)


# ----------------------------------------------------------------------
# main
# ----------------------------------------------------------------------


def run_references(args, database, checks: Checks, cr, records, results) -> None:
    """A and B on one server (``--workers``), for every size."""
    # wkhtmltopdf of the one-call reference loads Odoo's report assets
    # from this server
    set_param(cr, "report.url", f"http://127.0.0.1:{args.port}")
    # room for the one-call reference: generous time and memory limits
    # (Odoo's defaults would kill it)
    server = start_server(
        args,
        database,
        options={
            # the one-call reference gets this long, then its worker is killed
            "limit_time_real": int(args.one_call_timeout),
            "limit_time_cpu": 24 * 3600,
            "limit_memory_soft": 8 * 1024**3,
            "limit_memory_hard": 12 * 1024**3,
        },
    )
    bench = Bench(args, checks, server)
    try:
        template = bench.set_up_sender()
        for size in args.sizes:
            records[size] = bench.letter_for(size, template, cr)
            if "A" in args.only or "B" in args.only:
                ours = bench.run_ours(size, records[size], cr)
                if "A" in args.only:
                    results.append(ours)
            if "B" in args.only:
                results.append(bench.run_odoo_report(size, records[size]))
        # the worker of a one-call reference stopped at its time limit
        # logs "WorkerHTTP (...) timeout after ...s": expected
        errors = [
            line
            for line in error_lines(server)
            if not (bench.reference_stopped and "timeout after" in line)
        ]
        checks.expect(not errors, f"no ERROR in the server log ({errors[:1]})")
    finally:
        server.stop()


def main(argv=None) -> int:
    options = parser(__doc__, "sc_bench_letters", 8389, timeout=1800.0)
    options.add_argument(
        "--sizes",
        default="1000,10000",
        type=lambda v: [int(x) for x in v.split(",")],
        help="numbers of letters",
    )
    options.add_argument(
        "--only",
        default="A,B,C,D,P",
        type=lambda v: set(v.split(",")),
        help="which of A, B, C, D, P",
    )
    options.add_argument(
        "--compare-workers",
        default="1,2",
        type=lambda v: [int(x) for x in v.split(",")],
        help="P: the numbers of Odoo workers (and jobs at once) compared",
    )
    options.add_argument(
        "--part-size", type=int, default=200, help="letters per part job"
    )
    options.add_argument(
        "--one-call-timeout",
        type=float,
        default=600.0,
        help="seconds B and C may take before they are stopped",
    )
    args = options.parse_args(argv)
    if not args.db.startswith((*DB_PREFIXES, *EXTRA_DB_PREFIXES)):
        options.error(
            f"--db must start with {' or '.join((*DB_PREFIXES, *EXTRA_DB_PREFIXES))}"
            " (it is dropped)"
        )
    set_up_odoo(args)
    checks = Checks()
    results: list[Result] = []
    database = registry = None
    try:
        database = install_database(args)
        log(f"inserting {max(args.sizes):,} contacts (SQL, not measured)")
        cr = db_cursor(args)
        insert_contacts(cr, max(args.sizes))
        set_param(cr, "serial_correspondence.letter_part_size", args.part_size)
        records = {}
        if {"A", "B", "C"} & args.only:
            run_references(args, database, checks, cr, records, results)
        compared = []
        if "P" in args.only:
            compared = compare_workers(args, database, checks, cr, max(args.sizes))
        cr.connection.close()
        if "C" in args.only:
            log("loading the registry in this process (HTML for C)")
            registry = load_registry(args)
        for size in args.sizes:
            if "C" in args.only:
                html = letters_html(registry, records[size])
                results.append(
                    wkhtmltopdf_alone(
                        "C  wkhtmltopdf, same HTML, 1 call",
                        size,
                        html,
                        args.one_call_timeout,
                    )
                )
                del html
            # P compares with the simple pages of its size
            if "D" in args.only or ("P" in args.only and size == max(args.sizes)):
                results.append(
                    wkhtmltopdf_alone(
                        "D  wkhtmltopdf, simple pages",
                        size,
                        simple_pages_html(size),
                        args.one_call_timeout,
                    )
                )
    finally:
        release_database(args, database, registry)

    results.sort(key=lambda r: (r.count, r.method))
    if {"A", "B", "C", "D"} & args.only:
        print_report(args, results)
    simple = next(
        (r for r in results if r.method.startswith("D") and r.count == max(args.sizes)),
        None,
    )
    print_comparison(args, compared, simple)
    return checks.exit_code()


if __name__ == "__main__":
    sys.exit(main())
