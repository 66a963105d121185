"""Usage's statements. A batch of up to 1,000 events is a handful of round trips, each
over arrays (`unnest`), never a statement per event: plain SQL on the request's own
connection (db/raw.py), as the booking path does.

Arrays are sent in binary (`%(name)b`): psycopg writes a timestamp as text in about 6 us
of Python and in binary in under 0.5 us, and a batch sends some 15,000 of them
(bench/usage_ingest.py; docs/benchmarks.md)."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

from psycopg import AsyncCursor
from psycopg.types.json import Jsonb
from sqlalchemy.ext.asyncio import AsyncSession

from studioloop.db import raw
from studioloop.usage.rules import Event, Key, Meter

pipeline = raw.pipeline

_METERS = """
SELECT id, slug, event_name, property_filter, aggregation, value_property, reset, created_at,
    archived_at
FROM usage_meters WHERE archived_at IS NULL OR NOT %(live_only)s
"""


async def live_meters(session: AsyncSession) -> list[Meter]:
    rows = await raw.fetch_all(session, _METERS, {"live_only": True})
    return [Meter(**row._asdict()) for row in rows]


async def every_meter(session: AsyncSession) -> list[Meter]:
    rows = await raw.fetch_all(session, _METERS, {"live_only": False})
    return [Meter(**row._asdict()) for row in rows]


_METER_BY_SLUG = """
SELECT id, slug, event_name, property_filter, aggregation, value_property, reset, created_at,
    archived_at
FROM usage_meters WHERE slug = %(slug)s
"""


def send_meter_by_slug(session: AsyncSession, slug: str) -> Awaitable[AsyncCursor[Any]]:
    """The meter (live or archived) with that slug, as `Meter`: read its row from the
    cursor with `meter_of`. Sent with `raw.send`, so it can travel in a pipeline."""
    return raw.send(session, _METER_BY_SLUG, {"slug": slug})


async def meter_of(cursor: AsyncCursor[Any]) -> Meter | None:
    row = await cursor.fetchone()
    return Meter(**row._asdict()) if row is not None else None


# A customer is one of the studio's people, named by user id or by email.
_CUSTOMERS = """
SELECT u.id, lower(u.email) AS email
FROM users u JOIN user_tenant_roles r ON r.user_id = u.id AND r.tenant_id = %(tenant_id)s
WHERE u.id = ANY(%(ids)b::uuid[]) OR lower(u.email) = ANY(%(emails)b::text[])
"""


async def customers(
    session: AsyncSession, tenant_id: uuid.UUID, ids: Sequence[uuid.UUID], emails: Sequence[str]
) -> list[Any]:
    return await raw.fetch_all(
        session, _CUSTOMERS, {"tenant_id": tenant_id, "ids": list(ids), "emails": list(emails)}
    )


def send_customers(
    session: AsyncSession, tenant_id: uuid.UUID, ids: Sequence[uuid.UUID], emails: Sequence[str]
) -> Awaitable[AsyncCursor[Any]]:
    """`customers`, sent with `raw.send` (in a pipeline: rows read from the cursor after)."""
    return raw.send(
        session, _CUSTOMERS, {"tenant_id": tenant_id, "ids": list(ids), "emails": list(emails)}
    )


# Each customer's entitled subscription (one live one at most) and its plan's caps.
_TIERS = """
SELECT s.user_id, s.id AS subscription_id, s.created_at AS subscribed_at,
    s.current_period_start, s.current_period_end,
    p.id AS plan_id, p.name AS plan_name, p.usage_caps, p.feature_entitlements
