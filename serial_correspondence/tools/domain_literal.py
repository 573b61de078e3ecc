# Copyright 2026 serial_correspondence authors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""A contact filter is data, not code.

:func:`parse_domain_literal` reads a domain written as a Python literal:
lists, tuples, strings, numbers, booleans, ``None`` and the operators
``&``, ``|``, ``!`` only. Names (``uid``, ``user``), calls, attributes,
subscripts, comprehensions and every other expression are refused before
anything is evaluated: nothing of the text ever runs (no ``safe_eval``).
"""

import ast

DOMAIN_OPERATORS = ("&", "|", "!")
# a filter that selects by ids lists them: allow large lists, not megabytes
MAX_LENGTH = 2_000_000


class DomainLiteralError(ValueError):
    """The text is not a domain literal."""


def _literal(node):
    if isinstance(node, ast.Constant):
        value = node.value
        if value is None or isinstance(value, bool | int | float | str):
            return value
        raise DomainLiteralError(f"{type(value).__name__} values are not allowed")
    if isinstance(node, ast.List):
        return [_literal(element) for element in node.elts]
    if isinstance(node, ast.Tuple):
        return tuple(_literal(element) for element in node.elts)
    if (
        isinstance(node, ast.UnaryOp)
        and isinstance(node.op, ast.USub | ast.UAdd)
        and isinstance(node.operand, ast.Constant)
        and isinstance(node.operand.value, int | float)
        and not isinstance(node.operand.value, bool)
    ):
        value = node.operand.value
        return -value if isinstance(node.op, ast.USub) else value
    if isinstance(node, ast.Name):
        raise DomainLiteralError(f"names such as '{node.id}' are not allowed")
    if isinstance(node, ast.Call):
        raise DomainLiteralError("function calls are not allowed")
    raise DomainLiteralError(f"'{type(node).__name__}' expressions are not allowed")


def parse_domain_literal(text):
    """Return the domain written in ``text`` as a list of conditions.

    Raises :class:`DomainLiteralError` when ``text`` is anything but a list
    of literal conditions (``(field, operator, value)``) and operators."""
    if not isinstance(text, str):
        raise DomainLiteralError("a domain is given as text")
    if len(text) > MAX_LENGTH:
        raise DomainLiteralError("the filter is too long")
    try:
        node = ast.parse(text.strip(), mode="eval").body
    except SyntaxError as error:
        raise DomainLiteralError(
            f"it is not a list of conditions ({error.msg})"
        ) from error
    domain = _literal(node)
    if not isinstance(domain, list | tuple):
        raise DomainLiteralError("a domain is a list of conditions")
    domain = list(domain)
    for term in domain:
        if isinstance(term, str):
            if term not in DOMAIN_OPERATORS:
                raise DomainLiteralError(f"'{term}' is not a domain operator")
        elif not (
            isinstance(term, list | tuple)
            and len(term) == 3
            and isinstance(term[0], str | int)
            and isinstance(term[1], str)
        ):
            raise DomainLiteralError(
                f"{term!r} is not a condition (field, operator, value)"
            )
    return domain
