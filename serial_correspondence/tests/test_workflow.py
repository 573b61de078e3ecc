# Copyright 2026 serial_correspondence authors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
from odoo.exceptions import UserError
from odoo.tests import tagged

from ..tools import workflow
from .common import SerialCorrespondenceCase


@tagged("post_install", "-at_install")
class TestWorkflow(SerialCorrespondenceCase):
    def test_every_state_is_reachable_from_importing(self):
        states = {key for key, _label in self.Correspondence._fields["state"].selection}
        reached = {"importing"}
        frontier = ["importing"]
        while frontier:
            state = frontier.pop()
            for event in workflow.TRANSITIONS:
                for kind in (workflow.LETTER, workflow.EMAIL):
                    target = workflow.next_state(kind, state, event)
                    if target and target not in reached:
                        reached.add(target)
                        frontier.append(target)
        self.assertEqual(reached, states)

    def test_kind_decides_which_actions_exist(self):
        self.assertEqual(
            workflow.next_state("letter", "ready", "generate"), "in_progress"
        )
        self.assertIsNone(workflow.next_state("letter", "ready", "send"))
        self.assertEqual(workflow.next_state("email", "ready", "send"), "in_progress")
        self.assertIsNone(workflow.next_state("email", "ready", "generate"))
        # sending limits only exist for e-mails
        self.assertIsNone(workflow.next_state("letter", "in_progress", "throttle"))
        self.assertEqual(
            workflow.next_state("email", "in_progress", "throttle"), "waiting"
        )
        # e-mails sent to everybody end by themselves, letters never do
        self.assertEqual(
            workflow.next_state("email", "in_progress", "all_sent"), "done_auto"
        )
        self.assertIsNone(workflow.next_state("letter", "created", "all_sent"))
        self.assertIsNone(workflow.next_state("email", "done_auto", "finalize"))

    def test_errors_take_precedence_over_exclusions(self):
        self.assertEqual(workflow.outcome_event("letter", 3, 1), "created_with_errors")
        self.assertEqual(
            workflow.outcome_event("letter", 3, 0), "created_with_exclusions"
        )
        self.assertEqual(workflow.outcome_event("letter", 0, 0), "all_created")
        self.assertEqual(workflow.outcome_event("email", 2, 1), "sent_with_errors")
        self.assertEqual(workflow.outcome_event("email", 2, 0), "sent_with_exclusions")
        self.assertEqual(workflow.outcome_event("email", 0, 0), "all_sent")

    def test_event_not_allowed_in_state_is_refused(self):
        record = self.create_correspondence(kind="letter")
        self.assertEqual(record.state, "importing")
        with self.assertRaisesRegex(UserError, "not possible now"):
            record._apply_event("generate")
        self.assertEqual(record.state, "importing")

    def test_state_cannot_be_written_directly(self):
        record = self.create_correspondence()
        with self.assertRaisesRegex(UserError, "only through its actions"):
            record.write({"state": "done"})
        self.assertEqual(record.state, "importing")

    def test_view_buttons_follow_the_table(self):
        letter = self.create_correspondence(kind="letter")
        email = self.create_correspondence(kind="email")
        self.run_jobs()
        self.assertEqual((letter.state, email.state), ("ready", "ready"))
        self.assertTrue(letter.can_generate)
        self.assertFalse(letter.can_send)
        self.assertTrue(email.can_send)
        self.assertFalse(email.can_generate)
        self.assertFalse(letter.can_finalize or email.can_finalize)
