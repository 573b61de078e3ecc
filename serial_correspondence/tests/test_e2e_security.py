# Copyright 2026 serial_correspondence authors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""Attacks over HTTP JSON-RPC on a running server: a user can do through
this addon only what Odoo already lets them do.

One real Odoo server (queue_job's runner, an SMTP sink on loopback) for the
whole class. Every attack talks to ``/web/dataset/call_kw`` (any args, any
context) or to the public routes, as an attacker would, and then looks at
the database itself: a refused call is a JSON-RPC ``error``, and nothing it
touched may have changed (an attack that "errors" after having changed
something fails). The personas:

- (a) **plain user**: Employee + Serial Correspondence / User of company 1,
  *not* a mail template editor (``mail.restrict.template.rendering`` on);
- (b) a **user of company 2** (allowed companies: company 2 only), also a
  Serial Correspondence / User; a **colleague** (like (a), company 1);
- (c) a **public visitor**: no session.

The attacks, one test each (names say what is proved):

1. Context keys grant nothing (``serial_correspondence_internal`` and
   similar): no ``state`` write, no change or deletion of a waiting or
   finalized correspondence or of its recipients, no recipient marked sent,
   no "archived" attachment created, no archived document changed or deleted.
2. Processing-only fields are refused on create and write of a
   correspondence and of a recipient; a document attachment of another
   record (or of company 2) is refused, and regenerating or finalizing never
   deletes, renames or archives it.
3. Code in the subject (``{{ user.sudo().write(...) }}``, ``object.env``,
   ``t-out`` variants) does not run on *Send e-mails* or *Generate letters*:
   the user never becomes Settings administrator or ERP manager.
4. A template on another model (``res.users``) is refused.
5. The contact filter is data: names, calls and ``__import__`` are refused
   and gain nothing; a literal filter still works; an unknown field is
   refused with a clear error.
6. Only readable contacts: the import skips company 2's contact, a recipient
   cannot be added for it, and its address never shows through a recipient.
7. A user of company 2 cannot see, change, send or delete company 1's
   correspondence or recipients, nor create one in a company not theirs; a
   colleague cannot "allow resend" on someone else's recipient.
8. A public visitor cannot call the models; an unsubscribe link with a
   tampered token or a moved expiry, with another contact's token or id, or
   sent to an address the contact no longer has changes no consent (403).
9. No stored XSS: an edited letter text and the e-mail copy in the contact's
   history are sanitized.
10. Extras: code in the Contacts action's ``active_domain``; reading the
    internal letter parts.
11. The same plain user's normal serial e-mail and serial letter still work
    end to end over JSON-RPC.
12. The open pixel and the tracked links of an e-mail sent with tracking
    record nothing with a tampered token or another recipient's.
"""

import base64
import itertools
import json
import logging
import re
import shutil
import tempfile
import uuid
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import requests
from psycopg2 import sql

from odoo.tests import tagged
from odoo.tests.common import BaseCase

from ..testing.e2e_server import E2EError, OdooServer
from .test_e2e_send import deliveries, start_sink

_logger = logging.getLogger(__name__)

EMAIL_OUTCOMES = ("sent_incomplete", "send_failed", "done_auto")
LETTER_OUTCOMES = ("created", "created_incomplete", "create_failed")
# context keys a client might try to switch off a lock with
BYPASS_CONTEXT = {
    "serial_correspondence_internal": True,
    "serial_correspondence_job": True,
    "serial_correspondence_processing": True,
    "serial_correspondence_system": True,
    "internal_write": True,
    "bypass_lock": True,
}
PARTNER_BODY = '<p>Hallo <t t-out="object.name"/>, Neuigkeiten aus Sicherstadt.</p>'
XSS_PAYLOAD = (
    "<p>Kommentar-Marker <img src=x onerror=alert(1)><script>alert(1)</script></p>"
)
LETTER_XSS = "<p>Bearbeitet</p><img src=x onerror=alert(1)><script>alert(1)</script>"
TIMEOUT_IMPORT = 90
TIMEOUT_SEND = 120
TIMEOUT_LETTERS = 180


# ----------------------------------------------------------------------
# a JSON-RPC client, as a browser (or an attacker) talks to Odoo
# ----------------------------------------------------------------------


class Answer:
    """The answer of a JSON-RPC call: ``result`` or ``error``."""

    def __init__(self, payload, what):
        self.payload = payload
        self.what = what

    @property
    def ok(self):
        return "error" not in self.payload

    @property
    def result(self):
        return self.payload.get("result")

    @property
    def error(self):
        error = self.payload.get("error")
        if not error:
            return None
        data = error.get("data") or {}
        return f"{data.get('name', '')}: {data.get('message') or error.get('message')}"

    def __repr__(self):
        if self.ok:
            return f"<{self.what} -> result {json.dumps(self.result)[:300]}>"
        return f"<{self.what} -> error {self.error[:300]}>"


class JsonRpcClient:
    """``/web/session/authenticate`` then ``/web/dataset/call_kw``."""

    _ids = itertools.count(1)

    def __init__(self, base_url, db):
        self.base_url = base_url
        self.db = db
        self.http = requests.Session()
        self.uid = None

    def post(self, path, params):
        response = self.http.post(
            self.base_url + path,
            json={
                "jsonrpc": "2.0",
                "method": "call",
                "params": params,
                "id": next(self._ids),
            },
            timeout=300,
        )
        response.raise_for_status()
        return response.json()

    def login(self, login, password):
        answer = Answer(
            self.post(
                "/web/session/authenticate",
                {"db": self.db, "login": login, "password": password},
            ),
            f"login {login}",
        )
        if not answer.ok or not (answer.result or {}).get("uid"):
            raise E2EError(f"{login} cannot log in: {answer!r}")
        self.uid = answer.result["uid"]
        return self

    def call(self, model, method, *args, context=None, **kwargs):
        if context is not None:
            kwargs["context"] = context
        return Answer(
            self.post(
                f"/web/dataset/call_kw/{model}/{method}",
                {
                    "model": model,
                    "method": method,
                    "args": list(args),
                    "kwargs": kwargs,
                },
            ),
            f"{model}.{method}{tuple(args)!r} {kwargs!r}"[:400],
        )

    def run_action(self, action_id, context):
        return Answer(
            self.post("/web/action/run", {"action_id": action_id, "context": context}),
            f"action {action_id} with {context!r}",
        )


# ----------------------------------------------------------------------
# unsubscribe links
# ----------------------------------------------------------------------


def _token_key(query):
    return next((key for key, _value in query if "token" in key.lower()), None)


def token_of(url):
    """The token of an unsubscribe link: its ``token`` parameter, else the
    last segment of its path."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    key = _token_key(query)
    if key:
        return dict(query)[key]
    return parts.path.rstrip("/").rpartition("/")[2]


def with_token(url, token):
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    key = _token_key(query)
    path = parts.path
    if key:
        query = [(k, token if k == key else v) for k, v in query]
    else:
        path = f"{path.rstrip('/').rpartition('/')[0]}/{token}"
    return urlunsplit(
        (parts.scheme, parts.netloc, path, urlencode(query), parts.fragment)
    )


def with_partner(url, old_id, new_id):
    """The link with ``old_id`` (a path segment or parameter) replaced by
    ``new_id``; None when the link carries no contact id."""
    parts = urlsplit(url)
    segments = parts.path.split("/")
    query = parse_qsl(parts.query, keep_blank_values=True)
    old, new = str(old_id), str(new_id)
    if old not in segments and old not in [v for _k, v in query]:
        return None
    path = "/".join(new if s == old else s for s in segments)
    query = [(k, new if v == old else v) for k, v in query]
    return urlunsplit(
        (parts.scheme, parts.netloc, path, urlencode(query), parts.fragment)
    )


def with_numbers_moved(url, partner_id):
    """The link once per number it carries besides the contact id and the
    token (e.g. an expiry), that number moved on by a day."""
    parts = urlsplit(url)
    segments = parts.path.split("/")
    links = []
    for index, segment in enumerate(segments[:-1]):
        if segment.isdigit() and segment != str(partner_id):
            moved = [*segments]
            moved[index] = str(int(segment) + 86400)
            links.append(urlunsplit(parts._replace(path="/".join(moved))))
    return links


def flip(char):
    return "1" if char == "0" else "0"


@tagged("post_install", "-at_install", "serial_correspondence_e2e")
class TestE2ESecurity(BaseCase):
    # ------------------------------------------------------------------
    # the server, the personas and the data, once for the class
    # ------------------------------------------------------------------

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        mail_dir = tempfile.mkdtemp(prefix="sc_e2e_security_mail_")
        cls.addClassCleanup(shutil.rmtree, mail_dir, ignore_errors=True)
        cls.sink = start_sink(mail_dir)
        cls.addClassCleanup(cls.sink.stop)
        cls.server = OdooServer()
        cls.addClassCleanup(cls.server.close)
        cls.server.start()
        cls._links = None
        rpc = cls.server.rpc
        rpc(
            "ir.mail_server",
            "create",
            {
                "name": "SMTP sink on loopback",
                "smtp_host": "127.0.0.1",
                "smtp_port": cls.sink.port,
                "smtp_encryption": "none",
            },
        )
        # employees are no template editors (Odoo's default, made sure)
        rpc(
            "ir.config_parameter",
            "set_param",
            "mail.restrict.template.rendering",
            "True",
        )
        cls.group = {
            name: cls._xmlid(name)
            for name in (
                "base.group_user",
                "base.group_system",
                "base.group_erp_manager",
                "mail.group_mail_template_editor",
                "serial_correspondence.group_serial_correspondence_user",
            )
        }
        cls.system_groups = {
            cls.group["base.group_system"],
            cls.group["base.group_erp_manager"],
        }
        cls.company1 = rpc("res.users", "read", [cls.server.uid], ["company_id"])[0][
            "company_id"
        ][0]
        cls.company2 = rpc("res.company", "create", {"name": "Zweitfirma GmbH"})
        rpc(
            "res.users", "write", [cls.server.uid], {"company_ids": [(4, cls.company2)]}
        )
        cls.de = cls._xmlid("base.de")
        cls.at = cls._xmlid("base.at")

        # personas
        cls.plain_password = uuid.uuid4().hex
        cls.plain_uid = cls._create_user(
            "paula.plain", "Paula Plain", cls.company1, cls.plain_password
        )
        cls.plain_groups = cls._reset_plain_user()
        cls.colleague_password = uuid.uuid4().hex
        cls.colleague_uid = cls._create_user(
            "karl.kollege", "Karl Kollege", cls.company1, cls.colleague_password
        )
        cls.other_password = uuid.uuid4().hex
        cls.other_uid = cls._create_user(
            "zora.zweit", "Zora Zweitfirma", cls.company2, cls.other_password
        )

        # contacts: three in company 1 with complete addresses, one that only
        # company 2 may read
        def contact(name, email, **values):
            vals = {
                "name": name,
                "email": email,
                "street": "Hauptstraße 1",
                "zip": "50667",
                "city": "Sicherstadt",
                "country_id": cls.de,
                "company_id": cls.company1,
            }
            vals.update(values)
            return rpc("res.partner", "create", vals)

        cls.anna = contact("Anna Sicher", "anna@sicher.example.com")
        cls.bruno = contact("Bruno Sicher", "bruno@sicher.example.com", zip="50668")
        cls.clara = contact("Clara Sicher", "clara@sicher.example.com", zip="50669")
        cls.sicher = [cls.anna, cls.bruno, cls.clara]
        cls.secret = {
            "email": "geheim@firma2.example.org",
            "zip": "59999",
            "city": "Sicherstadt-Nord",
            "street": "Geheimweg 7",
        }
        cls.secret_partner = contact(
            "Geheim Zweitfirma",
            cls.secret["email"],
            street=cls.secret["street"],
            zip=cls.secret["zip"],
            city=cls.secret["city"],
            country_id=cls.at,
            company_id=cls.company2,
        )

        # advertising: consent granted (for the unsubscribe links)
        def subscriber(name, email):
            return contact(
                name, email, city="Werbestadt", email_advertising_consent="granted"
            )

        cls.ute = subscriber("Ute Abo", "ute@abo.example.net")
        cls.bernd = subscriber("Bernd Abo", "bernd@abo.example.net")
        cls.carla = subscriber("Carla Abo", "carla@abo.example.net")
        # a contact whose notes (an Html field) hold a script: data imported
        # into the database, past the ORM's sanitizer
        cls.xaver = contact("Xaver Skript", "xaver@xss.example.net", city="Skriptdorf")
        cls.server.sql(
            "UPDATE res_partner SET comment = %s WHERE id = %s",
            [XSS_PAYLOAD, cls.xaver],
        )
        # a private message of company 2's contact
        cls.secret_message = rpc(
            "res.partner",
            "message_post",
            [cls.secret_partner],
            body="Geheime Notiz",
            message_type="comment",
            subtype_xmlid="mail.mt_note",
        )

        # templates, made by admin
        partner_model = cls._model_id("res.partner")
        cls.template = rpc(
            "mail.template",
            "create",
            {
                "name": "Neuigkeiten",
                "model_id": partner_model,
                "body_html": PARTNER_BODY,
            },
        )
        cls.xss_template = rpc(
            "mail.template",
            "create",
            {
                "name": "Notizen",
                "model_id": partner_model,
                "body_html": '<p t-out="object.comment"/>',
            },
        )
        cls.users_template = rpc(
            "mail.template",
            "create",
            {
                "name": "Benutzer",
                "model_id": cls._model_id("res.users"),
                "body_html": '<p>Login: <t t-out="object.login"/></p>',
            },
        )

        # the personas' sessions
        url, db = cls.server.url, cls.server.db_name
        cls.plain = JsonRpcClient(url, db).login("paula.plain", cls.plain_password)
        cls.colleague = JsonRpcClient(url, db).login(
            "karl.kollege", cls.colleague_password
        )
        cls.other = JsonRpcClient(url, db).login("zora.zweit", cls.other_password)

    @classmethod
    def _xmlid(cls, xmlid):
        module, name = xmlid.split(".")
        rows = cls.server.rpc(
            "ir.model.data",
            "search_read",
            [("module", "=", module), ("name", "=", name)],
            fields=["res_id"],
        )
        if not rows:
            raise E2EError(f"no record {xmlid}")
        return rows[0]["res_id"]

    @classmethod
    def _model_id(cls, model):
        return cls.server.rpc("ir.model", "search", [("model", "=", model)])[0]

    @classmethod
    def _create_user(cls, login, name, company, password):
        """An Employee + Serial Correspondence / User of ``company`` only,
        not a template editor."""
        uid = cls.server.rpc(
            "res.users",
            "create",
            {
                "name": name,
                "login": login,
                "email": f"{login}@nutzer.example.net",
                "password": password,
                "company_id": company,
                "company_ids": [(6, 0, [company])],
            },
        )
        groups = cls._set_user_groups(uid)
        if cls.group["mail.group_mail_template_editor"] in groups:
            raise E2EError(f"{login} is a template editor")
        if groups & cls.system_groups:
            raise E2EError(f"{login} is an administrator")
        return uid

    @classmethod
    def _set_user_groups(cls, uid):
        """Employee + Serial Correspondence / User (and what they imply),
        explicitly no template editor; return the groups as stored."""
        user_groups = [
            cls.group["base.group_user"],
            cls.group["serial_correspondence.group_serial_correspondence_user"],
        ]
        editor = cls.group["mail.group_mail_template_editor"]
        rpc = cls.server.rpc
        rpc("res.users", "write", [uid], {"groups_id": [(6, 0, user_groups)]})
        rpc("res.users", "write", [uid], {"groups_id": [(3, editor)]})
        return cls._groups(uid)

    @classmethod
    def _groups(cls, uid):
        return {
            gid
            for (gid,) in cls.server.sql(
                "SELECT gid FROM res_groups_users_rel WHERE uid = %s", [uid]
            )
        }

    @classmethod
    def _reset_plain_user(cls):
        """The plain user's groups as set up (an attack may have made them
        administrator: no test depends on another)."""
        return cls._set_user_groups(cls.plain_uid)

    def setUp(self):
        super().setUp()
        if self._groups(self.plain_uid) != self.plain_groups:
            _logger.warning("an earlier attack changed the plain user's groups")
            self._reset_plain_user()
        self.assertEqual(self._groups(self.plain_uid), self.plain_groups)
        self.marker = f"[{self._testMethodName[5:40]}-{uuid.uuid4().hex[:6]}]"

    # ------------------------------------------------------------------
    # helpers: calls and assertions
    # ------------------------------------------------------------------

    def assertOk(self, answer):
        self.assertTrue(answer.ok, f"expected success: {answer!r}")
        return answer.result

    def assertRefused(self, answer, what=""):
        self.assertFalse(answer.ok, f"not refused: {what} {answer!r}")
        _logger.info("refused as expected: %r", answer)
        return answer.error

    def assertNotAdministrator(self, uid=None):
        uid = uid or self.plain_uid
        groups = self._groups(uid)
        self.assertFalse(
            groups & self.system_groups,
            f"user {uid} became Settings administrator / Access Rights manager",
        )
        if uid == self.plain_uid:
            self.assertEqual(groups, self.plain_groups, "the user's groups changed")

    def _correspondence_count(self):
        return self.server.sql_value("SELECT count(*) FROM serial_correspondence")

    def _max_correspondence_id(self):
        return self.server.sql_value(
            "SELECT COALESCE(max(id), 0) FROM serial_correspondence"
        )

    def _row(self, table, record_id):
        return self.server.sql_value(
            sql.SQL("SELECT to_jsonb(t) FROM {} t WHERE id = %s").format(
                sql.Identifier(table)
            ),
            [record_id],
        )

    def _snapshot(self, correspondence_id):
        """The correspondence and its recipients as committed."""
        recipients = self.server.sql_value(
            "SELECT COALESCE(jsonb_agg(to_jsonb(r) ORDER BY r.id), '[]'::jsonb)"
            " FROM serial_correspondence_recipient r WHERE correspondence_id = %s",
            [correspondence_id],
        )
        return {
            "correspondence": self._row("serial_correspondence", correspondence_id),
            "recipients": recipients,
        }

    def assertUnchanged(self, correspondence_id, before):
        after = self._snapshot(correspondence_id)
        for key in ("correspondence", "recipients"):
            self.assertEqual(
                after[key],
                before[key],
                f"the {key} changed: {self._diff(before[key], after[key])}",
            )

    @staticmethod
    def _diff(before, after):
        if isinstance(before, dict) and isinstance(after, dict):
            return {
                key: (before.get(key), after.get(key))
                for key in set(before) | set(after)
                if before.get(key) != after.get(key)
            }
        return (before, after)

    def _attachment(self, attachment_id):
        rows = self.server.sql(
            "SELECT id, name, checksum, store_fname, file_size, mimetype, res_model,"
            " res_id, company_id, COALESCE(serial_correspondence_archived, FALSE),"
            " write_date FROM ir_attachment WHERE id = %s",
            [attachment_id],
        )
        return rows[0] if rows else None

    def _foreign_attachment(self, company=None):
        """An attachment admin made on a contact (of ``company``)."""
        partner = self.secret_partner if company == self.company2 else self.anna
        values = {
            "name": f"Vertrag {uuid.uuid4().hex[:8]}.txt",
            "datas": base64.b64encode(b"Vertrag, nur fuer Admin").decode(),
            "res_model": "res.partner",
            "res_id": partner,
        }
        if company:
            values["company_id"] = company
        return self.server.rpc("ir.attachment", "create", values)

    def _recipients(self, correspondence_id):
        """{partner id: (recipient id, state, reason)}"""
        return {
            partner_id: (recipient_id, state, reason)
            for recipient_id, partner_id, state, reason in self.server.sql(
                "SELECT id, partner_id, state, reason->>'en_US'"
                " FROM serial_correspondence_recipient WHERE correspondence_id = %s",
                [correspondence_id],
            )
        }

    def _recipient_id(self, correspondence_id, partner_id):
        return self._recipients(correspondence_id)[partner_id][0]

    # ------------------------------------------------------------------
    # helpers: waiting for the server
    # ------------------------------------------------------------------

    def _progress(self, correspondence_id):
        rows = self.server.sql(
            "SELECT c.state, j.state, j.exc_info FROM serial_correspondence c"
            " LEFT JOIN queue_job j ON j.uuid = c.job_uuid WHERE c.id = %s",
            [correspondence_id],
        )
        if not rows:
            raise E2EError(f"correspondence {correspondence_id} does not exist")
        return rows[0]

    def _wait_state(self, correspondence_id, states, timeout, what):
        def reached():
            state, job_state, exc_info = self._progress(correspondence_id)
            if job_state == "failed":
                raise E2EError(
                    f"the job of correspondence {correspondence_id} failed while "
                    f"waiting for {what}:\n{exc_info}"
                )
            return state if state in states else None

        return self.server.wait_for(reached, timeout, what, interval=0.2)

    def _settle(self, correspondence_id, timeout=TIMEOUT_SEND):
        """Wait until no job works on the correspondence (whatever its end:
        an attack may well make its job fail)."""

        def settled():
            state, job_state, _exc = self._progress(correspondence_id)
            if job_state == "failed" or state not in ("importing", "in_progress"):
                return state or "?"
            return None

        return self.server.wait_for(
            settled, timeout, f"correspondence {correspondence_id} to settle"
        )

    def _create(self, client=None, kind="email", partners=None, context=None, **values):
        """Create a correspondence as ``client`` (the plain user); return the
        answer."""
        client = client or self.plain
        vals = {
            "kind": kind,
            "purpose": "information",
            "subject": f"Hallo {{{{ object.name }}}} {self.marker}",
            "template_id": self.template,
            "partner_domain": repr([("id", "in", partners or [self.anna])]),
        }
        vals.update(values)
        return client.call("serial.correspondence", "create", vals, context=context)

    def _ready(self, client=None, kind="email", partners=None, **values):
        """A correspondence of ``client`` whose recipients are read."""
        correspondence_id = self.assertOk(
            self._create(client, kind=kind, partners=partners, **values)
        )
        self._wait_state(
            correspondence_id, ("ready",), TIMEOUT_IMPORT, "the recipients to be read"
        )
        return correspondence_id

    def _sent(self, partners=None, **values):
        """A serial e-mail of the plain user, sent to everyone: done_auto."""
        correspondence_id = self._ready(kind="email", partners=partners, **values)
        self.assertOk(
            self.plain.call("serial.correspondence", "action_send", [correspondence_id])
        )
        self._wait_state(correspondence_id, ("done_auto",), TIMEOUT_SEND, "sending")
        return correspondence_id

    def _generated(self, partners=None, correspondence_id=None, **values):
        """A serial letter of the plain user with its letters generated."""
        if correspondence_id is None:
            correspondence_id = self._ready(kind="letter", partners=partners, **values)
        self.assertOk(
            self.plain.call(
                "serial.correspondence", "action_generate", [correspondence_id]
            )
        )
        state = self._wait_state(
            correspondence_id, LETTER_OUTCOMES, TIMEOUT_LETTERS, "the letters"
        )
        self.assertEqual(state, "created", self._recipients(correspondence_id))
        return correspondence_id

    def _finalized_letter(self, partners=None):
        correspondence_id = self._generated(partners=partners)
        self.assertOk(
            self.plain.call(
                "serial.correspondence", "action_finalize", [correspondence_id]
            )
        )
        self.assertEqual(self._progress(correspondence_id)[0], "done")
        return correspondence_id

    def _document_id(self, correspondence_id):
        return self.server.sql_value(
            "SELECT document_attachment_id FROM serial_correspondence WHERE id = %s",
            [correspondence_id],
        )

    def _messages_with(self, marker):
        """``[(address, message)]`` the sink received whose subject has
        ``marker``."""
        return [
            (address, message)
            for address, message in deliveries(self.sink)
            if marker in str(message["Subject"] or "")
        ]

    # ------------------------------------------------------------------
    # 1. context keys grant nothing
    # ------------------------------------------------------------------

    def test_context_key_does_not_let_a_user_set_the_state(self):
        correspondence_id = self._ready()
        before = self._snapshot(correspondence_id)
        for state in ("done", "in_progress", "done_auto", "sent_incomplete"):
            with self.subTest(state=state):
                self.assertRefused(
                    self.plain.call(
                        "serial.correspondence",
                        "write",
                        [correspondence_id],
                        {"state": state},
                        context=BYPASS_CONTEXT,
                    )
                )
        self.assertUnchanged(correspondence_id, before)
        self.assertEqual(self._progress(correspondence_id)[0], "ready")

    def test_context_key_does_not_unlock_a_finalized_correspondence(self):
        correspondence_id = self._sent()
        recipient_id = self._recipient_id(correspondence_id, self.anna)
        before = self._snapshot(correspondence_id)
        attempts = [
            ("serial.correspondence", "write", [correspondence_id], {"state": "ready"}),
            ("serial.correspondence", "write", [correspondence_id], {"subject": "Neu"}),
            (
                "serial.correspondence",
                "write",
                [correspondence_id],
                {"template_id": self.xss_template},
            ),
            (
                "serial.correspondence",
                "write",
                [correspondence_id],
                {"tag_ids": [(0, 0, {"name": f"Tag {self.marker}"})]},
            ),
            ("serial.correspondence", "action_send", [correspondence_id]),
            (
                "serial.correspondence.recipient",
                "write",
                [recipient_id],
                {"state": "pending", "reason": False},
            ),
            (
                "serial.correspondence.recipient",
                "write",
                [recipient_id],
                {"partner_id": self.bruno},
            ),
            (
                "serial.correspondence.recipient",
                "create",
                {"correspondence_id": correspondence_id, "partner_id": self.bruno},
            ),
        ]
        for model, method, *args in attempts:
            with self.subTest(model=model, method=method, args=args):
                self.assertRefused(
                    self.plain.call(model, method, *args, context=BYPASS_CONTEXT)
                )
        self.assertUnchanged(correspondence_id, before)
        self.assertEqual(len(self._messages_with(self.marker)), 1, "sent once only")

    def test_context_key_does_not_let_a_user_delete_a_finalized_correspondence(self):
        correspondence_id = self._sent(partners=[self.anna, self.bruno])
        recipient_ids = [r[0] for r in self._recipients(correspondence_id).values()]
        before = self._snapshot(correspondence_id)
        self.assertRefused(
            self.plain.call(
                "serial.correspondence.recipient",
                "unlink",
                recipient_ids,
                context=BYPASS_CONTEXT,
            )
        )
        self.assertRefused(
            self.plain.call(
                "serial.correspondence",
                "unlink",
                [correspondence_id],
                context=BYPASS_CONTEXT,
            )
        )
        self.assertUnchanged(correspondence_id, before)

    def test_context_key_does_not_unlock_a_waiting_correspondence(self):
        # the mail server asks to try again later: the e-mail waits (long)
        old_delay = self.server.rpc(
            "ir.config_parameter",
            "get_param",
            "serial_correspondence.retry_delay_seconds",
        )
        self.server.rpc(
            "ir.config_parameter",
            "set_param",
            "serial_correspondence.retry_delay_seconds",
            "900",
        )
        self.addCleanup(
            self.server.rpc,
            "ir.config_parameter",
            "set_param",
            "serial_correspondence.retry_delay_seconds",
            old_delay or "",
        )
        correspondence_id = self._ready(partners=[self.anna, self.bruno])
        self.sink.tempfail(60)
        self.addCleanup(self.sink.tempfail, 0)
        self.assertOk(
            self.plain.call("serial.correspondence", "action_send", [correspondence_id])
        )
        self._wait_state(correspondence_id, ("waiting",), TIMEOUT_SEND, "waiting")
        self.sink.tempfail(0)
        recipient_id = self._recipient_id(correspondence_id, self.anna)
        before = self._snapshot(correspondence_id)
        attempts = [
            ("serial.correspondence", "write", [correspondence_id], {"subject": "Neu"}),
            ("serial.correspondence", "write", [correspondence_id], {"state": "ready"}),
            (
                "serial.correspondence",
                "write",
                [correspondence_id],
                {"resume_at": False},
            ),
            ("serial.correspondence", "unlink", [correspondence_id]),
            (
                "serial.correspondence.recipient",
                "write",
                [recipient_id],
                {"state": "excluded", "reason": "Gefälscht"},
            ),
            ("serial.correspondence.recipient", "unlink", [recipient_id]),
            (
                "serial.correspondence.recipient",
                "create",
                {"correspondence_id": correspondence_id, "partner_id": self.clara},
            ),
        ]
        for model, method, *args in attempts:
            with self.subTest(model=model, method=method, args=args):
                self.assertRefused(
                    self.plain.call(model, method, *args, context=BYPASS_CONTEXT)
                )
        self.assertUnchanged(correspondence_id, before)

    def test_context_key_does_not_let_a_user_mark_recipients_sent(self):
        correspondence_id = self._ready(partners=[self.anna, self.bruno])
        recipient_id = self._recipient_id(correspondence_id, self.anna)
        before = self._snapshot(correspondence_id)
        for values in (
            {"state": "sent"},
            {"state": "sent", "reason": False},
            {"reason": "Gefälscht"},
            {"send_started_at": "2020-01-01 00:00:00"},
            {"message_id": self.secret_message},
        ):
            with self.subTest(values=values):
                self.assertRefused(
                    self.plain.call(
                        "serial.correspondence.recipient",
                        "write",
                        [recipient_id],
                        values,
                        context=BYPASS_CONTEXT,
                    )
                )
        self.assertUnchanged(correspondence_id, before)

    def test_context_key_does_not_let_a_user_create_an_archived_attachment(self):
        correspondence_id = self._ready()
        datas = base64.b64encode(b"%PDF-1.4 gefaelscht").decode()
        for res in (
            {},
            {"res_model": "serial.correspondence", "res_id": correspondence_id},
        ):
            with self.subTest(res=res):
                name = f"Archiv {uuid.uuid4().hex[:8]}.pdf"
                self.assertRefused(
                    self.plain.call(
                        "ir.attachment",
                        "create",
                        dict(
                            res,
                            name=name,
                            datas=datas,
                            serial_correspondence_archived=True,
                        ),
                        context=BYPASS_CONTEXT,
                    )
                )
                self.assertFalse(
                    self.server.sql(
                        "SELECT id FROM ir_attachment WHERE name = %s", [name]
                    ),
                    "the attachment was created",
                )
        # an ordinary attachment of the user cannot be made "archived" either
        attachment_id = self.assertOk(
            self.plain.call(
                "ir.attachment",
                "create",
                {"name": f"Notiz {self.marker}.txt", "datas": datas},
            )
        )
        before = self._attachment(attachment_id)
        self.assertRefused(
            self.plain.call(
                "ir.attachment",
                "write",
                [attachment_id],
                {"serial_correspondence_archived": True},
                context=BYPASS_CONTEXT,
            )
        )
        self.assertEqual(self._attachment(attachment_id), before)

    def test_context_key_does_not_let_a_user_change_or_delete_the_archived_document(
        self,
    ):
        correspondence_id = self._finalized_letter()
        document_id = self._document_id(correspondence_id)
        self.assertTrue(document_id, "the finalized letter has a document")
        document = self._attachment(document_id)
        self.assertTrue(document[9], "the document is archived")
        before = self._snapshot(correspondence_id)
        other_id = self.assertOk(
            self.plain.call(
                "ir.attachment",
                "create",
                {
                    "name": "Fälschung.pdf",
                    "datas": base64.b64encode(b"%PDF-1.4 forged").decode(),
                    "res_model": "serial.correspondence",
                    "res_id": correspondence_id,
                },
            )
        )
        attempts = [
            ("ir.attachment", "write", [document_id], {"name": "umbenannt.pdf"}),
            (
                "ir.attachment",
                "write",
                [document_id],
                {"serial_correspondence_archived": False},
            ),
            (
                "ir.attachment",
                "write",
                [document_id],
                {"datas": base64.b64encode(b"%PDF-1.4 forged").decode()},
            ),
            ("ir.attachment", "unlink", [document_id]),
            (
                "serial.correspondence",
                "write",
                [correspondence_id],
                {"document_attachment_id": other_id},
            ),
            (
                "serial.correspondence",
                "write",
                [correspondence_id],
                {"document_checksum": "0" * 64},
            ),
        ]
        for model, method, *args in attempts:
            with self.subTest(model=model, method=method, args=args):
                self.assertRefused(
                    self.plain.call(model, method, *args, context=BYPASS_CONTEXT)
                )
        self.assertEqual(self._attachment(document_id), document)
        self.assertUnchanged(correspondence_id, before)
        verdict = self.assertOk(
            self.plain.call(
                "serial.correspondence", "action_verify_document", [correspondence_id]
            )
        )
        self.assertEqual(verdict["params"]["type"], "success", verdict)

    # ------------------------------------------------------------------
    # 2. processing-only fields are refused from clients
    # ------------------------------------------------------------------

    def _processing_values(self):
        return {
            "state": "done",
            "import_total": 99,
            "import_done": 99,
            "import_cursor": 99,
            "job_uuid": str(uuid.uuid4()),
            "send_run": 7,
            "resume_at": "2030-01-01 00:00:00",
            "waiting_reason": "Gefälscht",
            "retry_delay": 5,
            # 32 connections at once would flood the mail server
            "send_connections": 32,
            "letter_part_span": 1,
            "letter_part_window": 64,
            "letter_date": "2020-01-01",
            "letter_run": 7,
            "letter_output": "labels",
            "document_attachment_id": self._foreign_attachment(),
            "document_page_count": 9,
            "document_checksum": "0" * 64,
            "processing_user_id": 2,
            "checked_at": "2020-01-01 00:00:00",
            "stop_requested": True,
            "waiting_for_schedule": True,
            "bounced_count": 9,
            "opened_count": 9,
            "clicked_count": 9,
            "replied_count": 9,
            "storm_braked": True,
            "storm_brake_requested": True,
            "storm_counted_since": "2020-01-01 00:00:00",
        }

    def test_processing_fields_are_refused_on_create(self):
        for field, value in self._processing_values().items():
            with self.subTest(field=field):
                subject = f"{self.marker} {field}"
                answer = self._create(kind="letter", subject=subject, **{field: value})
                self.assertRefused(answer, field)
                self.assertFalse(
                    self.server.sql(
                        "SELECT id FROM serial_correspondence WHERE subject = %s",
                        [subject],
                    ),
                    f"a correspondence was created with {field}",
                )

    def test_processing_fields_are_refused_on_write(self):
        correspondence_id = self._ready(kind="letter")
        before = self._snapshot(correspondence_id)
        for field, value in self._processing_values().items():
            with self.subTest(field=field):
                self.assertRefused(
                    self.plain.call(
                        "serial.correspondence",
                        "write",
                        [correspondence_id],
                        {field: value},
                    ),
                    field,
                )
        self.assertUnchanged(correspondence_id, before)

    def test_plain_user_cannot_set_the_number_of_connections(self):
        # how many connections a serial e-mail opens (and letter parts run
        # at once) is the administrator's: Odoo's settings and system
        # parameters are refused to a plain user
        key = "serial_correspondence.send_connections"
        before = self.server.rpc("ir.config_parameter", "get_param", key)
        attempts = [
            ("ir.config_parameter", "set_param", key, "32"),
            (
                "ir.config_parameter",
                "set_param",
                "serial_correspondence.letter_parallel_parts",
                "64",
            ),
            ("res.config.settings", "create", {"serial_send_connections": 32}),
        ]
        for model, method, *args in attempts:
            with self.subTest(model=model, method=method, args=args):
                self.assertRefused(self.plain.call(model, method, *args))
        self.assertEqual(
            self.server.rpc("ir.config_parameter", "get_param", key), before
        )
        self.assertFalse(
            self.server.rpc(
                "ir.config_parameter",
                "get_param",
                "serial_correspondence.letter_parallel_parts",
            )
        )

    def _recipient_processing_values(self):
        return {
            "state": "sent",
            "reason": "Gefälscht",
            "processed_at": "2020-01-01 00:00:00",
            "send_started_at": "2020-01-01 00:00:00",
            # a claim under another sender's slot would be settled by it
            "send_slot": 3,
            "message_id": self.secret_message,
            "letter_sequence": 5,
            "letter_subject": "Gefälscht",
            "letter_edited": True,
            "letter_page_count": 3,
            "check_state": "ok",
            "check_reason": "Gefälscht",
            "bounce_type": "hard",
            "opened_at": "2020-01-01 00:00:00",
            "clicked_at": "2020-01-01 00:00:00",
            "replied_at": "2020-01-01 00:00:00",
        }

    def test_recipient_processing_fields_are_refused_on_create(self):
        correspondence_id = self._ready(kind="letter")
        before = self._snapshot(correspondence_id)
        for field, value in self._recipient_processing_values().items():
            with self.subTest(field=field):
                self.assertRefused(
                    self.plain.call(
                        "serial.correspondence.recipient",
                        "create",
                        {
                            "correspondence_id": correspondence_id,
                            "partner_id": self.bruno,
                            field: value,
                        },
                    ),
                    field,
                )
        self.assertUnchanged(correspondence_id, before)
        # the same recipient without them: a user may add a contact by hand
        self.assertOk(
            self.plain.call(
                "serial.correspondence.recipient",
                "create",
                {"correspondence_id": correspondence_id, "partner_id": self.bruno},
            )
        )
        self.assertEqual(self._recipients(correspondence_id)[self.bruno][1], "pending")

    def test_recipient_processing_fields_are_refused_on_write(self):
        correspondence_id = self._ready(kind="letter")
        other_id = self._ready(kind="letter", partners=[self.bruno])
        recipient_id = self._recipient_id(correspondence_id, self.anna)
        before = self._snapshot(correspondence_id)
        before_other = self._snapshot(other_id)
        values = self._recipient_processing_values()
        values["correspondence_id"] = other_id
        for field, value in values.items():
            with self.subTest(field=field):
                self.assertRefused(
                    self.plain.call(
                        "serial.correspondence.recipient",
                        "write",
                        [recipient_id],
                        {field: value},
                    ),
                    field,
                )
        self.assertUnchanged(correspondence_id, before)
        self.assertUnchanged(other_id, before_other)

    def test_foreign_attachment_is_refused_as_document_and_survives_regenerating(self):
        foreign_id = self._foreign_attachment()
        foreign = self._attachment(foreign_id)
        correspondence_id = self._generated()
        written = self.plain.call(
            "serial.correspondence",
            "write",
            [correspondence_id],
            {"document_attachment_id": foreign_id},
        )
        # generate again: the old document goes, never someone else's file
        self._generated(correspondence_id=correspondence_id)
        self.assertEqual(
            self._attachment(foreign_id),
            foreign,
            "admin's attachment was deleted or changed by generating again",
        )
        self.assertRefused(written, "another record's attachment as document")
        document_id = self._document_id(correspondence_id)
        self.assertEqual(
            self._attachment(document_id)[6:8],
            ("serial.correspondence", correspondence_id),
            "the document is the correspondence's own",
        )

    def test_other_company_attachment_is_refused_as_document_and_never_archived(self):
        foreign_id = self._foreign_attachment(company=self.company2)
        foreign = self._attachment(foreign_id)
        created = self._create(kind="letter", document_attachment_id=foreign_id)
        correspondence_id = self._generated()
        written = self.plain.call(
            "serial.correspondence",
            "write",
            [correspondence_id],
            {"document_attachment_id": foreign_id},
        )
        self.assertOk(
            self.plain.call(
                "serial.correspondence", "action_finalize", [correspondence_id]
            )
        )
        self.assertEqual(
            self._attachment(foreign_id),
            foreign,
            "company 2's attachment was archived, renamed or deleted by finalizing",
        )
        self.assertRefused(created, "create with another company's attachment")
        self.assertRefused(written, "write another company's attachment")
        document_id = self._document_id(correspondence_id)
        self.assertEqual(
            self._attachment(document_id)[6:8],
            ("serial.correspondence", correspondence_id),
        )

    # ------------------------------------------------------------------
    # 3. code in the subject does not run
    # ------------------------------------------------------------------

    def test_unreadable_attachment_is_refused_as_email_attachment(self):
        """``attachment_ids``: a file of company 2 (or another user's
        unattached upload) never goes out with a serial e-mail."""
        foreign_id = self._foreign_attachment(company=self.company2)
        loose_id = self.server.rpc(
            "ir.attachment",
            "create",
            {"name": "Lose.txt", "datas": base64.b64encode(b"lose").decode()},
        )
        correspondence_id = self._ready()
        for commands in (
            [(4, foreign_id)],
            [(6, 0, [foreign_id])],
            [(4, loose_id)],
        ):
            with self.subTest(commands=commands):
                self.assertRefused(
                    self.plain.call(
                        "serial.correspondence",
                        "write",
                        [correspondence_id],
                        {"attachment_ids": commands},
                        context={"serial_correspondence_internal": True},
                    ),
                    "an unreadable attachment linked to the e-mails",
                )
                self.assertRefused(
                    self.plain.call(
                        "serial.correspondence",
                        "create",
                        {
                            "kind": "email",
                            "partner_domain": repr([("id", "=", self.anna)]),
                            "attachment_ids": commands,
                        },
                    ),
                    "an unreadable attachment on create",
                )
        self.assertEqual(
            self.server.sql(
                "SELECT attachment_id FROM serial_correspondence_ir_attachment_rel "
                "WHERE attachment_id IN %s",
                [(foreign_id, loose_id)],
            ),
            [],
        )
        # nor can another company's user send a test e-mail of it
        self.assertRefused(
            self.other.call(
                "serial.correspondence",
                "action_send_test",
                [correspondence_id],
                "angreifer@example.com",
            ),
            "a test e-mail of another company's correspondence",
        )

    def _attack_with_subject(self, kind, subject, on="create"):
        """Set ``subject`` (on create or by a write), then *Send e-mails* /
        *Generate letters*; whatever is refused, wait until nothing runs.
        Every step is logged: the attack may end at any of them."""
        action = "action_send" if kind == "email" else "action_generate"
        if on == "create":
            answer = self._create(kind=kind, subject=subject)
            _logger.info("subject attack, create: %r", answer)
            if not answer.ok:
                return answer
            correspondence_id = answer.result
            self._settle(correspondence_id, TIMEOUT_IMPORT)
        else:
            correspondence_id = self._ready(kind=kind)
            answer = self.plain.call(
                "serial.correspondence",
                "write",
                [correspondence_id],
                {"subject": subject},
            )
            _logger.info("subject attack, write: %r", answer)
            if not answer.ok:
                return answer
        answer = self.plain.call("serial.correspondence", action, [correspondence_id])
        _logger.info("subject attack, %s: %r", action, answer)
        if answer.ok:
            self._settle(correspondence_id, TIMEOUT_LETTERS)
            _logger.info(
                "subject attack, outcome: %s %s",
                self._progress(correspondence_id)[0],
                self._recipients(correspondence_id),
            )
        return answer

    def test_code_in_the_subject_does_not_run_when_sending(self):
        group = self.group["base.group_system"]
        self._attack_with_subject(
            "email",
            f"{{{{ user.sudo().write({{'groups_id': [(4, {group})]}}) }}}}"
            f" {self.marker}",
        )
        self.assertNotAdministrator()

    def test_code_in_the_subject_does_not_run_when_generating_letters(self):
        group = self.group["base.group_erp_manager"]
        self._attack_with_subject(
            "letter",
            f"{{{{ object.env.user.write({{'groups_id': [(4, {group})]}}) }}}}"
            f" {self.marker}",
            on="write",
        )
        self.assertNotAdministrator()

    def test_qweb_code_in_the_subject_does_not_run(self):
        group = self.group["base.group_system"]
        subject = (
            f'<t t-out="object.env.user.sudo().write('
            f"{{'groups_id': [(4, {group})]}})\"/>"
            f" {{{{ object.env['res.groups'].browse({group}).sudo().write("
            f"{{'users': [(4, {self.plain_uid})]}}) }}}} {self.marker}"
        )
        self._attack_with_subject("email", subject, on="write")
        self.assertNotAdministrator()

    # ------------------------------------------------------------------
    # 4. templates must be on contacts
    # ------------------------------------------------------------------

    def test_template_on_another_model_is_refused(self):
        count = self._correspondence_count()
        self.assertRefused(self._create(template_id=self.users_template), "create")
        self.assertEqual(self._correspondence_count(), count)
        correspondence_id = self._ready()
        before = self._snapshot(correspondence_id)
        self.assertRefused(
            self.plain.call(
                "serial.correspondence",
                "write",
                [correspondence_id],
                {"template_id": self.users_template},
            ),
            "write",
        )
        self.assertUnchanged(correspondence_id, before)

    # ------------------------------------------------------------------
    # 5. the contact filter is data
    # ------------------------------------------------------------------

    def _assert_filter_refused(self, domain):
        last_id = self._max_correspondence_id()
        answer = self._create(partner_domain=domain)
        for (new_id,) in self.server.sql(
            "SELECT id FROM serial_correspondence WHERE id > %s", [last_id]
        ):
            self._settle(new_id, TIMEOUT_IMPORT)
        self.assertRefused(answer, domain)
        self.assertEqual(self._max_correspondence_id(), last_id, "a record was created")
        return answer.error

    def test_contact_filter_code_cannot_make_the_user_an_administrator(self):
        system = self.group["base.group_system"]
        manager = self.group["base.group_erp_manager"]
        # each a valid domain once evaluated: write() returns True
        for domain in (
            f"[('active', '=', user.write({{'groups_id': [(4, {system})]}}))]",
            f"[('active', '=', user.env.ref('base.group_system').write("
            f"{{'users': [(4, {self.plain_uid})]}}))]",
            f"[('id', '!=', user.sudo().write({{'groups_id': [(4, {manager})]}})"
            " and 0)]",
        ):
            with self.subTest(domain=domain):
                self._assert_filter_refused(domain)
                self.assertNotAdministrator()
                self._reset_plain_user()

    def test_contact_filter_with_names_or_calls_is_refused(self):
        for domain in (
            "[('id', 'in', user.env['res.users'].search([]).ids)]",
            "__import__('os').getcwd()",
            "[('create_uid', '=', uid)]",
            "[('create_date', '<=', context_today())]",
            "[('name', '=', user.name)]",
            "[('id', '=', company_id)]",
            "[('id', 'in', [p.id for p in [1, 2]])]",
        ):
            with self.subTest(domain=domain):
                self._assert_filter_refused(domain)
        self.assertNotAdministrator()

    def test_literal_contact_filter_still_works(self):
        for domain in (
            "[('email', 'ilike', 'sicher.example.com')]",
            "['&', ('email', 'ilike', 'sicher.example.com'),"
            " '!', ('name', '=', False)]",
        ):
            with self.subTest(domain=domain):
                correspondence_id = self._ready(partner_domain=domain)
                self.assertEqual(
                    set(self._recipients(correspondence_id)), set(self.sicher)
                )

    def test_contact_filter_on_an_unknown_field_is_refused_with_a_clear_error(self):
        error = self._assert_filter_refused("[('no_such_field', '=', 1)]")
        self.assertIn("no_such_field", error)

    # ------------------------------------------------------------------
    # 6. only contacts the user may read
    # ------------------------------------------------------------------

    def test_import_reads_only_contacts_the_user_may_read(self):
        correspondence_id = self._ready(
            partner_domain="[('city', 'ilike', 'Sicherstadt')]"
        )
        self.assertEqual(set(self._recipients(correspondence_id)), set(self.sicher))

    def test_recipient_for_an_unreadable_contact_is_refused(self):
        correspondence_id = self._ready()
        before = self._snapshot(correspondence_id)
        self.assertRefused(
            self.plain.call(
                "serial.correspondence.recipient",
                "create",
                {
                    "correspondence_id": correspondence_id,
                    "partner_id": self.secret_partner,
                },
            )
        )
        self.assertUnchanged(correspondence_id, before)
        self.assertNotIn(self.secret_partner, self._recipients(correspondence_id))

    def test_recipient_fields_never_show_an_unreadable_contact(self):
        correspondence_id = self._ready()
        # the contact was moved to company 2 after the recipients were read
        [(recipient_id,)] = self.server.sql(
            """
            INSERT INTO serial_correspondence_recipient
                (correspondence_id, partner_id, company_id, state,
                 create_uid, create_date, write_uid, write_date)
            VALUES (%s, %s, %s, 'pending', 1, now() AT TIME ZONE 'UTC',
                    1, now() AT TIME ZONE 'UTC')
            RETURNING id
            """,
            [correspondence_id, self.secret_partner, self.company1],
        )
        fields = ["partner_id", "email", "zip", "city", "country_id", "letter_address"]
        answers = [
            self.plain.call(
                "serial.correspondence.recipient",
                "search_read",
                [("correspondence_id", "=", correspondence_id)],
                fields=fields,
            ),
            self.plain.call(
                "serial.correspondence.recipient", "read", [recipient_id], fields
            ),
        ]
        answers += [
            self.plain.call(
                "serial.correspondence.recipient", "read", [recipient_id], [field]
            )
            for field in fields[1:]
        ]
        for answer in answers:
            with self.subTest(answer=answer.what):
                if not answer.ok:
                    continue  # refused: nothing shown
                text = json.dumps(answer.result, ensure_ascii=False)
                for key, value in self.secret.items():
                    self.assertNotIn(value, text, f"the contact's {key} is shown")
                for row in answer.result:
                    country = row.get("country_id")
                    self.assertFalse(
                        country and country[0] == self.at,
                        "the contact's country is shown",
                    )

    # ------------------------------------------------------------------
    # 7. other companies, other users
    # ------------------------------------------------------------------

    def test_user_of_another_company_cannot_see_or_change_a_correspondence(self):
        correspondence_id = self._ready()
        before = self._snapshot(correspondence_id)
        Model = "serial.correspondence"
        self.assertEqual(
            self.assertOk(
                self.other.call(Model, "search", [("id", "=", correspondence_id)])
            ),
            [],
        )
        self.assertEqual(self.assertOk(self.other.call(Model, "search_read", [])), [])
        for method, args in (
            ("read", [[correspondence_id], ["subject", "partner_domain"]]),
            ("write", [[correspondence_id], {"subject": "Übernommen"}]),
            ("write", [[correspondence_id], {"company_id": self.company2}]),
            ("action_send", [[correspondence_id]]),
            ("action_finalize", [[correspondence_id]]),
            ("copy", [[correspondence_id]]),
            ("unlink", [[correspondence_id]]),
        ):
            with self.subTest(method=method):
                self.assertRefused(self.other.call(Model, method, *args))
        self.assertUnchanged(correspondence_id, before)

    def test_user_of_another_company_cannot_see_or_change_recipients(self):
        correspondence_id = self._ready()
        recipient_id = self._recipient_id(correspondence_id, self.anna)
        before = self._snapshot(correspondence_id)
        Model = "serial.correspondence.recipient"
        self.assertEqual(
            self.assertOk(
                self.other.call(
                    Model,
                    "search_read",
                    [("correspondence_id", "=", correspondence_id)],
                )
            ),
            [],
        )
        for method, args in (
            ("read", [[recipient_id], ["email", "zip", "city"]]),
            ("write", [[recipient_id], {"letter_body": "<p>Übernommen</p>"}]),
            ("action_allow_resend", [[recipient_id]]),
            ("unlink", [[recipient_id]]),
            (
                "create",
                [
                    {
                        "correspondence_id": correspondence_id,
                        "partner_id": self.secret_partner,
                    }
                ],
            ),
        ):
            with self.subTest(method=method):
                self.assertRefused(self.other.call(Model, method, *args))
        self.assertUnchanged(correspondence_id, before)

    def test_user_cannot_create_a_correspondence_in_another_company(self):
        count = self._correspondence_count()
        self.assertRefused(self._create(company_id=self.company2), "company_id")
        self.assertRefused(
            self._create(
                company_id=self.company2,
                context={"allowed_company_ids": [self.company2, self.company1]},
            ),
            "allowed_company_ids",
        )
        self.assertEqual(self._correspondence_count(), count)

    def test_colleague_cannot_allow_resend_of_another_users_recipient(self):
        correspondence_id = self._ready()
        recipient_id = self._recipient_id(correspondence_id, self.anna)
        before = self._snapshot(correspondence_id)
        Model = "serial.correspondence.recipient"
        self.assertRefused(
            self.colleague.call(Model, "action_allow_resend", [recipient_id])
        )
        self.assertRefused(
            self.colleague.call(Model, "read", [recipient_id], ["reason"])
        )
        self.assertRefused(
            self.colleague.call(
                "serial.correspondence",
                "write",
                [correspondence_id],
                {"subject": "Meins"},
            )
        )
        self.assertUnchanged(correspondence_id, before)

    def test_colleague_cannot_stop_another_users_sending(self):
        correspondence_id = self._ready(scheduled_at="2099-01-01 00:00:00")
        self.assertOk(
            self.plain.call("serial.correspondence", "action_send", [correspondence_id])
        )
        self._wait_state(correspondence_id, ("waiting",), TIMEOUT_SEND, "the plan")
        before = self._snapshot(correspondence_id)
        self.assertRefused(
            self.colleague.call(
                "serial.correspondence", "action_stop", [correspondence_id]
            )
        )
        self.assertUnchanged(correspondence_id, before)
        # the user who sent it may stop it
        self.assertOk(
            self.plain.call("serial.correspondence", "action_stop", [correspondence_id])
        )
        self._wait_state(correspondence_id, ("ready",), TIMEOUT_SEND, "the stop")

    # ------------------------------------------------------------------
    # 8. the public visitor
    # ------------------------------------------------------------------

    def test_public_visitor_cannot_call_the_models(self):
        correspondence_id = self._ready()
        before = self._snapshot(correspondence_id)
        count = self._correspondence_count()
        visitor = JsonRpcClient(self.server.url, self.server.db_name)
        attempts = [
            ("serial.correspondence", "search_read", []),
            ("serial.correspondence", "read", [correspondence_id], ["subject"]),
            (
                "serial.correspondence",
                "create",
                {"kind": "email", "partner_domain": "[]", "subject": "Öffentlich"},
            ),
            ("serial.correspondence", "write", [correspondence_id], {"subject": "X"}),
            ("serial.correspondence", "action_send", [correspondence_id]),
            ("serial.correspondence", "unlink", [correspondence_id]),
            ("serial.correspondence.recipient", "search_read", []),
            ("res.partner", "search_read", [("email", "!=", False)]),
        ]
        for model, method, *args in attempts:
            with self.subTest(model=model, method=method):
                self.assertRefused(visitor.call(model, method, *args))
        self.assertEqual(self._correspondence_count(), count)
        self.assertUnchanged(correspondence_id, before)

    @classmethod
    def _unsubscribe_links(cls):
        """{partner id: unsubscribe link} out of a real advertising e-mail to
        Ute, Bernd and Carla (sent once, by admin)."""
        if cls._links is not None:
            return cls._links
        marker = f"[Werbung {uuid.uuid4().hex[:6]}]"
        partners = [cls.ute, cls.bernd, cls.carla]
        rpc = cls.server.rpc
        correspondence_id = rpc(
            "serial.correspondence",
            "create",
            {
                "kind": "email",
                "purpose": "advertising",
                "subject": f"Angebot {marker}",
                "template_id": cls.template,
                "partner_domain": repr([("id", "in", partners)]),
            },
        )
        cls.server.wait_for(
            lambda: cls.server.sql_value(
                "SELECT state = 'ready' FROM serial_correspondence WHERE id = %s",
                [correspondence_id],
            ),
            TIMEOUT_IMPORT,
            "the advertising e-mail's recipients",
        )
        rpc("serial.correspondence", "action_send", [correspondence_id])
        cls.server.wait_for(
            lambda: cls.server.sql_value(
                "SELECT state IN %s FROM serial_correspondence WHERE id = %s",
                [EMAIL_OUTCOMES, correspondence_id],
            ),
            TIMEOUT_SEND,
            "the advertising e-mail to be sent",
        )
        emails = {
            email: partner_id
            for partner_id, email in cls.server.sql(
                "SELECT id, lower(email) FROM res_partner WHERE id IN %s",
                [tuple(partners)],
            )
        }
        links = {}
        for address, message in deliveries(cls.sink):
            if marker not in str(message["Subject"] or "") or address not in emails:
                continue
            header = str(message["List-Unsubscribe"] or "")
            match = re.search(r"<(https?://[^>]+)>", header)
            if not match:
                body = message.get_body(preferencelist=("html",)).get_content()
                match = re.search(r'href="(https?://[^"]*unsubscribe[^"]*)"', body)
            if match:
                links[emails[address]] = match.group(1).replace("&amp;", "&")
        if set(links) != set(partners):
            raise E2EError(f"no unsubscribe link for every contact: {links}")
        cls._links = links
        return links

    def _local(self, link):
        """The link, on this test's server (whatever web.base.url says)."""
        parts = urlsplit(link)
        return urlunsplit(("http", urlsplit(self.server.url).netloc, *parts[2:]))

    def _consents(self, partner_ids):
        return dict(
            self.server.sql(
                "SELECT id, email_advertising_consent FROM res_partner WHERE id IN %s",
                [tuple(partner_ids)],
            )
        )

    def _blacklisted(self, *emails):
        """Which of ``emails`` are blacklisted."""
        return {
            email
            for (email,) in self.server.sql(
                "SELECT email FROM mail_blacklist WHERE active AND email IN %s",
                [emails],
            )
        }

    def _assert_link_refused(self, link):
        """GET (the page), POST one-click (RFC 8058) and POST with "block
        every e-mail": all forbidden."""
        url = self._local(link)
        for method, data in (
            ("GET", None),
            ("POST", {"List-Unsubscribe": "One-Click"}),
            ("POST", {"blacklist": "1"}),
        ):
            with self.subTest(link=link, method=method, data=data):
                response = requests.request(
                    method, url, data=data, timeout=60, allow_redirects=False
                )
                self.assertEqual(response.status_code, 403, f"{method} {url}")

    def test_unsubscribe_link_with_a_tampered_token_changes_nothing(self):
        links = self._unsubscribe_links()
        link = links[self.ute]
        consents = self._consents([self.ute, self.bernd])
        self.assertEqual(set(consents.values()), {"granted"})
        # the real link is one (it shows the confirmation page)
        response = requests.get(self._local(link), timeout=60, allow_redirects=False)
        self.assertEqual(response.status_code, 200, link)
        token = token_of(link)
        for tampered in (token[:-1] + flip(token[-1]), flip(token[0]) + token[1:], "x"):
            self._assert_link_refused(with_token(link, tampered))
        # the signed numbers of the link (its expiry), moved on
        for moved in with_numbers_moved(link, self.ute):
            self._assert_link_refused(moved)
        self.assertEqual(self._consents([self.ute, self.bernd]), consents)
        self.assertFalse(
            self._blacklisted("ute@abo.example.net", "bernd@abo.example.net")
        )

    def test_unsubscribe_link_with_another_contacts_token_changes_nothing(self):
        links = self._unsubscribe_links()
        consents = self._consents([self.ute, self.bernd])
        self.assertEqual(set(consents.values()), {"granted"})
        ute_link, bernd_link = links[self.ute], links[self.bernd]
        # Bernd's token on Ute's link
        swapped = [with_token(ute_link, token_of(bernd_link))]
        # Ute's token with Bernd's id
        other_id = with_partner(ute_link, self.ute, self.bernd)
        if other_id:
            swapped.append(other_id)
        for link in swapped:
            self.assertNotIn(link, links.values())
            self._assert_link_refused(link)
        self.assertEqual(self._consents([self.ute, self.bernd]), consents)
        self.assertFalse(
            self._blacklisted("ute@abo.example.net", "bernd@abo.example.net")
        )

    def test_unsubscribe_link_sent_to_a_former_address_changes_nothing(self):
        link = self._unsubscribe_links()[self.carla]
        self.server.rpc(
            "res.partner", "write", [self.carla], {"email": "carla.neu@abo.example.net"}
        )
        # the link is bound to the address it was sent to: whoever reads the
        # old mailbox now cannot unsubscribe the contact's new address
        self._assert_link_refused(link)
        self.assertEqual(self._consents([self.carla])[self.carla], "granted")
        self.assertFalse(
            self._blacklisted("carla@abo.example.net", "carla.neu@abo.example.net")
        )

    # ------------------------------------------------------------------
    # 9. stored XSS
    # ------------------------------------------------------------------

    def test_edited_letter_text_is_sanitized(self):
        correspondence_id = self._generated()
        recipient_id = self._recipient_id(correspondence_id, self.anna)
        self.assertOk(
            self.plain.call(
                "serial.correspondence.recipient",
                "write",
                [recipient_id],
                {"letter_body": LETTER_XSS},
            )
        )
        body = self.server.sql_value(
            "SELECT letter_body FROM serial_correspondence_recipient WHERE id = %s",
            [recipient_id],
        )
        self.assertIn("Bearbeitet", body)
        self.assertNotIn("onerror", body.lower())
        self.assertNotIn("<script", body.lower())

    def test_email_copy_in_the_contact_history_is_sanitized(self):
        correspondence_id = self._sent(
            partners=[self.xaver], template_id=self.xss_template
        )
        [(_rid, state, _reason)] = self._recipients(correspondence_id).values()
        self.assertEqual(state, "sent")
        rows = self.server.sql(
            "SELECT body FROM mail_message WHERE model = 'res.partner' AND res_id = %s"
            " AND message_type = 'email_outgoing' AND subject LIKE %s",
            [self.xaver, f"%{self.marker}%"],
        )
        self.assertEqual(
            len(rows), 1, "one copy of the e-mail in the contact's history"
        )
        body = rows[0][0]
        self.assertIn("Kommentar-Marker", body, "the contact's notes were rendered")
        self.assertNotIn("onerror", body.lower())
        self.assertNotIn("<script", body.lower())

    # ------------------------------------------------------------------
    # 10. more of our own
    # ------------------------------------------------------------------

    def test_contacts_action_with_code_in_the_active_domain_grants_nothing(self):
        action_id = self._xmlid(
            "serial_correspondence.res_partner_action_create_serial_email"
        )
        system = self.group["base.group_system"]
        code = f"user.write({{'groups_id': [(4, {system})]}})"
        for active_domain in (
            f"[('id', '=', {code})]",
            [["id", "=", self.anna], ["name", "!=", f"x') or {code} or ('"]],
            [["id", "=", self.anna], ["name", "!=", f"{{{{ {code} }}}}"]],
        ):
            with self.subTest(active_domain=active_domain):
                last_id = self._max_correspondence_id()
                answer = self.plain.run_action(
                    action_id,
                    {
                        "active_model": "res.partner",
                        "active_id": self.anna,
                        "active_ids": [self.anna],
                        "active_domain": active_domain,
                    },
                )
                _logger.info("contacts action: %r", answer)
                for (new_id,) in self.server.sql(
                    "SELECT id FROM serial_correspondence WHERE id > %s", [last_id]
                ):
                    self._settle(new_id, TIMEOUT_IMPORT)
                    self.assertLessEqual(set(self._recipients(new_id)), {self.anna})
                self.assertNotAdministrator()

    def test_letter_parts_are_not_readable_by_a_plain_user(self):
        correspondence_id = self._generated()
        self.assertRefused(
            self.plain.call(
                "serial.correspondence",
                "read",
                [correspondence_id],
                ["letter_part_ids"],
            )
        )
        self.assertRefused(
            self.plain.call("serial.correspondence.letter.part", "search_read", [])
        )

    # ------------------------------------------------------------------
    # 11. what a plain user does every day still works
    # ------------------------------------------------------------------

    def test_plain_user_sends_a_serial_email_end_to_end(self):
        correspondence_id = self._sent(partners=self.sicher)
        recipients = self._recipients(correspondence_id)
        self.assertEqual(
            {partner: row[1] for partner, row in recipients.items()},
            dict.fromkeys(self.sicher, "sent"),
        )
        names = dict(
            self.server.sql(
                "SELECT lower(email), name FROM res_partner WHERE id IN %s",
                [tuple(self.sicher)],
            )
        )
        received = self._messages_with(self.marker)
        self.assertEqual(sorted(address for address, _m in received), sorted(names))
        for address, message in received:
            name = names[address]
            self.assertIn(f"Hallo {name}", str(message["Subject"]))
            body = message.get_body(preferencelist=("html",)).get_content()
            self.assertIn(f"Hallo {name}, Neuigkeiten aus Sicherstadt", body)

    def test_plain_user_generates_a_serial_letter_end_to_end(self):
        correspondence_id = self._generated(partners=self.sicher)
        recipients = self._recipients(correspondence_id)
        self.assertEqual(
            {partner: row[1] for partner, row in recipients.items()},
            dict.fromkeys(self.sicher, "created"),
        )
        [values] = self.assertOk(
            self.plain.call(
                "serial.correspondence",
                "read",
                [correspondence_id],
                ["state", "document_attachment_id"],
            )
        )
        self.assertEqual(values["state"], "created")
        self.assertTrue(values["document_attachment_id"])
        document = self._attachment(values["document_attachment_id"][0])
        self.assertEqual(document[5], "application/pdf")
        self.assertEqual(document[6:8], ("serial.correspondence", correspondence_id))
        self.assertGreater(document[4], 1000)

    # ------------------------------------------------------------------
    # 12. tracking links (opens and clicks, opt-in)
    # ------------------------------------------------------------------

    def test_tracking_links_with_a_forged_token_record_nothing(self):
        template = self.server.rpc(
            "mail.template",
            "create",
            {
                "name": f"Verfolgt {self.marker}",
                "model_id": self._model_id("res.partner"),
                "body_html": '<p>Hallo <t t-out="object.name"/>: '
                '<a href="https://shop.example.com/angebot">Angebot</a></p>',
            },
        )
        correspondence_id = self._sent(
            partners=[self.anna, self.bruno],
            template_id=template,
            tracking_enabled=True,
        )
        recipients = self._recipients(correspondence_id)
        anna_id, bruno_id = recipients[self.anna][0], recipients[self.bruno][0]
        links = {}
        for address, message in self._messages_with(self.marker):
            body = message.get_body(preferencelist=("html",)).get_content()
            pixel = re.search(r'<img src="([^"]*/blank\.gif)"', body).group(1)
            click = re.search(r'href="([^"]*/r/[^"]*/sc/[^"]*)"', body).group(1)
            links[address] = (pixel, click)
        anna = links["anna@sicher.example.com"]
        bruno = links["bruno@sicher.example.com"]

        def token(link):
            return re.search(r"/([0-9a-f]{64})(?:/|$)", link).group(1)

        forged = []
        for link, other in zip(anna, bruno, strict=True):
            real = token(link)
            forged += [
                link.replace(real, real[:-1] + flip(real[-1])),
                link.replace(real, flip(real[0]) + real[1:]),
                link.replace(real, "x"),
                # Bruno's token on Anna's link, Anna's token with Bruno's id
                link.replace(real, token(other)),
                link.replace(f"/{anna_id}/", f"/{bruno_id}/"),
            ]
        clicks = self.server.sql_value("SELECT count(*) FROM link_tracker_click")

        def tracked():
            return self.server.sql(
                "SELECT id FROM serial_correspondence_recipient"
                " WHERE correspondence_id = %s"
                " AND (opened_at IS NOT NULL OR clicked_at IS NOT NULL)",
                [correspondence_id],
            )

        for link in forged:
            with self.subTest(link=link):
                response = requests.get(
                    self._local(link), timeout=60, allow_redirects=False
                )
                # answered as a real one is: nothing tells a forged token
                if link.endswith("blank.gif"):
                    self.assertEqual(response.status_code, 200)
                    self.assertEqual(response.headers["Content-Type"], "image/gif")
                else:
                    self.assertEqual(response.status_code, 301)
                    self.assertEqual(
                        response.headers["Location"], "https://shop.example.com/angebot"
                    )
        self.assertEqual(tracked(), [])
        self.assertEqual(
            self.server.sql_value("SELECT count(*) FROM link_tracker_click"), clicks
        )
        # the real pixel still records, and only its recipient's open
        requests.get(self._local(anna[0]), timeout=60).raise_for_status()
        self.assertEqual(tracked(), [(anna_id,)])

    def test_forged_bounce_or_reply_over_rpc_marks_nobody(self):
        """message_process and message_post are callable over JSON-RPC: a
        plain user feeding a forged delivery report, or posting an "email"
        answering the copy of a serial e-mail, neither bounces nor counts a
        reply (the mail gateway runs as an administrator)."""
        correspondence_id = self._sent(partners=[self.anna])
        recipient_id = self._recipients(correspondence_id)[self.anna][0]
        [(message_id, message_ref)] = self.server.sql(
            "SELECT m.id, m.message_id FROM serial_correspondence_recipient r"
            " JOIN mail_message m ON m.id = r.message_id WHERE r.id = %s",
            [recipient_id],
        )
        report = (
            "From: MAILER-DAEMON@mx.example.net\r\n"
            "To: bounce@sicher.example.com\r\n"
            "Subject: Undelivered Mail Returned to Sender\r\n"
            f"Message-Id: <forged-{self.marker}@mx.example.net>\r\n"
            "MIME-Version: 1.0\r\n"
            "Content-Type: multipart/report; report-type=delivery-status;"
            ' boundary="b"\r\n\r\n'
            "--b\r\nContent-Type: text/plain\r\n\r\nUser unknown\r\n"
            "--b\r\nContent-Type: message/delivery-status\r\n\r\n"
            "Reporting-MTA: dns; mx.example.net\r\n\r\n"
            "Final-Recipient: rfc822; anna@sicher.example.com\r\n"
            "Action: failed\r\nStatus: 5.1.1\r\n"
            "Diagnostic-Code: smtp; 550 5.1.1 User unknown\r\n"
            "--b\r\nContent-Type: text/rfc822-headers\r\n\r\n"
            f"Message-Id: {message_ref}\r\n"
            "To: anna@sicher.example.com\r\n"
            "--b--\r\n"
        )
        # whether Odoo routes it or refuses it, our bookkeeping stays put
        self.plain.call("mail.thread", "message_process", False, report)
        self.plain.call(
            "res.partner",
            "message_post",
            [self.anna],
            body="Ja, gern.",
            message_type="email",
            parent_id=message_id,
        )
        self.assertEqual(
            self.server.sql(
                "SELECT state, bounce_type, replied_at"
                " FROM serial_correspondence_recipient WHERE id = %s",
                [recipient_id],
            ),
            [("sent", None, None)],
        )
