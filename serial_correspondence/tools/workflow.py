# Copyright 2026 serial_correspondence authors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""The workflow of a serial correspondence, in one place.

Every change of ``serial.correspondence.state`` goes through
:func:`next_state`; views and jobs ask :func:`allows` whether an event may
happen now. Nothing else decides about states.
"""

LETTER = "letter"
EMAIL = "email"

# (event) -> {from_state: to_state}
TRANSITIONS = {
    # recipients have all been read
    "import_done": {"importing": "ready"},
    # "Generate letters": first time, or again after any letter outcome
    "generate": {
        "ready": "in_progress",
        "created": "in_progress",
        "created_incomplete": "in_progress",
        "create_failed": "in_progress",
    },
    # "Send e-mails": first time, or again for the recipients not sent yet
    "send": {
        "ready": "in_progress",
        "sent_incomplete": "in_progress",
        "send_failed": "in_progress",
    },
    # the sending limits are used up, or the storm brake holds sending /
    # sending goes on (by itself, or "Continue sending") (e-mail only)
    "throttle": {"in_progress": "waiting"},
    "resume": {"waiting": "in_progress"},
    # outcomes of processing
    "all_created": {"in_progress": "created"},
    "created_with_exclusions": {"in_progress": "created_incomplete"},
    "created_with_errors": {"in_progress": "create_failed"},
    "all_sent": {"in_progress": "done_auto"},
    "sent_with_exclusions": {"in_progress": "sent_incomplete"},
    "sent_with_errors": {"in_progress": "send_failed"},
    # "Send e-mails" with a time in the future: wait for it (e-mail only)
    "schedule": {"in_progress": "waiting"},
    # "Stop" before anybody was processed: back to the start
    "stop_unstarted": {"in_progress": "ready", "waiting": "ready"},
    # "Stop" after some were processed: the outcome, the rest stay unsent
    "stop_generating": {"in_progress": "created_incomplete"},
    "stop_generating_with_errors": {"in_progress": "create_failed"},
    "stop_sending": {"in_progress": "sent_incomplete", "waiting": "sent_incomplete"},
    "stop_sending_with_errors": {
        "in_progress": "send_failed",
        "waiting": "send_failed",
    },
    # "Finalize": manual end
    "finalize": {
        "created": "done",
        "created_incomplete": "done",
        "create_failed": "done",
        "sent_incomplete": "done",
        "send_failed": "done",
    },
}

# events that only exist for one kind of correspondence
EVENT_KIND = {
    "generate": LETTER,
    "all_created": LETTER,
    "created_with_exclusions": LETTER,
    "created_with_errors": LETTER,
    "send": EMAIL,
    "throttle": EMAIL,
    "resume": EMAIL,
    "all_sent": EMAIL,
    "sent_with_exclusions": EMAIL,
    "sent_with_errors": EMAIL,
    "schedule": EMAIL,
    "stop_generating": LETTER,
    "stop_generating_with_errors": LETTER,
    "stop_sending": EMAIL,
    "stop_sending_with_errors": EMAIL,
}

# the events of "Stop" (see ``stop_event``)
STOP_EVENTS = (
    "stop_unstarted",
    "stop_generating",
    "stop_generating_with_errors",
    "stop_sending",
    "stop_sending_with_errors",
)

# states in which nothing of the correspondence may be changed by a user
LOCKED_STATES = frozenset({"in_progress", "waiting", "done", "done_auto"})
# states in which background work is under way
PROCESSING_STATES = frozenset({"importing", "in_progress", "waiting"})
FINAL_STATES = frozenset({"done", "done_auto"})
# states in which the recipients can be checked ("Check recipients"): before
# starting and after an outcome; never while processing runs, nor once done
CHECK_STATES = frozenset(
    {
        "ready",
        "created",
        "created_incomplete",
        "create_failed",
        "sent_incomplete",
        "send_failed",
    }
)


def allows(kind, state, event):
    """Return whether ``event`` may happen to a correspondence of ``kind``
    that is in ``state``."""
    if EVENT_KIND.get(event, kind) != kind:
        return False
    return state in TRANSITIONS.get(event, {})


def next_state(kind, state, event):
    """Return the state that ``event`` leads to, or ``None`` when the
    workflow does not allow it."""
    if not allows(kind, state, event):
        return None
    return TRANSITIONS[event][state]


def outcome_event(kind, excluded, errors):
    """The event that ends processing, from the recipients' outcomes.

    Errors take precedence over exclusions.
    """
    if kind == LETTER:
        if errors:
            return "created_with_errors"
        return "created_with_exclusions" if excluded else "all_created"
    if errors:
        return "sent_with_errors"
    return "sent_with_exclusions" if excluded else "all_sent"


def can_stop(kind, state):
    """Return whether processing of a correspondence of ``kind`` in
    ``state`` can be stopped ("Stop")."""
    return any(allows(kind, state, event) for event in STOP_EVENTS)


def stop_event(kind, processed, errors):
    """The event that stops processing while recipients are still pending.

    Nobody processed yet: back to ready. Otherwise the outcome that says
    "incomplete", or the failed one when there are errors (errors take
    precedence, as in ``outcome_event``)."""
    if not processed:
        return "stop_unstarted"
    if kind == LETTER:
        return "stop_generating_with_errors" if errors else "stop_generating"
    return "stop_sending_with_errors" if errors else "stop_sending"