FROM subscriptions s
JOIN membership_plans p ON p.id = s.plan_id AND p.tenant_id = s.tenant_id
WHERE s.user_id = ANY(%(users)b::uuid[]) AND s.status IN ('active', 'past_due')
"""


async def tiers(session: AsyncSession, users: Sequence[uuid.UUID]) -> list[Any]:
    return await raw.fetch_all(session, _TIERS, {"users": list(users)})


# Sorted, so that two batches sharing ids wait for each other instead of deadlocking.
_CLAIM_IDS = """
INSERT INTO usage_event_keys (tenant_id, event_id)
SELECT %(tenant_id)s, event_id FROM unnest(%(event_ids)b::text[]) AS event_id ORDER BY 2
ON CONFLICT DO NOTHING
RETURNING event_id
"""


async def claim_event_ids(
    session: AsyncSession, tenant_id: uuid.UUID, event_ids: Sequence[str]
) -> set[str]:
    """The ids not received before (now taken): the rest are duplicates."""
    rows = await raw.fetch_all(
        session, _CLAIM_IDS, {"tenant_id": tenant_id, "event_ids": list(event_ids)}
    )
    return {row.event_id for row in rows}


# Every total the batch touches is made if missing, then locked in key order (so that
# concurrent batches for one customer queue instead of deadlocking; the rows made are
# inserted in that order too) and read. Locking with FOR UPDATE writes no row version:
# the batch's one UPDATE per total (_SET_TOTALS) is then the only one, so totals do not
# bloat twice as fast and that UPDATE, of a row not made by this transaction, re-checks no
# foreign keys.
_MAKE_TOTALS = """
INSERT INTO usage_aggregates (tenant_id, meter_id, user_id, period_start, period_end)
SELECT %(tenant_id)s, k.meter_id, k.user_id, k.period_start, k.period_end
FROM unnest(%(meter_ids)b::uuid[], %(user_ids)b::uuid[], %(starts)b::timestamptz[],
            %(ends)b::timestamptz[]) AS k(meter_id, user_id, period_start, period_end)
ORDER BY 2, 3, 4
ON CONFLICT DO NOTHING
"""

_LOCK_TOTALS = """
SELECT a.meter_id, a.user_id, a.period_start, a.value, a.events, a.latest_at
FROM usage_aggregates a
JOIN unnest(%(meter_ids)b::uuid[], %(user_ids)b::uuid[], %(starts)b::timestamptz[])
    AS k(meter_id, user_id, period_start)
    ON a.meter_id = k.meter_id AND a.user_id = k.user_id AND a.period_start = k.period_start
WHERE a.tenant_id = %(tenant_id)s
ORDER BY a.meter_id, a.user_id, a.period_start
FOR UPDATE OF a
"""

_SEEN_VALUES = """
SELECT meter_id, user_id, period_start, value FROM usage_unique_values
WHERE (meter_id, user_id, period_start, value) IN (
    SELECT * FROM unnest(%(meter_ids)b::uuid[], %(user_ids)b::uuid[],
                         %(starts)b::timestamptz[], %(values)b::text[]))
"""


async def lock_totals(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    keys: dict[Key, datetime | None],
    wanted: Sequence[tuple[Key, str]],
) -> tuple[list[Any], set[tuple[Key, str]]]:
    """The totals `keys` names (with their period ends), made if missing and locked for
    the transaction; and which of the `wanted` distinct values they have seen already,
    read once the locks are held. One round trip."""
    ordered = sorted(keys, key=lambda k: (str(k.meter_id), str(k.user_id), k.period_start))
    params = {
        "tenant_id": tenant_id,
        "meter_ids": [k.meter_id for k in ordered],
        "user_ids": [k.user_id for k in ordered],
        "starts": [k.period_start for k in ordered],
        "ends": [keys[k] for k in ordered],
    }
    async with raw.pipeline(session):
        await raw.send(session, _MAKE_TOTALS, params)
        locked = await raw.send(session, _LOCK_TOTALS, params)
        seen = await raw.send(session, _SEEN_VALUES, _unique_params(wanted)) if wanted else None
    rows = await locked.fetchall()
    found = await seen.fetchall() if seen is not None else []
    return rows, {(Key(r.meter_id, r.user_id, r.period_start), r.value) for r in found}


def _unique_params(values: Sequence[tuple[Key, str]]) -> dict[str, Any]:
    return {
        "meter_ids": [k.meter_id for k, _ in values],
        "user_ids": [k.user_id for k, _ in values],
        "starts": [k.period_start for k, _ in values],
        "values": [v for _, v in values],
    }


_STORE_EVENTS = """
INSERT INTO usage_events (tenant_id, occurred_at, event_id, user_id, event_name, value,
    properties, billing_period_start, billing_period_end, received_at)
