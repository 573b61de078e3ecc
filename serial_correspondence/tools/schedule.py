# Copyright 2026 serial_correspondence authors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""Time arithmetic of planned sending, in plain Python (no model, no
database): whether a plan has gone stale, and when sending is expected to
end under the sending limits."""

import datetime
import math


def is_stale(planned_at, now, stale_hours):
    """Whether a sending planned for ``planned_at`` (UTC) that has not
    started by ``now`` is too old to start without asking the user again:
    more than ``stale_hours`` late."""
    return now - planned_at > datetime.timedelta(hours=stale_hours)


def expected_end(now, remaining, max_emails, window, available, resume_at=None):
    """When the last of ``remaining`` e-mails is expected to leave, with at
    most ``max_emails`` per ``window`` (a timedelta).

    ``available``: e-mails the current window still allows now;
    ``resume_at``: when a waiting correspondence goes on (the budget is full
    again then; False or None: not planned). The time the mail server needs
    per e-mail is not counted: with limits, the windows decide. None when
    there is nothing left or no limit."""
    if remaining <= 0 or not max_emails:
        return None
    if resume_at and resume_at > now:
        start, available = resume_at, max_emails
    else:
        start = now
        available = max_emails if available is None else available
    windows = math.ceil(max(remaining - available, 0) / max_emails)
    return start + windows * window
