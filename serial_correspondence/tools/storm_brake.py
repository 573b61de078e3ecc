# Copyright 2026 serial_correspondence authors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""The storm brake: when to stop a serial e-mail that keeps being refused.

A mail server that answers "try again later" (SMTP 4xx) again and again, or
soft bounces coming back in numbers (the addressees' servers deferring or
throttling us), mean something is wrong with the way out: a blocklisted
address, a quota, a broken relay. Going on makes it worse. When more than
``max_failures`` such soft failures of one serial e-mail fall into the last
``window_minutes`` (``serial_correspondence.storm_max_soft_failures``,
``serial_correspondence.storm_window_minutes``; 0 failures = no brake),
sending stops in *Waiting for continuation* until a user continues it. It
never continues by itself: somebody has to look at the mail server first.

The failures are counted in the database (``serial.correspondence.soft.failure``)
by every Odoo server alike. After "Continue sending" only the failures that
come after count (``counting_since``): the ones the user has seen do not
stop it again.
"""

import dataclasses
import datetime

DEFAULT_MAX_SOFT_FAILURES = 20
DEFAULT_WINDOW_MINUTES = 10.0


@dataclasses.dataclass(frozen=True)
class StormBrake:
    """The brake's settings, and what they mean."""

    max_failures: int = DEFAULT_MAX_SOFT_FAILURES
    window_minutes: float = DEFAULT_WINDOW_MINUTES

    @property
    def enabled(self):
        return self.max_failures > 0 and self.window_minutes > 0

    def counting_since(self, now, counted_since=None):
        """From when soft failures count at ``now``: the window, and never
        before ``counted_since`` (the last start or continuation)."""
        start = now - datetime.timedelta(minutes=self.window_minutes)
        if counted_since and counted_since > start:
            return counted_since
        return start

    def holds(self, count):
        """Whether ``count`` soft failures in the window stop sending."""
        return self.enabled and count > self.max_failures

    @property
    def window_text(self):
        """The window in minutes as people write it (``10``, ``0.5``)."""
        return f"{self.window_minutes:g}"