SELECT %(tenant_id)s, e.occurred_at, e.event_id, e.user_id, e.event_name, e.value,
    e.properties, e.period_start, e.period_end, e.received_at
FROM unnest(%(occurred)b::timestamptz[], %(event_ids)b::text[], %(user_ids)b::uuid[],
            %(names)b::text[], %(values)b::numeric[], %(properties)b::jsonb[],
            %(starts)b::timestamptz[], %(ends)b::timestamptz[], %(received)b::timestamptz[])
    AS e(occurred_at, event_id, user_id, event_name, value, properties, period_start,
         period_end, received_at)
"""

_RELEASE_IDS = """
DELETE FROM usage_event_keys
WHERE tenant_id = %(tenant_id)s AND event_id = ANY(%(event_ids)b::text[])
"""

_SET_TOTALS = """
UPDATE usage_aggregates a
SET value = t.value, events = t.events, latest_at = t.latest_at, updated_at = now()
FROM unnest(%(meter_ids)b::uuid[], %(user_ids)b::uuid[], %(starts)b::timestamptz[],
            %(values)b::numeric[], %(events)b::bigint[], %(latest)b::timestamptz[])
    AS t(meter_id, user_id, period_start, value, events, latest_at)
WHERE a.tenant_id = %(tenant_id)s AND a.meter_id = t.meter_id AND a.user_id = t.user_id
    AND a.period_start = t.period_start
"""

_REMEMBER_VALUES = """
INSERT INTO usage_unique_values (tenant_id, meter_id, user_id, period_start, value)
SELECT %(tenant_id)s, * FROM unnest(%(meter_ids)b::uuid[], %(user_ids)b::uuid[],
                                    %(starts)b::timestamptz[], %(values)b::text[])
ON CONFLICT DO NOTHING
"""


async def store_batch(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    *,
    events: Sequence[Event],
    refused_ids: Sequence[str],
    totals: dict[Key, tuple[Decimal, int, datetime | None]],
    new_unique_values: Sequence[tuple[Key, str]],
) -> None:
    """The accepted events, the ids of refused ones given back, the new totals and the
    distinct values first seen: one round trip."""
    async with raw.pipeline(session):
        if events:
            await raw.send(session, _STORE_EVENTS, _event_params(tenant_id, events))
        if refused_ids:
            await raw.send(
                session, _RELEASE_IDS, {"tenant_id": tenant_id, "event_ids": list(refused_ids)}
            )
        if totals:
            await raw.send(session, _SET_TOTALS, {"tenant_id": tenant_id, **_total_params(totals)})
        if new_unique_values:
            await raw.send(
                session,
                _REMEMBER_VALUES,
                {"tenant_id": tenant_id, **_unique_params(new_unique_values)},
            )


def _total_params(totals: dict[Key, tuple[Decimal, int, datetime | None]]) -> dict[str, Any]:
    """Totals (value, events, latest_at) by key, as the arrays the statements unnest."""
    keys = list(totals)
    return {
        "meter_ids": [k.meter_id for k in keys],
        "user_ids": [k.user_id for k in keys],
        "starts": [k.period_start for k in keys],
        "values": [totals[k][0] for k in keys],
        "events": [totals[k][1] for k in keys],
        "latest": [totals[k][2] for k in keys],
    }


def _event_params(tenant_id: uuid.UUID, events: Sequence[Event]) -> dict[str, Any]:
    return {
        "tenant_id": tenant_id,
        "occurred": [e.occurred_at for e in events],
        "event_ids": [e.event_id for e in events],
        "user_ids": [e.user_id for e in events],
        "names": [e.name for e in events],
        "values": [e.value for e in events],
        "properties": [Jsonb(e.properties) for e in events],
        "starts": [e.billing_period_start for e in events],
        "ends": [e.billing_period_end for e in events],
        "received": [e.received_at for e in events],
    }


# --- reads for limits, pages and the rebuild -------------------------------------------------

_TOTAL = """
SELECT value, events, period_start, period_end FROM usage_aggregates
WHERE meter_id = %(meter_id)s AND user_id = %(user_id)s AND period_start = %(period_start)s
"""


async def total(session: AsyncSession, key: Key) -> Any:
    return await raw.fetch_one(
        session,
        _TOTAL,
        {"meter_id": key.meter_id, "user_id": key.user_id, "period_start": key.period_start},
    )


_STORED_EVENTS = """
SELECT event_id, user_id, event_name AS name, value, properties, occurred_at,
    billing_period_start, billing_period_end, received_at
