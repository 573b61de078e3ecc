# Copyright 2026 serial_correspondence authors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""Test support shared by the tests, the demo and the benchmarks.

Not loaded by Odoo (the addon's ``__init__`` does not import it); import the
module you need:

- :mod:`.smtp_sink`: a real SMTP server on loopback that stores every delivery
  as an ``.eml`` file (standard library and aiosmtpd only; also a script,
  started so by ``scripts/setup-and-run.sh``);
- :mod:`.e2e_server`: a real Odoo server process with queue_job's runner on a
  database of its own (end-to-end tests);
- :mod:`.balancer`: a round-robin TCP balancer in front of several such
  servers (the job runner of a multi-node installation).
"""
