# Copyright 2026 serial_correspondence authors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
from werkzeug.exceptions import Forbidden

from odoo import http
from odoo.http import request

UNSUBSCRIBE_ROUTE = "/serial_correspondence/unsubscribe/<int:partner_id>/<string:token>"


class SerialCorrespondenceController(http.Controller):
    """Unsubscribing from advertising e-mails with a signed link.

    GET shows a page to confirm; POST records the refusal. A POST whose body
    is ``List-Unsubscribe=One-Click`` is the one-click unsubscription of
    RFC 8058, sent by the recipient's mail client: it needs no page.

    The link carries the contact and a token ``<expiry>.<signature>``; the
    signature covers the contact, the expiry and the e-mail address the link
    was sent to (see ``res.partner._serial_unsubscribe_url``). It is checked
    against the contact's *current* address: a link for an address the
    contact no longer has, an expired link, or one whose signature, contact
    or expiry was changed gets 403 and changes nothing. Tokens of the first
    scheme (the contact's id signed alone: bound to no address, never
    expiring) are refused the same way.
    """

    def _partner_from_token(self, partner_id, token):
        partner = request.env["res.partner"].sudo().browse(partner_id).exists()
        if not partner or not partner._serial_check_unsubscribe_token(token):
            raise Forbidden()
        return partner

    @http.route(UNSUBSCRIBE_ROUTE, type="http", auth="public", methods=["GET"])
    def unsubscribe_page(self, partner_id, token, **kwargs):
        partner = self._partner_from_token(partner_id, token)
        return request.render(
            "serial_correspondence.unsubscribe_page",
            {"partner": partner, "token": token, "done": False},
        )

    @http.route(
        UNSUBSCRIBE_ROUTE, type="http", auth="public", methods=["POST"], csrf=False
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
