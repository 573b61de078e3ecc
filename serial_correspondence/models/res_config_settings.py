# Copyright 2026 serial_correspondence authors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
from odoo import _, api, fields, models
from odoo.exceptions import ValidationError

from ..tools import senders
from .ir_mail_server import check_limit_values, check_sending_limits


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

    serial_send_connections = fields.Integer(
        string="Connections per serial e-mail",
        config_parameter="serial_correspondence.send_connections",
        help="How many connections to the mail server one serial e-mail sends "
        "over at once, each a job of its own (across workers and servers); 0 = "
        "as many as queue_job's channel root.serial_correspondence runs at once. "
        "Applies from the next time sending starts.",
    )

    serial_storm_max_soft_failures = fields.Integer(
        string="Storm brake: soft failures",
        config_parameter="serial_correspondence.storm_max_soft_failures",
        default=20,
        help="A serial e-mail stops, until a user continues it, when more "
        "temporary refusals or soft bounces than this come back within the "
        "storm brake's window; 0 = no storm brake.",
    )
    serial_storm_window_minutes = fields.Float(
        string="Storm brake: window (minutes)",
        config_parameter="serial_correspondence.storm_window_minutes",
        default=10.0,
        help="The storm brake counts the soft failures of the last this many "
        "minutes; fractions are allowed.",
    )

    @api.model_create_multi
    def create(self, vals_list):
        for vals in vals_list:
            check_limit_values(
                self.env,
                vals,
                ["serial_throttle_max_emails", "serial_throttle_max_per_domain"],
            )
        return super().create(vals_list)

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

    @api.constrains("serial_send_connections")
    def _check_serial_send_connections(self):
        for settings in self:
            if not 0 <= settings.serial_send_connections <= senders.MAX_SENDERS:
                raise ValidationError(
                    _(
                        "Connections per serial e-mail: give a number of connections "
                        "from 1 to %(max)s, or 0 for as many as the queue_job "
                        "channel runs at once.",
                        max=senders.MAX_SENDERS,
                    )
                )

    def set_values(self):
        result = super().set_values()
        # Odoo drops a parameter set to 0, which would bring the default
        # back: 0 switches the storm brake off, so it is stored
        params = self.env["ir.config_parameter"].sudo()
        for settings in self:
            if not settings.serial_storm_max_soft_failures:
                params.set_param("serial_correspondence.storm_max_soft_failures", "0")
        # raised limits may allow waiting serial e-mails to go on at once
        self.env["serial.correspondence"].sudo()._wake_waiting()
        return result
