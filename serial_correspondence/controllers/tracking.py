# Copyright 2026 serial_correspondence authors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""The open pixel and the tracked links of serial e-mails sent with
tracking on (``models/serial_correspondence_tracking.py``).

Public routes: whoever has the e-mail has its links. A valid token (the
HMAC of the recipient id) records the first open or click on that recipient,
and only on it; an invalid one records nothing and answers exactly as a
valid one does (the same image, the same redirection as Odoo's ``/r/<code>``
without a recipient): nothing tells a guessed token from a real one. Known
robots (link previews, crawlers) are answered without being recorded, as
``link_tracker`` does.
"""

import base64

from werkzeug.exceptions import NotFound

from odoo import http
from odoo.http import request

# the 1x1 transparent GIF of Odoo's own open tracking (mass_mailing)
BLANK_GIF = base64.b64decode(
    b"R0lGODlhAQABAIAAANvf7wAAACH5BAEAAAAALAAAAAABAAEAAAICRAEAOw=="
)
PIXEL_ROUTE = "/serial_correspondence/track/<int:recipient_id>/<string:token>/blank.gif"
CLICK_ROUTE = "/r/<string:code>/sc/<int:recipient_id>/<string:token>"


class SerialCorrespondenceTracking(http.Controller):
    def _tracked_recipient(self, recipient_id, token):
        """The recipient the token was made for, unless a robot asks."""
        Recipient = request.env["serial.correspondence.recipient"]
        if request.env["ir.http"].is_a_bot():
            return Recipient.browse()
        return Recipient._from_tracking_token(recipient_id, token)

    @http.route(PIXEL_ROUTE, type="http", auth="public", methods=["GET"])
    def track_open(self, recipient_id, token, **kwargs):
        self._tracked_recipient(recipient_id, token)._record_tracking()
        return request.make_response(
            BLANK_GIF,
            headers=[
                ("Content-Type", "image/gif"),
                ("Cache-Control", "no-store, max-age=0"),
            ],
        )

    @http.route(CLICK_ROUTE, type="http", auth="public", methods=["GET"])
    def track_click(self, code, recipient_id, token, **kwargs):
        redirect_url = request.env["link.tracker"].get_url_from_code(code)
        if not redirect_url:
            raise NotFound()
        recipient = self._tracked_recipient(recipient_id, token)
        # not even link_tracker's click once tracking was switched off
        if recipient.correspondence_id.tracking_enabled:
            request.env["link.tracker.click"].sudo().add_click(
                code,
                ip=request.httprequest.remote_addr,
                country_code=request.geoip.country_code,
            )
            recipient._record_tracking(clicked=True)
        return request.redirect(redirect_url, code=301, local=False)
