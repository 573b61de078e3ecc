# Copyright 2026 serial_correspondence authors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""What a new user runs into (issue #10), on the server side: names, counts,
notifications, and the checks that come before any question. The screens
themselves are tested in the browser (``test_ui.py``)."""

import json

from lxml import etree

from odoo.exceptions import UserError
from odoo.tests import tagged

from .common import SerialCorrespondenceCase
from .letter_common import LetterDataMixin


@tagged("post_install", "-at_install")
class TestFirstUse(LetterDataMixin, SerialCorrespondenceCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.setup_letter_data()
        cls.board = cls.env["res.partner.category"].create({"name": "Vorstand"})
        cls.partners[:3].category_id = cls.board

    def _inbox_notifications(self, record):
        return self.env["mail.notification"].search(
            [
                ("res_partner_id", "=", self.user.partner_id.id),
                ("mail_message_id.model", "=", "serial.correspondence"),
                ("mail_message_id.res_id", "=", record.id),
            ]
        )

    def _toasts(self):
        self.env.cr.precommit.run()
        return [
            message["payload"]
            for message in (
                json.loads(row.message)
                for row in self.env["bus.bus"].sudo().search([], order="id")
            )
            if message["type"] == "serial_correspondence/import_done"
        ]

    # -- a new correspondence ------------------------------------------------

    def test_an_unsaved_correspondence_is_new_not_numbered(self):
        Correspondence = self.Correspondence.with_user(self.user)
        self.assertEqual(
            Correspondence.new({"kind": "letter"}).display_name, "New serial letter"
        )
        self.assertEqual(
            Correspondence.new({"kind": "email"}).display_name, "New serial e-mail"
        )
        self.assertEqual(
            Correspondence.new(
                {"kind": "email", "subject": "Rundschreiben"}
            ).display_name,
            "Rundschreiben",
        )
        saved = self.create_correspondence(kind="letter")
        self.assertEqual(saved.display_name, f"Serial letter #{saved.id}")
        # while a saved one is edited (onchange), it keeps its number
        self.assertEqual(
            saved.with_user(self.user).new(origin=saved).display_name,
            f"Serial letter #{saved.id}",
        )

    def test_selected_contacts_are_the_filter_and_the_tags_together(self):
        Correspondence = self.Correspondence.with_user(self.user)
        town = repr([("city", "=", self.town)])
        # being edited: filter alone, tags alone, both
        draft = Correspondence.new({"partner_domain": town})
        self.assertEqual(draft.selected_partner_count, 12)
        draft = Correspondence.new({"partner_category_ids": [(6, 0, self.board.ids)]})
        self.assertEqual(draft.selected_partner_count, 3)
        draft = Correspondence.new(
            {"partner_domain": "[]", "partner_category_ids": [(6, 0, self.board.ids)]}
        )
        self.assertEqual(draft.selected_partner_count, 3, "not 'all records'")
        draft = Correspondence.new(
            {
                "partner_domain": repr([("zip", "in", ["10000", "10001", "10005"])]),
                "partner_category_ids": [(6, 0, self.board.ids)],
            }
        )
        self.assertEqual(draft.selected_partner_count, 2)
        # nothing chosen, or a filter that is not valid (yet): nobody
        self.assertEqual(Correspondence.new({}).selected_partner_count, 0)
        self.assertEqual(
            Correspondence.new(
                {"partner_domain": "[('no_such_field', '=', 1)]"}
            ).selected_partner_count,
            0,
        )
        # saved: what the recipients were read from
        record = self.create_correspondence(
            partner_domain="[]", partner_category_ids=[(6, 0, self.board.ids)]
        )
        self.run_jobs(record)
        self.assertEqual(record.selected_partner_count, 3)
        self.assertEqual(record.recipient_count, 3)

    def test_selected_contacts_are_counted_with_the_users_rights(self):
        other_company = self.env["res.company"].create({"name": "Andere Firma"})
        hidden = self.Partner.create(
            {
                "name": "Fremder Kontakt",
                "city": self.town,
                "company_id": other_company.id,
                "category_id": [(4, self.board.id)],
            }
        )
        self.assertFalse(hidden.with_user(self.user).has_access("read"))
        record = self.create_correspondence(
            partner_category_ids=[(6, 0, self.board.ids)]
        )
        self.assertEqual(record.with_user(self.user).selected_partner_count, 3)
        record.shared_user_ids = self.manager
        self.manager.company_ids |= other_company
        self.assertEqual(
            record.with_user(self.manager)
            .with_context(allowed_company_ids=self.manager.company_ids.ids)
            .selected_partner_count,
            4,
        )

    def test_counters_are_labelled_in_words(self):
        fields = self.Correspondence._fields
        labels = {
            name: fields[name].string
            for name in (
                "recipient_count",
                "pending_count",
                "created_count",
                "sent_count",
                "excluded_count",
                "error_count",
            )
        }
        self.assertEqual(
            labels,
            {
                "recipient_count": "Number of recipients",
                "pending_count": "Pending",
                "created_count": "Created",
                "sent_count": "Sent",
                "excluded_count": "Excluded",
                "error_count": "Errors",
            },
        )

    # -- recipients read: one notification, in the inbox -----------------------

    def test_recipients_read_is_an_inbox_notification_not_a_post_from_odoobot(self):
        record = self.create_correspondence(subject="Jahresbericht")
        self.run_jobs(record)
        notification = self._inbox_notifications(record)
        self.assertEqual(len(notification), 1)
        self.assertEqual(notification.notification_type, "inbox")
        message = notification.mail_message_id
        # a notification to the creator: neither in the chatter nor in a chat
        self.assertEqual(message.message_type, "user_notification")
        self.assertNotIn(message, record.message_ids)
        self.assertFalse(
            self.env["mail.message"].search(
                [("model", "=", "discuss.channel"), ("body", "ilike", "Jahresbericht")]
            )
        )
        self.assertIn(f'data-oe-id="{record.id}"', message.body)
        self.assertIn("All 12 recipients of", message.body)

    def test_one_recipient_read_is_told_in_the_singular(self):
        self.env["bus.bus"].sudo().search([]).unlink()
        record = self.create_correspondence(
            subject="Einzelbrief",
            partner_domain=repr([("id", "=", self.partners[0].id)]),
        )
        job = self.queued_jobs(record)
        self.perform_job(job)
        self.assertEqual(job.result, "1 recipient read.")
        body = self._inbox_notifications(record).mail_message_id.body
        self.assertIn("1 recipient of", body)
        self.assertIn("has been read. It is ready.", body)
        self.assertNotIn("recipients", body)
        [toast] = self._toasts()
        self.assertEqual(toast["message"], "1 recipient of Einzelbrief has been read.")

    # -- starting: the checks first, then the question -------------------------

    def test_send_checks_everything_before_asking(self):
        record = self.create_correspondence(kind="email")
        self.run_jobs(record)
        as_user = record.with_user(self.user)
        with self.assertRaisesRegex(UserError, "a subject and a template"):
            as_user.action_confirm_send()
        self.assertEqual(record.state, "ready")
        self.assertFalse(self.queued_jobs(record))

        record.write(
            {"subject": "Rundschreiben", "template_id": self.letter_template.id}
        )
        action = as_user.action_confirm_send()
        # only asks: nothing started yet
        self.assertEqual(action["tag"], "serial_correspondence_confirm")
        self.assertEqual(
            (action["params"]["res_id"], action["params"]["method"]),
            (record.id, "action_send"),
        )
        self.assertIn("Send this serial e-mail now", action["params"]["body"])
        self.assertEqual(record.state, "ready")
        self.assertFalse(self.queued_jobs(record))
        # letters are not sent
        letter = self.letter(self.anna)
        with self.assertRaisesRegex(UserError, "cannot be sent"):
            letter.with_user(self.user).action_confirm_send()

    def test_generate_asks_only_when_edited_letters_would_be_lost(self):
        record = self.letter(self.anna, subject=False, template_id=False)
        as_user = record.with_user(self.user)
        with self.assertRaisesRegex(UserError, "a subject and a template"):
            as_user.action_confirm_generate()
        self.assertFalse(self.queued_jobs(record))

        # nothing edited: generates at once, no question
        record.write({"subject": "Einladung", "template_id": self.letter_template.id})
        self.assertIs(as_user.action_confirm_generate(), True)
        self.assertEqual(record.state, "in_progress")
        self.run_jobs(record)
        self.assertEqual(record.state, "created")
        # one letter, one page: in the singular
        self.assertIn(
            "Generated: 1 letter created, 0 recipients excluded, 0 with errors "
            "(1 page).",
            record.message_ids[0].body,
        )

        # an edited letter would be lost: asks first
        self.recipient(record, self.anna).with_user(
            self.user
        ).letter_body = "<p>Geändert</p>"
        action = as_user.action_confirm_generate()
        self.assertEqual(action["tag"], "serial_correspondence_confirm")
        self.assertEqual(action["params"]["method"], "action_generate")
        self.assertIn(
            "changes you made to single letters are lost", action["params"]["body"]
        )
        self.assertEqual(record.state, "created")
        self.assertFalse(self.queued_jobs(record))

    # -- a locked correspondence -----------------------------------------------

    def test_recipients_of_a_locked_correspondence_open_without_delete(self):
        record = self.create_correspondence(
            kind="email", subject="Rundschreiben", template_id=self.letter_template.id
        )
        self.run_jobs(record)
        Recipient = self.env["serial.correspondence.recipient"].with_user(self.user)

        def delete_allowed(action):
            views = Recipient.get_views(action["views"])["views"]
            return {
                view_type: etree.fromstring(views[view_type]["arch"]).get("delete")
                not in ("0", "false", "False")
                for view_type in ("list", "form")
            }

        as_user = record.with_user(self.user)
        self.assertEqual(
            delete_allowed(as_user.action_view_recipients()),
            {"list": True, "form": True},
        )
        as_user.action_send()
        self.assertEqual(record.state, "in_progress")
        self.assertEqual(
            delete_allowed(as_user.action_view_recipients()),
            {"list": False, "form": False},
        )

    # -- letters or labels ------------------------------------------------------

    def test_switching_to_labels_asks_before_the_letters_are_replaced(self):
        record = self.generate(self.letter(self.anna))
        self.assertEqual((record.state, record.letter_output), ("created", "letters"))
        letters = record.document_attachment_id
        as_user = record.with_user(self.user)
        as_user.output = "labels"
        action = as_user.action_confirm_generate()
        # asks, naming what is replaced and what is made; nothing started yet
        self.assertEqual(action["tag"], "serial_correspondence_confirm")
        self.assertIn("The document holds the letters", action["params"]["body"])
        self.assertIn("Generate the address labels?", action["params"]["body"])
        self.assertEqual(action["params"]["confirm_label"], "Generate labels")
        self.assertEqual(record.state, "created")
        self.assertEqual(record.document_attachment_id, letters)
        # the same output again replaces nothing of another kind: no question
        as_user.output = "letters"
        self.assertIs(as_user.action_confirm_generate(), True)
        self.assertEqual(record.state, "in_progress")

    def test_generate_button_is_named_by_what_it_makes(self):
        arch = self.env["serial.correspondence"].get_view(view_type="form")["arch"]
        buttons = {
            button.get("string"): button.get("invisible")
            for button in etree.fromstring(arch).iter("button")
            if button.get("name") == "action_confirm_generate"
        }
        self.assertIn("output == 'labels'", buttons["Generate letters"])
        self.assertIn("output != 'labels'", buttons["Generate labels"])
