# Copyright 2026 serial_correspondence authors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""What became of an e-mail after it was sent: bounced, opened, clicked,
replied to.

Set by the server only (bounce processing, the tracking routes, the reply
handling), never by a client (``_processing_fields``). A bounced recipient
was sent to: it is not pending and is never sent again ("Send e-mails"
only takes pending, excluded and error recipients back).
"""

from odoo import fields, models


class SerialCorrespondenceRecipient(models.Model):
    _inherit = "serial.correspondence.recipient"

    state = fields.Selection(
        selection_add=[("sent",), ("bounced", "Bounced")],
        # without this addition a bounced recipient is one that was sent to
        ondelete={"bounced": "set sent"},
    )
    bounce_type = fields.Selection(
        [("hard", "Hard bounce"), ("soft", "Soft bounce")],
        string="Bounce type",
        readonly=True,
        copy=False,
        help="Hard: the address does not exist or refuses for good. Soft: the "
        "mailbox could not take it at the time (e.g. full).",
    )
    # partial indexes (only the rows that have a value): the filters
    # "Opened", "Clicked", "Replied" stay cheap on large correspondences
    opened_at = fields.Datetime(
        string="Opened on", readonly=True, copy=False, index="btree_not_null"
    )
    clicked_at = fields.Datetime(
        string="Clicked on", readonly=True, copy=False, index="btree_not_null"
    )
    replied_at = fields.Datetime(
        string="Replied on", readonly=True, copy=False, index="btree_not_null"
    )

    def _processing_fields(self):
        return super()._processing_fields() | {
            "bounce_type",
            "opened_at",
            "clicked_at",
            "replied_at",
        }
