# Copyright 2026 serial_correspondence authors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
from odoo import api, fields, models

from .ir_mail_server import check_sending_limits


class ResConfigSettings(models.TransientModel):
    _inherit = "res.config.settings"

    serial_throttle_max_emails = fields.Integer(
        string="Serial e-mails per window",
        config_parameter="serial_correspondence.throttle_max_emails",
        help="How many serial e-mails may go out in the time window, across all "
        "serial e-mails, workers and servers; 0 = no limit.",
    )
    serial_throttle_window_minutes = fields.Float(
        string="Window (minutes)",
        config_parameter="serial_correspondence.throttle_window_minutes",
        default=60.0,
        help="Length of the sliding window in minutes; fractions are allowed "
        "(0.25 = 15 seconds).",
    )
    serial_throttle_max_per_domain = fields.Integer(
        string="Per recipient domain",
        config_parameter="serial_correspondence.throttle_max_per_domain",
        help="How many serial e-mails may go to any one domain (e.g. example.com) "
        "in the window; 0 = no limit.",
    )

    @api.constrains(
        "serial_throttle_max_emails",
        "serial_throttle_window_minutes",
        "serial_throttle_max_per_domain",
    )
    def _check_serial_throttle(self):
        for settings in self:
            check_sending_limits(
                self.env,
                settings.serial_throttle_max_emails,
                settings.serial_throttle_window_minutes,
                settings.serial_throttle_max_per_domain,
            )

    def set_values(self):
        result = super().set_values()
        # raised limits may allow waiting serial e-mails to go on at once
        self.env["serial.correspondence"].sudo()._wake_waiting()
        return result
