# Copyright 2026 serial_correspondence authors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
from odoo import api, fields, models
from odoo.exceptions import ValidationError

from ..tools.smtp_delivery import current_run_defaults

# one week: longer windows are a mistake rather than a policy
MAX_WINDOW_MINUTES = 7 * 24 * 60
MAX_EMAILS_PER_WINDOW = 10_000_000


def check_sending_limits(env, max_emails, window_minutes, max_per_domain=0):
    """Raise a clear error for negative or absurd sending limits."""
    if max_emails < 0 or max_per_domain < 0:
        raise ValidationError(
            env._("The number of e-mails per window cannot be negative.")
        )
    if max_emails > MAX_EMAILS_PER_WINDOW or max_per_domain > MAX_EMAILS_PER_WINDOW:
        raise ValidationError(
            env._(
                "At most %(max)s e-mails per window can be set.",
                max=MAX_EMAILS_PER_WINDOW,
            )
        )
    if (max_emails or max_per_domain) and not 0 < window_minutes <= MAX_WINDOW_MINUTES:
        raise ValidationError(
            env._(
                "The time window must be longer than 0 and at most %(max)s minutes "
                "(one week); fractions such as 0.25 (15 seconds) are allowed.",
                max=MAX_WINDOW_MINUTES,
            )
        )


def check_limit_values(env, vals, names):
    """Refuse counts too large to be stored (the database column holds at
    most 2,147,483,647) with the same sentence as the constraint, before
    the database refuses them with a bare error."""
    for name in names:
        value = vals.get(name)
        if isinstance(value, int | float) and value > MAX_EMAILS_PER_WINDOW:
            check_sending_limits(env, value, 60.0)


class IrMailServer(models.Model):
    _inherit = "ir.mail_server"

    serial_throttle_max_emails = fields.Integer(
        string="Serial e-mails per window",
        help="Overrides the general sending limit for serial e-mails sent through "
        "this server; 0 uses the general limit.",
    )
    serial_throttle_window_minutes = fields.Float(
        string="Window (minutes)",
        default=60.0,
        help="Length of the sliding window of this server's limit, in minutes.",
    )

    @api.model_create_multi
    def create(self, vals_list):
        for vals in vals_list:
            check_limit_values(self.env, vals, ["serial_throttle_max_emails"])
        return super().create(vals_list)

    def write(self, vals):
        check_limit_values(self.env, vals, ["serial_throttle_max_emails"])
        return super().write(vals)

    @api.constrains("serial_throttle_max_emails", "serial_throttle_window_minutes")
    def _check_serial_throttle(self):
        for server in self:
            check_sending_limits(
                self.env,
                server.serial_throttle_max_emails,
                server.serial_throttle_window_minutes,
            )

    # a send job passes the defaults it looked up once per run
    # (tools/smtp_delivery.py, ``run_mail_defaults``)

    @api.model
    def _get_default_bounce_address(self):
        defaults = current_run_defaults()
        if defaults is not None:
            return defaults["bounce"]
        return super()._get_default_bounce_address()

    @api.model
    def _get_default_from_address(self):
        defaults = current_run_defaults()
        if defaults is not None:
            return defaults["from"]
        return super()._get_default_from_address()
