"""Texts that processing stores for people to read later: each viewer reads
them in their own language.

A job runs in the language of the user who started it, but the reason a
recipient was excluded, why sending waits or what the check found is read
later by anybody. Those fields are translated fields (``translate=True``,
one JSONB value per language) and processing writes them in every installed
language at once: the message is a lazy translation (``_lt``) with its
parameters, turned into a ``Text`` by ``in_all_languages``.

``Text`` is hashable (outcomes are grouped by their reason) and is written
with ``write_text`` or passed to SQL with ``Text.jsonb()``.
"""

from psycopg2.extras import Json

from odoo.tools import SQL


class Text(tuple):
    """A text in every installed language: ``((lang, text), ...)``."""

    __slots__ = ()

    def get(self, lang):
        """The text in ``lang``, else in English, else in any language."""
        translations = dict(self)
        return (
            translations.get(lang)
            or translations.get("en_US")
            or next(iter(translations.values()), "")
        )

    def jsonb(self):
        """The value of a translated field's column."""
        return Json(dict(self))


def languages(env):
    """The installed languages, English always among them (the ORM falls back
    to it)."""
    codes = {code for code, _name in env["res.lang"].get_installed()}
    return sorted(codes | {"en_US"})


class Translator:
    """Makes ``Text``s in every installed language (the environments per
    language made once, for many texts)."""

    def __init__(self, env):
        self._envs = [
            (lang, env(context=dict(env.context, lang=lang))) for lang in languages(env)
        ]

    def __call__(self, message):
        """``message`` as a ``Text``: a lazy translation with its parameters
        (``_lt(...)``), or a function that makes the text in the language of
        the environment it is given."""
        return Text(
            (lang, message(env) if callable(message) else env._(message))
            for lang, env in self._envs
        )


def in_all_languages(env, message):
    """``message`` (see ``Translator``) as a ``Text``."""
    return Translator(env)(message)


def write_text(records, field_name, text):
    """Store ``text`` (a ``Text``, or False to clear) in the translated field
    ``field_name`` of ``records``, in every language at once."""
    if not records:
        return
    assert records._fields[field_name].translate, field_name
    records.flush_recordset([field_name])
    records.env.cr.execute(
        SQL(
            "UPDATE %s SET %s = %s WHERE id = ANY(%s)",
            SQL.identifier(records._table),
            SQL.identifier(field_name),
            text.jsonb() if text else None,
            records.ids,
        )
    )
    records.invalidate_recordset([field_name])


def stored_texts(records, field_name):
    """``{id: Text}`` of the translated field ``field_name`` as stored (all
    languages), for copying it to another field."""
    records.flush_recordset([field_name])
    records.env.cr.execute(
        SQL(
            "SELECT id, %s FROM %s WHERE id = ANY(%s) AND %s IS NOT NULL",
            SQL.identifier(field_name),
            SQL.identifier(records._table),
            records.ids,
            SQL.identifier(field_name),
        )
    )
    return {
        record_id: Text(sorted(value.items()))
        for record_id, value in records.env.cr.fetchall()
    }
