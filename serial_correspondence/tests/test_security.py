# Copyright 2026 serial_correspondence authors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
from odoo.exceptions import AccessError, UserError
from odoo.tests import new_test_user, tagged

from .common import SerialCorrespondenceCase


@tagged("post_install", "-at_install")
class TestSecurity(SerialCorrespondenceCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.colleague = new_test_user(
            cls.env,
            login="sc_colleague",
            name="Kai Kollege",
            groups="base.group_user,serial_correspondence.group_serial_correspondence_user",
        )
        cls.company_2 = cls.env["res.company"].create({"name": "Zweigstelle GmbH"})
        cls.manager_company_1 = new_test_user(
            cls.env,
            login="sc_manager_c1",
            name="Mia Manager",
            groups="base.group_user,serial_correspondence.group_serial_correspondence_manager",
        )
        cls.user_company_2 = new_test_user(
            cls.env,
            login="sc_user_c2",
            name="Zoe Zweig",
            company_id=cls.company_2.id,
            company_ids=[(6, 0, cls.company_2.ids)],
            groups="base.group_user,serial_correspondence.group_serial_correspondence_user",
        )

    def test_user_does_not_see_other_users_correspondence(self):
        record = self.create_correspondence()
        self.run_jobs()
        as_colleague = self.Correspondence.with_user(self.colleague)
        self.assertFalse(as_colleague.search([("id", "=", record.id)]))
        with self.assertRaises(AccessError):
            as_colleague.browse(record.id).read(["subject"])
        recipients = self.env["serial.correspondence.recipient"].with_user(
            self.colleague
        )
        self.assertFalse(recipients.search([("correspondence_id", "=", record.id)]))

    def test_shared_correspondence_is_visible_and_editable(self):
        record = self.create_correspondence()
        record.shared_user_ids = self.colleague
        self.run_jobs()
        as_colleague = self.Correspondence.with_user(self.colleague).browse(record.id)
        self.assertEqual(as_colleague.recipient_count, len(self.partners))
        as_colleague.subject = "Gemeinsam geschrieben"
        self.assertEqual(record.subject, "Gemeinsam geschrieben")

    def test_manager_sees_every_correspondence_of_the_company(self):
        record = self.create_correspondence()
        self.run_jobs()
        found = self.Correspondence.with_user(self.manager).search(
            [("id", "=", record.id)]
        )
        self.assertEqual(found, record)
        recipients = self.env["serial.correspondence.recipient"].with_user(self.manager)
        self.assertEqual(
            recipients.search_count([("correspondence_id", "=", record.id)]), 12
        )

    def test_companies_do_not_see_each_other(self):
        own = self.create_correspondence()
        other = self.create_correspondence(user=self.user_company_2)
        self.assertEqual(other.company_id, self.company_2)
        self.run_jobs()
        manager = self.Correspondence.with_user(self.manager_company_1)
        self.assertEqual(manager.search([("id", "in", (own | other).ids)]), own)
        with self.assertRaises(AccessError):
            manager.browse(other.id).read(["subject"])
        zoe = self.Correspondence.with_user(self.user_company_2)
        self.assertEqual(zoe.search([("id", "in", (own | other).ids)]), other)

    def test_user_without_group_has_no_access(self):
        outsider = new_test_user(
            self.env, login="sc_outsider", groups="base.group_user"
        )
        with self.assertRaises(AccessError):
            self.Correspondence.with_user(outsider).search([])

    def test_processing_correspondence_refuses_every_change(self):
        record = self.create_correspondence(kind="letter")
        self.run_jobs()
        record._apply_event("generate")
        self.assertEqual(record.state, "in_progress")
        recipient = record.recipient_ids[0]
        tag = self.env["serial.correspondence.tag"].create({"name": "Neu"})
        as_user = record.with_user(self.user)
        attempts = {
            "subject": lambda: as_user.write({"subject": "Geändert"}),
            "tag": lambda: as_user.write({"tag_ids": [(4, tag.id)]}),
            "delete": lambda: as_user.unlink(),
            "recipient": lambda: recipient.with_user(self.user).unlink(),
            "new recipient": lambda: (
                self.env["serial.correspondence.recipient"]
                .with_user(self.user)
                .create(
                    {
                        "correspondence_id": record.id,
                        "partner_id": self.user.partner_id.id,
                    }
                )
            ),
        }
        for name, attempt in attempts.items():
            with (
                self.subTest(change=name),
                self.assertRaisesRegex(UserError, "being processed"),
            ):
                attempt()
        self.assertFalse(record.subject)
        self.assertEqual(record.recipient_count, len(self.partners))
        # the chatter stays usable
        as_user.message_post(body="Bitte warten")
