"""The addon's settings (system parameters ``serial_correspondence.*``), read
in one place: a missing, empty or malformed value gives the default, a value
below ``minimum`` gives ``minimum``. Administrators set them in Settings or
as system parameters; every Odoo server reads the same database row, so all
servers use the same value."""


def setting(env, name, default, cast=int, minimum=None):
    """The setting ``serial_correspondence.<name>`` as ``cast``."""
    value = env["ir.config_parameter"].sudo().get_param(f"serial_correspondence.{name}")
    try:
        result = cast(value) if value not in (None, False, "") else default
    except (TypeError, ValueError):
        result = default
    if minimum is not None:
        result = max(result, minimum)
    return result
