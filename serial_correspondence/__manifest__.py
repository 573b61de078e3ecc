# Copyright 2026 serial_correspondence authors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
{
    "name": "Serial Correspondence",
    "summary": "Mail-merge letters and mass e-mails (Serienbrief / Serien-E-Mail) "
    "with crash-safe background processing",
    "version": "18.0.1.0.0",
    "category": "Marketing",
    "website": "https://github.com/serial-correspondence/serial_correspondence",
    "author": "serial_correspondence authors",
    "license": "LGPL-3",
    "application": True,
    "installable": True,
    "depends": ["contacts", "mail", "link_tracker", "queue_job"],
    "data": [
        "security/serial_correspondence_security.xml",
        "security/ir.model.access.csv",
        "security/serial_correspondence_storm_brake_security.xml",
        "data/queue_job_data.xml",
        "data/mail_activity_type_data.xml",
        "views/serial_correspondence_tag_views.xml",
        "views/serial_correspondence_recipient_views.xml",
        "views/serial_correspondence_views.xml",
        "views/serial_correspondence_preview_views.xml",
        "report/serial_letter_templates.xml",
        "report/serial_letter_reports.xml",
        "views/serial_correspondence_letter_views.xml",
        "views/serial_correspondence_control_views.xml",
        "views/serial_correspondence_storm_brake_views.xml",
        "views/res_partner_views.xml",
        "views/unsubscribe_templates.xml",
        "views/res_config_settings_views.xml",
        "views/serial_correspondence_statistics_views.xml",
        "data/res_partner_actions.xml",
        "views/menus.xml",
    ],
    "demo": [
        "demo/res_lang_demo.xml",
        "demo/res_company_demo.xml",
        "demo/res_partner_demo.xml",
        "demo/mail_template_demo.xml",
    ],
    "assets": {
        "web.assets_backend": [
            "serial_correspondence/static/src/js/*.js",
            "serial_correspondence/static/src/scss/*.scss",
        ],
        "web.assets_tests": [
            "serial_correspondence/static/tests/tours/*.js",
        ],
    },
}
