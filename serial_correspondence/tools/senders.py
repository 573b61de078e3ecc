"""Several senders for one serial e-mail: how many, and who may do what.

A correspondence sends over N connections at once (setting
``send_connections``; by default as many as queue_job's channel of the send
jobs runs at once). Each sender is a send job working *as* a slot 0..N-1: it
holds the slot's PostgreSQL advisory lock (a session lock, released when the
worker's connection ends, also when it is killed) and takes the pending
recipients of the slot's class (``id % N = slot``), so no two senders ever
pick the same recipient. A sender whose own class is done takes over any
other class whose slot is free (its sender ended or died): no class is left
behind. Every claim records the slot it was made under (``send_slot``):
whoever holds a slot's lock knows that a claim of that slot without an
outcome was left by a sender that died, and reports "delivery unknown" for
it; a live sender's claims are never touched. So a kill at any point leaves
at most one "delivery unknown" per sender that died.

Slot 0 is the lead: it starts the run (and resumes it after waiting) and
queues the other senders. While other serial e-mails share a sending limit
with it, the lead sends alone (``_sends_alone``): the other senders stand
down and it takes over their classes, so that each serial e-mail's turn is
its whole fair share and the turns stay even. Any sender may end a part of
the run (wait for the limits or a server, stop as asked, brake, finish),
always under ``coordinate``: a transaction-level advisory lock and a fresh
read of the correspondence, so exactly one sender makes each change and the
others see it. Nothing of this is kept in memory: several Odoo servers share it.
"""

# the send job owns its transaction (models/serial_correspondence_sending.py)
# pylint: disable=invalid-commit

from odoo.tools import SQL

from odoo.addons.queue_job.jobrunner.channels import ChannelManager
from odoo.addons.queue_job.jobrunner.runner import _channels

from .settings import setting

# first key of the advisory lock of slot s: SEND_LOCK_NAMESPACE + s (slot 0
# is the sending lock of a single sender)
SEND_LOCK_NAMESPACE = 0x5C05E
# transitions of the run (one sender at a time)
SEND_COORDINATION_NAMESPACE = 0x5C05D
MAX_SENDERS = 32
# queue_job's channel of the send jobs (models/serial_correspondence.py)
CHANNEL = "root.serial_correspondence"


def channel_capacity(channel=CHANNEL):
    """How many jobs queue_job's runner configured on this server runs at
    once in ``channel`` (the smallest capacity on its way to the root), 1
    when it cannot tell (no runner configured here: ``channels`` unset)."""
    config = _channels()
    if not config:
        return 1
    manager = ChannelManager()
    try:
        manager.simple_configure(config)
        node = manager.get_channel_by_name(channel, autocreate=True)
    except Exception:  # pylint: disable=broad-except
        # a configuration the runner itself would refuse: one sender
        return 1
    capacities = []
    while node is not None:
        if node.capacity:
            capacities.append(node.capacity)
        node = node.parent
    return min(capacities) if capacities else 1


def sender_count(env):
    """N for a new send run: the setting ``send_connections``, 0 or unset
    meaning the channel's capacity; between 1 and ``MAX_SENDERS``."""
    count = setting(env, "send_connections", 0, minimum=0)
    if not count:
        count = channel_capacity()
    return max(1, min(count, MAX_SENDERS))


def try_lock_slot(cr, correspondence_id, slot):
    """The session lock of ``slot``; False when another sender holds it."""
    cr.execute(
        SQL(
            "SELECT pg_try_advisory_lock(%s, %s)",
            SEND_LOCK_NAMESPACE + slot,
            correspondence_id,
        )
    )
    return cr.fetchone()[0]


def unlock_slot(cr, correspondence_id, slot):
    cr.execute(
        SQL(
            "SELECT pg_advisory_unlock(%s, %s)",
            SEND_LOCK_NAMESPACE + slot,
            correspondence_id,
        )
    )


def try_lock_slots_for_transaction(cr, correspondence_id, slots):
    """The locks of all ``slots`` until the transaction ends: True when no
    sender is at work in any of them."""
    cr.execute(
        SQL(
            "SELECT bool_and(pg_try_advisory_xact_lock(%s + slot, %s)) "
            "FROM unnest(%s::int[]) AS slot",
            SEND_LOCK_NAMESPACE,
            correspondence_id,
            list(slots),
        )
    )
    return bool(cr.fetchone()[0])


def coordinate(env, correspondence_id):
    """Begin a transaction in which this sender alone changes the run:
    commit what came before, read what other senders committed (READ
    COMMITTED: under Odoo's REPEATABLE READ a read after the lock would use
    the snapshot from before it) and take the run's transaction lock. The
    caller's next commit ends it."""
    cr = env.cr
    cr.commit()
    if not env.registry.in_test_mode():
        cr.execute(SQL("SET TRANSACTION ISOLATION LEVEL READ COMMITTED"))
    cr.execute(
        SQL(
            "SELECT pg_advisory_xact_lock(%s, %s)",
            SEND_COORDINATION_NAMESPACE,
            correspondence_id,
        )
    )
    env.invalidate_all()
