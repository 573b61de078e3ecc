# Copyright 2026 serial_correspondence authors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""Serial letters seen from outside: integrators over XML-RPC, and Odoo's own
report engine (which needs the HTTP server for its assets)."""

import xmlrpc.client

from odoo.tests import HttpCase, new_test_user, tagged

from .common import SerialCorrespondenceCase
from .letter_common import LetterDataMixin, pdf_text


@tagged("post_install", "-at_install")
class TestLettersRpc(LetterDataMixin, HttpCase):
    # the job helpers of the other tests (real queue_job, jobs performed the
    # way its runner does)
    queued_jobs = SerialCorrespondenceCase.queued_jobs
    perform_job = SerialCorrespondenceCase.perform_job
    run_jobs = SerialCorrespondenceCase.run_jobs
    create_correspondence = SerialCorrespondenceCase.create_correspondence

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.env = cls.env(context=dict(cls.env.context, tracking_disable=True))
        cls.login = "sc_letters_rpc"
        cls.user = new_test_user(
            cls.env,
            login=cls.login,
            name="Rita RPC",
            groups="base.group_user,serial_correspondence.group_serial_correspondence_user",
        )
        cls.Correspondence = cls.env["serial.correspondence"]
        cls.town = "Briefstadt"
        cls.setup_letter_data()

    def rpc(self, login, model, method, *args, **kwargs):
        uid = self.env["res.users"].search([("login", "=", login)]).id
        return self.xmlrpc_object.execute_kw(
            self.env.cr.dbname, uid, login, model, method, list(args), kwargs
        )

    def test_finalized_letter_and_archive_refuse_changes_over_rpc(self):
        record = self.generate(self.letter(self.printable))
        self.assertEqual(record.state, "created")
        self.rpc(self.login, "serial.correspondence", "action_finalize", [record.id])
        [values] = self.rpc(
            self.login,
            "serial.correspondence",
            "read",
            [record.id],
            fields=["state", "document_attachment_id", "document_checksum"],
        )
        self.assertEqual(values["state"], "done")
        document_id = values["document_attachment_id"][0]
        recipient_id = self.recipient(record, self.anna).id
        self.env["res.users"].browse(2).password = "admin"
        attempts = [
            (
                self.login,
                "serial.correspondence",
                "write",
                [[record.id], {"subject": "Neu"}],
                "finalized",
            ),
            (self.login, "serial.correspondence", "unlink", [[record.id]], "finalized"),
            (
                self.login,
                "serial.correspondence",
                "action_generate",
                [[record.id]],
                "cannot generate",
            ),
            (
                self.login,
                "serial.correspondence.recipient",
                "write",
                [[recipient_id], {"letter_body": "<p>Gefälscht</p>"}],
                "finalized",
            ),
            (
                self.login,
                "serial.correspondence.recipient",
                "unlink",
                [[recipient_id]],
                "finalized",
            ),
            (
                self.login,
                "ir.attachment",
                "write",
                [[document_id], {"name": "x.pdf"}],
                "archived",
            ),
            (
                self.login,
                "ir.attachment",
                "write",
                [[document_id], {"datas": "JVBERi0xLjQgZm9yZ2Vk"}],
                "archived",
            ),
            (self.login, "ir.attachment", "unlink", [[document_id]], "archived"),
            # not even an administrator
            ("admin", "ir.attachment", "unlink", [[document_id]], "archived"),
            (
                "admin",
                "ir.attachment",
                "write",
                [[document_id], {"serial_correspondence_archived": False}],
                "Only finalizing",
            ),
        ]
        for login, model, method, args, message in attempts:
            with self.subTest(login=login, model=model, method=method, args=args):
                with self.assertRaisesRegex(xmlrpc.client.Fault, message):
                    self.rpc(login, model, method, *args)
        # still there, unchanged, and readable
        [document] = self.rpc(
            self.login, "ir.attachment", "read", [document_id], fields=["name", "datas"]
        )
        self.assertTrue(document["datas"])
        self.assertTrue(record._verify_archived_document())
        self.assertEqual(record.subject, "Einladung zur Versammlung")

    def test_integrator_generates_letters_over_rpc(self):
        record = self.letter(self.anna | self.no_street, sort_order="zip")
        self.rpc(self.login, "serial.correspondence", "action_generate", [record.id])
        self.assertEqual(record.state, "in_progress")
        self.run_jobs(record)
        [values] = self.rpc(
            self.login,
            "serial.correspondence",
            "read",
            [record.id],
            fields=["state", "document_attachment_id", "created_count", "error_count"],
        )
        self.assertEqual(values["state"], "create_failed")
        self.assertEqual((values["created_count"], values["error_count"]), (1, 1))
        recipients = self.rpc(
            self.login,
            "serial.correspondence.recipient",
            "search_read",
            [("correspondence_id", "=", record.id)],
            fields=["partner_id", "state", "reason"],
        )
        reasons = {r["partner_id"][1]: (r["state"], r["reason"]) for r in recipients}
        self.assertEqual(reasons["Anna Zimmermann"], ("created", False))
        self.assertEqual(reasons["Hans Ohnestraße"][0], "error")
        self.assertIn("street", reasons["Hans Ohnestraße"][1])

    def test_print_letters_through_odoo_report_engine(self):
        record = self.generate(self.letter(self.anna | self.clara))
        report = self.env.ref("serial_correspondence.action_report_serial_letter")
        pdf, report_type = (
            self.env["ir.actions.report"]
            .with_context(force_report_rendering=True)
            ._render_qweb_pdf(report, record.recipient_ids.ids)
        )
        self.assertEqual(report_type, "pdf")
        text = pdf_text(pdf)
        self.assertIn("Anna Zimmermann", text)
        self.assertIn("Clara Müller", text)
        self.assertIn("wir laden Sie herzlich", text)