FROM usage_events WHERE tenant_id = %(tenant_id)s
ORDER BY occurred_at, event_id
"""


async def stored_events(session: AsyncSession, tenant_id: uuid.UUID) -> list[Event]:
    rows = await raw.fetch_all(session, _STORED_EVENTS, {"tenant_id": tenant_id})
    return [Event(**row._asdict()) for row in rows]


_FORGET_TOTALS = """
WITH totals AS (DELETE FROM usage_aggregates WHERE tenant_id = %(tenant_id)s)
DELETE FROM usage_unique_values WHERE tenant_id = %(tenant_id)s
"""


async def forget_totals(session: AsyncSession, tenant_id: uuid.UUID) -> None:
    await raw.execute(session, _FORGET_TOTALS, {"tenant_id": tenant_id})


_NAMES = """
SELECT u.first_name, t.name AS studio_name FROM users u, tenants t
WHERE u.id = %(user_id)s AND t.id = %(tenant_id)s
"""


async def names(session: AsyncSession, tenant_id: uuid.UUID, user_id: uuid.UUID) -> Any:
    """The customer's first name and the studio's, for a notice."""
    return await raw.fetch_one(session, _NAMES, {"tenant_id": tenant_id, "user_id": user_id})


_INSERT_TOTALS = """
INSERT INTO usage_aggregates (tenant_id, meter_id, user_id, period_start, period_end, value,
    events, latest_at)
SELECT %(tenant_id)s, * FROM unnest(%(meter_ids)b::uuid[], %(user_ids)b::uuid[],
    %(starts)b::timestamptz[], %(ends)b::timestamptz[], %(values)b::numeric[],
    %(events)b::bigint[], %(latest)b::timestamptz[])
"""


async def insert_totals(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    totals: dict[Key, tuple[Decimal, int, datetime | None, datetime | None]],
    unique_values: Sequence[tuple[Key, str]],
) -> None:
    """Totals made from nothing (the rebuild): value, events, latest_at, period end."""
    ends = [end for *_, end in totals.values()]
    params = _total_params({key: total[:3] for key, total in totals.items()})
    await raw.execute(session, _INSERT_TOTALS, {"tenant_id": tenant_id, "ends": ends, **params})
    if unique_values:
        await raw.execute(
            session, _REMEMBER_VALUES, {"tenant_id": tenant_id, **_unique_params(unique_values)}
        )


_KEEP_PARTITIONS = "SELECT usage_events_keep_partitions(%(ahead)s, %(keep)s) AS made"
_FORGET_OLD_IDS = """
DELETE FROM usage_event_keys WHERE received_at < now() - make_interval(months => %(keep)s)
"""


async def keep_partitions(session: AsyncSession, months_ahead: int, keep_months: int) -> int:
    """Make the coming months' partitions and drop those past retention (the migration's
    SECURITY DEFINER function: the app role may not create tables)."""
    row = await raw.fetch_one(
        session, _KEEP_PARTITIONS, {"ahead": months_ahead, "keep": keep_months}
    )
    return int(row.made)


async def forget_old_event_ids(session: AsyncSession, keep_months: int) -> int:
    return await raw.execute(session, _FORGET_OLD_IDS, {"keep": keep_months})


# --- reads for the usage pages ----------------------------------------------------------------

# Totals whose period holds `now`: the candidates for each customer's current period (the
# service keeps those that are the period a check would read, so a calendar month from
# before a customer subscribed is not mistaken for their billing period).
_CURRENT_TOTALS = """
SELECT a.meter_id, a.user_id, a.period_start, a.value, a.events
FROM usage_aggregates a
JOIN usage_meters m ON m.id = a.meter_id AND m.tenant_id = a.tenant_id
WHERE a.tenant_id = %(tenant_id)s AND m.archived_at IS NULL AND a.events > 0
    AND a.period_start <= %(now)s AND (a.period_end IS NULL OR a.period_end > %(now)s)
