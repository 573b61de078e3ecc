# Copyright 2026 serial_correspondence authors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""Open and click tracking, opt-in per correspondence (``tracking_enabled``).

Off by default: in Germany opens and clicks may only be recorded with the
recipients' consent. With tracking off an e-mail has no pixel and no
rewritten link, and sending does nothing more than read that one flag.

With tracking on, each e-mail gets an open pixel and its links go through
Odoo's ``link_tracker`` (``tools/link_tracking.py``), with the recipient and
a token appended, as mass mailing appends its trace: ``/r/<code>/sc/<recipient
id>/<token>``. The token is the HMAC (database secret) of the recipient id:
only the e-mail sent to that recipient carries it, and a public route that
receives a valid one records the first open or click on that recipient and
on nothing else (``controllers/tracking.py``). The copy in the contact's
history is the e-mail without pixel and short links: a user reading the
history never counts as an open.

The ``link.tracker`` records of a batch are looked up or created once per
URL (``_tracking_cache``, kept for the transaction that builds the batch's
e-mails), not once per recipient.
"""

from odoo import api, fields, models
from odoo.tools import SQL, consteq
from odoo.tools.misc import hmac

from ..tools import link_tracking

# the token of the tracking links of a recipient's e-mail
TRACKING_SCOPE = "serial_correspondence.tracking.v1"
# key of the per-transaction cache (``cr.precommit.data``: emptied by every
# commit and rollback, so a code never outlives the tracker it belongs to)
CACHE_KEY = "serial_correspondence.tracking"
PIXEL_PATH = "/serial_correspondence/track/%(recipient)s/%(token)s/blank.gif"


class SerialCorrespondence(models.Model):
    _inherit = "serial.correspondence"

    def _tracked_body(self, recipient_id, body):
        """``body`` as it is sent to the recipient ``recipient_id`` with
        tracking: links through ``link_tracker`` and the open pixel. A seam:
        override to track more (or less)."""
        self.ensure_one()
        if not body:
            return body
        cache = self._tracking_cache()
        base_url = cache["base_url"]
        token = self.env["serial.correspondence.recipient"]._tracking_token(
            recipient_id
        )

        def rewrite():
            return link_tracking.rewrite_links(
                body,
                base_url,
                cache["hrefs"],
                cache["codes"],
                f"/sc/{recipient_id}/{token}",
            )

        tracked, missing = rewrite()
        if missing:
            # the batch's first e-mail with these links
            cache["codes"].update(self._link_tracker_codes(missing))
            tracked, _missing = rewrite()
        pixel = base_url + PIXEL_PATH % {"recipient": recipient_id, "token": token}
        return link_tracking.add_open_pixel(tracked, pixel)

    def _tracking_cache(self):
        """What the e-mails of this transaction (one batch) share: the base
        URL, what each ``href`` value leads to, and the code of each URL."""
        data = self.env.cr.precommit.data.setdefault(CACHE_KEY, {})
        if self.id not in data:
            data[self.id] = {
                "base_url": (self.get_base_url() or "").rstrip("/"),
                "hrefs": {},
                "codes": {},
            }
        return data[self.id]

    def _link_tracker_codes(self, urls):
        """{URL: short code} of ``link_tracker`` for ``urls``, its trackers
        found or created (one search, at most one create). The title is the
        URL: ``link_tracker`` would otherwise fetch every page to find one.

        sudo: creating trackers is for marketing users only; these are the
        links of the correspondence's own e-mail, rendered with the user's
        rights, and a tracker is nothing but its URL."""
        trackers = (
            self.env["link.tracker"]
            .sudo()
            .search_or_create([{"url": url, "title": url} for url in urls])
        )
        codes = (
            self.env["link.tracker.code"]
            .sudo()
            .search_fetch([("link_id", "in", trackers.ids)], ["code", "link_id"])
        )
        # the newest code of a tracker is its short link (``link_tracker``)
        by_tracker = {}
        for code in codes.sorted("id"):
            by_tracker[code.link_id.id] = code.code
        return {
            url: by_tracker[tracker.id]
            for url, tracker in zip(urls, trackers, strict=True)
            if tracker.id in by_tracker
        }


class SerialCorrespondenceRecipient(models.Model):
    _inherit = "serial.correspondence.recipient"

    @api.model
    def _tracking_token(self, recipient_id):
        """The token of the tracking links in the e-mail to ``recipient_id``."""
        return hmac(self.env(su=True), TRACKING_SCOPE, int(recipient_id))

    @api.model
    def _from_tracking_token(self, recipient_id, token):
        """The recipient whose e-mail carried ``token``, or no record. sudo:
        the valid token proves which recipient this is (compared in
        constant time); nothing else is read or written through it."""
        expected = self._tracking_token(recipient_id)
        if not (isinstance(token, str) and consteq(expected, token)):
            return self.browse()
        return self.sudo().browse(int(recipient_id)).exists()

    def _record_tracking(self, clicked=False):
        """Record the first open (and, with ``clicked``, the first click) of
        these recipients' e-mails; a click opened the e-mail too. Only while
        their correspondence tracks: switching tracking off stops recording
        at once. One statement; repeated opens and clicks write nothing.
        Return whether anything was recorded."""
        if not self:
            return False
        self.env.cr.execute(
            SQL(
                """
                UPDATE serial_correspondence_recipient AS recipient
                   SET opened_at = COALESCE(recipient.opened_at, %(now)s),
                       clicked_at = CASE WHEN %(clicked)s
                                         THEN COALESCE(recipient.clicked_at, %(now)s)
                                         ELSE recipient.clicked_at END
                  FROM serial_correspondence AS correspondence
                 WHERE recipient.id IN %(ids)s
                   AND correspondence.id = recipient.correspondence_id
                   AND correspondence.tracking_enabled
                   AND (recipient.opened_at IS NULL
                        OR (%(clicked)s AND recipient.clicked_at IS NULL))
                """,
                now=fields.Datetime.now(),
                clicked=bool(clicked),
                ids=tuple(self.ids),
            )
        )
        recorded = bool(self.env.cr.rowcount)
        self.invalidate_recordset(["opened_at", "clicked_at"])
        return recorded
