"""The addon's settings (system parameters ``serial_correspondence.*``), read
in one place: a missing, empty or malformed value (also ``nan`` and
infinities, which Python reads as floats) gives the default, a value below
``minimum`` gives ``minimum``, one above ``maximum`` gives ``maximum``.
Administrators set them in Settings or as system parameters; every Odoo
server reads the same database row, so all servers use the same value."""

import math


def setting(env, name, default, cast=int, minimum=None, maximum=None):
    """The setting ``serial_correspondence.<name>`` as ``cast``."""
    value = env["ir.config_parameter"].sudo().get_param(f"serial_correspondence.{name}")
    try:
        result = cast(value) if value not in (None, False, "") else default
    except (TypeError, ValueError, OverflowError):
        result = default
    if isinstance(result, float) and not math.isfinite(result):
        result = default
    if minimum is not None:
        result = max(result, minimum)
    if maximum is not None:
        result = min(result, maximum)
    return result