"""


async def current_totals(session: AsyncSession, tenant_id: uuid.UUID, now: datetime) -> list[Any]:
    return await raw.fetch_all(session, _CURRENT_TOTALS, {"tenant_id": tenant_id, "now": now})


# Every customer with an entitled subscription now, and their plan's caps (as _TIERS).
_EVERY_TIER = """
SELECT s.user_id, s.id AS subscription_id, s.created_at AS subscribed_at,
    s.current_period_start, s.current_period_end,
    p.id AS plan_id, p.name AS plan_name, p.usage_caps, p.feature_entitlements
FROM subscriptions s
JOIN membership_plans p ON p.id = s.plan_id AND p.tenant_id = s.tenant_id
WHERE s.tenant_id = %(tenant_id)s AND s.status IN ('active', 'past_due')
"""


async def every_tier(session: AsyncSession, tenant_id: uuid.UUID) -> list[Any]:
    return await raw.fetch_all(session, _EVERY_TIER, {"tenant_id": tenant_id})


_PEOPLE = """
SELECT u.id, u.email, u.first_name, u.last_name
FROM users u JOIN user_tenant_roles r ON r.user_id = u.id AND r.tenant_id = %(tenant_id)s
WHERE u.id = ANY(%(ids)s)
"""


async def people(
    session: AsyncSession, tenant_id: uuid.UUID, ids: Sequence[uuid.UUID]
) -> list[Any]:
    """The studio's people among `ids`, with their names (someone who left is not shown)."""
    return await raw.fetch_all(session, _PEOPLE, {"tenant_id": tenant_id, "ids": list(ids)})


# What a meter counted each day (in the studio's zone) from the stored events: the same
# selection as rules.matches (name, properties holding the filter, received while the meter
# was live), aggregated per day. A property that is not a number reads as none rather than
# failing the page (ingestion refused such events for the meters that need a number).
_EVENTS_BETWEEN = """
SELECT event_id, user_id, event_name AS name, value, properties, occurred_at,
    billing_period_start, billing_period_end, received_at
FROM usage_events
WHERE tenant_id = %(tenant_id)s AND event_name = %(event_name)s
    AND occurred_at >= %(since)s AND occurred_at < %(until)s
    AND (%(user_id)s::uuid IS NULL OR user_id = %(user_id)s)
"""


async def events_between(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    event_name: str,
    *,
    since: datetime,
    until: datetime,
    user_id: uuid.UUID | None,
) -> list[Event]:
    """The stored events of one name in a time window (for a page's trend: the rules of
    what a meter counts are applied to them in Python, rules.py, not here)."""
    rows = await raw.fetch_all(
        session,
        _EVENTS_BETWEEN,
        {
            "tenant_id": tenant_id,
            "event_name": event_name,
            "since": since,
            "until": until,
            "user_id": user_id,
        },
    )
    return [Event(**row._asdict()) for row in rows]
