# Copyright 2026 serial_correspondence authors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
""" "Select all" in the Contacts list, beyond the web client's 20,000 ids.

The web client, when the user selects the whole list, sends the first
``web.active_ids_limit`` (20,000) ids of the list and the list's filter
(``active_domain``) to the action. The correspondence must take every
contact of the filter, never silently the first 20,000.
"""

from odoo.tests import HttpCase, new_test_user, tagged

from .common import SerialCorrespondenceCase

CONTACTS = 25_000
TOWN = "Großstadt"


@tagged("post_install", "-at_install")
class TestSelectAllBeyondTheClientLimit(HttpCase):
    queued_jobs = SerialCorrespondenceCase.queued_jobs
    perform_job = SerialCorrespondenceCase.perform_job
    run_jobs = SerialCorrespondenceCase.run_jobs

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.user = new_test_user(
            cls.env,
            login="sc_select_all",
            password="sc_select_all",
            groups="base.group_user,serial_correspondence.group_serial_correspondence_user",
        )
        # 25,000 contacts in one statement (the ORM would take minutes)
        cls.env.cr.execute(
            """
            INSERT INTO res_partner
                (name, complete_name, email, city, active, type, lang,
                 email_advertising_consent, letter_advertising_consent,
                 create_date, write_date)
            SELECT 'Kontakt ' || n, 'Kontakt ' || n, 'k' || n || '@example.com',
                   %s, TRUE, 'contact', 'en_US', 'unknown', 'unknown',
                   now() AT TIME ZONE 'UTC', now() AT TIME ZONE 'UTC'
              FROM generate_series(1, %s) AS n
            """,
            [TOWN, CONTACTS],
        )
        cls.env["res.partner"].invalidate_model()

    def _run_action_as_the_list_does(self, xmlid, domain, selected_ids):
        """What the list's action menu sends (``action_menus.js``)."""
        self.authenticate("sc_select_all", "sc_select_all")
        action = self.env.ref(xmlid)
        return self.make_jsonrpc_request(
            "/web/action/run",
            {
                "action_id": action.id,
                "context": {
                    "lang": "en_US",
                    "active_id": selected_ids[0],
                    "active_ids": selected_ids,
                    "active_model": "res.partner",
                    "active_domain": domain,
                },
            },
        )

    def test_select_all_of_25000_contacts_reads_every_one(self):
        domain = [["city", "=", TOWN]]
        Partner = self.env["res.partner"].with_user(self.user)
        self.assertEqual(Partner.search_count(domain), CONTACTS)
        # the client's cut: the first 20,000 ids of the list, in list order
        first = Partner.search(domain, limit=20_000).ids
        result = self._run_action_as_the_list_does(
            "serial_correspondence.res_partner_action_create_serial_email",
            domain,
            first,
        )
        record = self.env["serial.correspondence"].browse(result["res_id"])
        self.assertEqual(record.partner_domain, repr(domain))
        self.assertEqual(record.import_total, CONTACTS)
        self.run_jobs(record)
        self.assertEqual(record.state, "ready")
        self.assertEqual(record.recipient_count, CONTACTS)

    def test_a_few_selected_contacts_of_a_large_list_stay_those(self):
        domain = [["city", "=", TOWN]]
        chosen = self.env["res.partner"].search(domain, limit=3).ids
        result = self._run_action_as_the_list_does(
            "serial_correspondence.res_partner_action_create_serial_letter",
            domain,
            chosen,
        )
        record = self.env["serial.correspondence"].browse(result["res_id"])
        self.run_jobs(record)
        self.assertEqual(sorted(record.recipient_ids.partner_id.ids), sorted(chosen))
