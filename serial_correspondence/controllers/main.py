# Copyright 2026 serial_correspondence authors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
from werkzeug.exceptions import Forbidden

from odoo import http
from odoo.http import request


class SerialCorrespondenceController(http.Controller):
    """Unsubscribing from advertising e-mails with a signed link.

    GET shows a page to confirm; POST records the refusal. A POST whose body
    is ``List-Unsubscribe=One-Click`` is the one-click unsubscription of
    RFC 8058, sent by the recipient's mail client: it needs no page.
    """

    def _partner_from_token(self, partner_id, token):
        partner = request.env["res.partner"].sudo().browse(partner_id).exists()
        if not partner or not partner._serial_check_unsubscribe_token(token):
            raise Forbidden()
        return partner

    @http.route(
        "/serial_correspondence/unsubscribe/<int:partner_id>/<string:token>",
        type="http",
        auth="public",
        methods=["GET"],
    )
    def unsubscribe_page(self, partner_id, token, **kwargs):
        partner = self._partner_from_token(partner_id, token)
        return request.render(
            "serial_correspondence.unsubscribe_page",
            {"partner": partner, "token": token, "done": False},
        )

    @http.route(
        "/serial_correspondence/unsubscribe/<int:partner_id>/<string:token>",
        type="http",
        auth="public",
        methods=["POST"],
        csrf=False,
    )
    def unsubscribe(self, partner_id, token, **post):
        partner = self._partner_from_token(partner_id, token)
        one_click = post.get("List-Unsubscribe") == "One-Click"
        partner._serial_unsubscribe(
            blacklist=not one_click and bool(post.get("blacklist"))
        )
        if one_click:
            return request.make_response("OK", headers=[("Content-Type", "text/plain")])
        return request.render(
            "serial_correspondence.unsubscribe_page",
            {"partner": partner, "token": token, "done": True},
        )
