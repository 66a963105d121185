"""A rush on a full class, answered without a transaction.

When a popular class opens, a few hundred members press "Book" in the same second and all
but the first few must hear CLASS_FULL. Through the booking transaction every such answer
costs a pooled connection's check, BEGIN, the booking statement and ROLLBACK, and the
session around them: most of the server's work in a rush (docs/benchmarks.md).

So a process remembers, for a moment, which classes it has just seen full. A booking
attempt for such a class first runs the very statement a booking starts with
(`booking_attempt`) once, in autocommit, and answers CLASS_FULL only when that row says
exactly what the booking transaction would answer: the account is active, the class is
open for booking and full, and the member holds neither a place in it nor a clashing
booking. Anything else (a seat freed meanwhile, the member's own booking, a cancelled
class, a closed account) goes the usual way, through the transaction, which decides. No
write ever depends on this read, so the capacity guard is untouched; the memory only
decides which path asks first.
"""

from __future__ import annotations

import time
import uuid

import psycopg

from studioloop.booking import exceptions as exc, rules
from studioloop.core.errors import AppError
from studioloop.db import raw
from studioloop.scheduling.capacity import facts_from_row

# Long enough to cover a rush's burst, short enough that a seat freed by a cancellation in
# another process (which does not tell this one) is offered within a moment. The check
# below reads the live row anyway: a stale mark only costs one extra read.
REMEMBER_FULL_SECONDS = 2.0
_MAX_MARKS = 10_000

_full_until: dict[uuid.UUID, float] = {}
_last_until = 0.0  # the latest of them: once past, nothing is remembered any more


def remember_full(occurrence_id: uuid.UUID) -> None:
    global _last_until
    now = time.monotonic()
    if len(_full_until) >= _MAX_MARKS:
        for key in [k for k, until in _full_until.items() if until <= now]:
            del _full_until[key]
        if len(_full_until) >= _MAX_MARKS:
            _full_until.clear()
    _full_until[occurrence_id] = _last_until = now + REMEMBER_FULL_SECONDS


def forget(occurrence_id: uuid.UUID) -> None:
    _full_until.pop(occurrence_id, None)


def any_remembered() -> bool:
    """Whether any class is remembered full now: the gate's first, cheapest question, so
    that outside a rush a booking pays nothing for the gate."""
    if not _full_until:
        return False
    if time.monotonic() >= _last_until:
        _full_until.clear()
        return False
    return True


def seems_full(occurrence_id: uuid.UUID) -> bool:
    until = _full_until.get(occurrence_id)
    if until is None:
        return False
    if until <= time.monotonic():
        del _full_until[occurrence_id]  # so that, once a rush is over, the gate idles
        return False
    return True


async def refuse_if_still_full(occurrence_id: uuid.UUID, user_id: uuid.UUID) -> None:
    """Raise CLASS_FULL when a class this process saw full still is, for a member who
    would hear exactly that from `POST /bookings` naming no studio; return when the
    booking must decide."""
    try:
        row = await raw.fetch_one_outside_transaction(
            "SELECT * FROM booking_attempt(%s, %s, true)", (occurrence_id, user_id)
        )
    except psycopg.Error:  # the pool's timeouts too; e.g. the database restarting
        return  # the booking's own transaction will answer (or report the outage)
    if row is None or not row.user_active:
        return
    facts = facts_from_row(row)
    try:
        rules.check_open(facts)
    except AppError:
        return
    if facts.booked_count < facts.capacity:
        forget(occurrence_id)
        return
    if row.booked is None and row.clash is None:
        remember_full(occurrence_id)
        raise exc.ClassFull(details={"capacity": facts.capacity})
