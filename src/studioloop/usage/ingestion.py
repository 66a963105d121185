"""Taking in a batch of usage events: each checked on its own (one bad event never sinks
the batch), idempotent by the caller's event id, counted into the running totals in the
same transaction. The path never reads events back: it reads the meters, the batch's
customers and their tiers, and the totals it is about to change.

Policy (docs/usage.md):
- A timestamp more than FUTURE_SKEW ahead is refused (`FUTURE_TIMESTAMP`).
- An event for a period already billed is refused (`PERIOD_CLOSED`): before the
  customer's current billing period for a `billing_period` meter (that period was invoiced
  at the renewal); a calendar month closes MONTH_GRACE after it ends.
- Unknown customers are refused (`UNKNOWN_CUSTOMER`): a customer is one of the studio's
  people, named by user id or email.
- Past a hard cap, events are refused (`LIMIT_REACHED`); past a soft cap they count and
  the overage is billed.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import TypeAdapter, ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from studioloop.jobs import defer
from studioloop.usage import forwarding, job_names, limits, repository, rules
from studioloop.usage.schemas import BatchResult, EventIn, RejectedEvent

FUTURE_SKEW = timedelta(minutes=5)
# Usage from before this is refused as malformed (a year-1 time also overflowed the month
# arithmetic in rules.month_of).
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
MONTH_GRACE = timedelta(days=1)
_EVENT = TypeAdapter(EventIn)


@dataclass
class _Batch:
    tenant_id: uuid.UUID
    timezone: ZoneInfo
    now: datetime
    rejected: list[RejectedEvent] = field(default_factory=list)

    def reject(self, index: int, event_id: str | None, code: str, message: str) -> None:
        self.rejected.append(
            RejectedEvent(index=index, event_id=event_id, code=code, message=message)
        )


async def ingest(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    timezone: str,
    raw_events: Sequence[Any],
    *,
    forward_to: tuple[str, str] | None = None,
) -> BatchResult:
    """Count a batch (module docstring); with `forward_to` (host, key: forwarding.py), the
    accepted events also go to the studio's PostHog, by a job committed with them."""
    batch = _Batch(tenant_id, ZoneInfo(timezone), datetime.now(UTC))
    parsed = _parse(batch, raw_events)
    resolved = await _resolve_customers(session, batch, parsed)
    tiers = {
        row.user_id: row
        for row in await repository.tiers(session, list({u for _, _, u in resolved}))
    }
    meters = await repository.live_meters(session)

    candidates: list[tuple[int, rules.Event, list[rules.Contribution]]] = []
    for index, event_in, user_id in resolved:
        event = _event(batch, event_in, user_id, tiers.get(user_id))
        try:
            items = rules.contributions(meters, event, batch.timezone)
        except rules.MissingProperty as missing:
            batch.reject(index, event.event_id, "MISSING_PROPERTY", str(missing))
            continue
        closed = _closed_period(batch, items, tiers.get(user_id))
        if closed:
            batch.reject(index, event.event_id, "PERIOD_CLOSED", closed)
            continue
        candidates.append((index, event, items))

    fresh = await repository.claim_event_ids(
        session, tenant_id, [e.event_id for _, e, _ in candidates]
    )
    duplicates = len(raw_events) - len(batch.rejected) - len(fresh)
    kept = [c for c in candidates if c[1].event_id in fresh]
    accepted, refused, totals, new_values = await _count(session, batch, kept, tiers, meters)
    await repository.store_batch(
        session,
        tenant_id,
        events=accepted,
        refused_ids=refused,
        totals={key: (t.value, t.events, t.latest_at) for key, t in totals.items()},
        new_unique_values=new_values,
    )
    if forward_to is not None and accepted:
        host, key = forward_to
        await defer.defer_in_transaction(
            session,
            job_names.FORWARD_TO_POSTHOG,
            host=host,
            api_key=key,
            batch=forwarding.capture_batch(accepted),
        )
    batch.rejected.sort(key=lambda r: r.index)
    return BatchResult(accepted=len(accepted), duplicates=duplicates, rejected=batch.rejected)


def _parse(batch: _Batch, raw_events: Sequence[Any]) -> list[tuple[int, EventIn]]:
    parsed: list[tuple[int, EventIn]] = []
    seen: set[str] = set()
    for index, raw in enumerate(raw_events):
        event_id = raw.get("event_id") if isinstance(raw, dict) else None
        # Given back in the answer only if it can be written in it.
        shown_id = event_id if isinstance(event_id, str) and not _bad_text(event_id) else None
        try:
            event = _EVENT.validate_python(raw)
        except ValidationError as error:
            first = error.errors()[0]
            where = ".".join(str(p) for p in first["loc"]) or "event"
            batch.reject(index, shown_id, "INVALID_EVENT", f"{where}: {first['msg']}")
            continue
        unstorable = _unstorable(event)
        if unstorable:
            batch.reject(index, shown_id, "INVALID_EVENT", unstorable)
            continue
        when = event.timestamp
        if when is not None and when.tzinfo is None:
            batch.reject(index, shown_id, "INVALID_EVENT", "timestamp: give a UTC offset")
            continue
        if when is not None and when < EARLIEST:
            batch.reject(index, shown_id, "INVALID_EVENT", "timestamp: before the year 2000")
            continue
        if when is not None and when > batch.now + FUTURE_SKEW:
            batch.reject(
                index, shown_id, "FUTURE_TIMESTAMP", "The timestamp is more than 5 minutes ahead."
            )
            continue
        if event.event_id in seen:  # the same id twice in one batch: the first counts
            continue
        seen.add(event.event_id)
        parsed.append((index, event))
    return parsed


def _unstorable(event: EventIn) -> str | None:
    """Text PostgreSQL cannot store (a NUL, a lone surrogate) would fail the whole batch's
    statement: such an event is refused on its own instead."""
    for text in _strings([event.event_id, event.customer, event.event, event.properties]):
        problem = _bad_text(text)
        if problem:
            return problem
    return None


def _bad_text(text: str) -> str | None:
    if "\x00" in text:
        return "Text may not contain the NUL character."
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "Text must be valid Unicode."
    return None


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in (*_strings(k), *_strings(v))]
    if isinstance(value, list):
        return [s for item in value for s in _strings(item)]
    return []


async def _resolve_customers(
    session: AsyncSession, batch: _Batch, parsed: list[tuple[int, EventIn]]
) -> list[tuple[int, EventIn, uuid.UUID]]:
    # A batch names each customer many times: each name is read once.
    references = {name: _as_uuid(name) for name in {event.customer for _, event in parsed}}
    ids = {reference for reference in references.values() if reference is not None}
    emails = {name.strip().lower() for name, ref in references.items() if ref is None}
    known = await repository.customers(session, batch.tenant_id, list(ids), list(emails))
    by_id = {row.id for row in known}
    by_email = {row.email: row.id for row in known}
    resolved = []
    for index, event in parsed:
        reference = references[event.customer]
        user_id = reference if reference in by_id else by_email.get(event.customer.strip().lower())
        if user_id is None:
            batch.reject(
                index,
                event.event_id,
                "UNKNOWN_CUSTOMER",
                "No member of this studio has that user id or email.",
            )
            continue
        resolved.append((index, event, user_id))
    return resolved


def _as_uuid(text: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(text)
    except ValueError:
        return None


def _event(batch: _Batch, event: EventIn, user_id: uuid.UUID, tier: Any) -> rules.Event:
    occurred = (event.timestamp or batch.now).astimezone(UTC)
    period_start = period_end = None
    # Usage from before the customer subscribed belongs to no billing period: it counts in
    # calendar months, as for a customer without a tier.
    if (
        tier is not None
        and tier.current_period_start is not None
        and occurred >= tier.subscribed_at
    ):
        period_start, period_end = tier.current_period_start, tier.current_period_end
    return rules.Event(
        event_id=event.event_id,
        user_id=user_id,
        name=event.event,
        value=Decimal(str(event.value)) if event.value is not None else None,
        properties=event.properties,
        occurred_at=occurred,
        billing_period_start=period_start,
        billing_period_end=period_end,
        received_at=batch.now,
    )


def _closed_period(batch: _Batch, items: list[rules.Contribution], tier: Any) -> str | None:
    for item in items:
        if item.key.period_start == rules.FOREVER:
            continue
        billed = (  # while subscribed, but before this period: an earlier, invoiced one
            tier is not None
            and tier.current_period_start is not None
            and tier.subscribed_at <= item.occurred_at < tier.current_period_start
        )
        if billed:
            return "That billing period was invoiced already."
        if item.period_end is not None and batch.now > item.period_end + MONTH_GRACE:
            return "That month's usage is closed."
    return None


async def _count(
    session: AsyncSession,
    batch: _Batch,
    kept: list[tuple[int, rules.Event, list[rules.Contribution]]],
    tiers: dict[uuid.UUID, Any],
    meters: list[rules.Meter],
) -> tuple[list[rules.Event], list[str], dict[rules.Key, rules.Total], list[tuple[rules.Key, str]]]:
    """Fold the fresh events into their totals in the batch's order, refusing those a hard
    cap stops; the totals are locked first, so concurrent batches count one after the
    other."""
    keys = {item.key: item.period_end for _, _, items in kept for item in items}
    totals: dict[rules.Key, rules.Total] = {}
    seen: set[tuple[rules.Key, str]] = set()
    if keys:
        wanted = [
            (i.key, i.unique_value)
            for _, _, items in kept
            for i in items
            if i.unique_value is not None
        ]
        rows, seen = await repository.lock_totals(session, batch.tenant_id, keys, wanted)
        for row in rows:
            key = rules.Key(row.meter_id, row.user_id, row.period_start)
            totals[key] = rules.Total(row.value, row.events, row.latest_at)
    slugs = {meter.id: meter.slug for meter in meters}
    # Read once per plan, not per event: a tier's caps are the same all batch long.
    by_plan = {tier.plan_id: limits.caps_of(tier) for tier in tiers.values()}
    caps = {user_id: by_plan[tier.plan_id] for user_id, tier in tiers.items()}
    accepted: list[rules.Event] = []
    refused: list[str] = []
    new_values: list[tuple[rules.Key, str]] = []
    touched: set[rules.Key] = set()
    before = {key: total.value for key, total in totals.items()}
    for index, event, items in kept:
        blocked = limits.first_blocked(items, totals, seen, caps.get(event.user_id, {}), slugs)
        if blocked is not None:
            batch.reject(index, event.event_id, "LIMIT_REACHED", blocked)
            refused.append(event.event_id)
            continue
        for item in items:
            fresh_value = (
                item.unique_value is not None and (item.key, item.unique_value) not in seen
            )
            if fresh_value:
                seen.add((item.key, item.unique_value))  # type: ignore[arg-type]
                new_values.append((item.key, item.unique_value))  # type: ignore[arg-type]
            totals[item.key].fold(item, new_unique=fresh_value)
        accepted.append(event)
        touched.update(item.key for item in items)
    await limits.tell_crossings(session, batch.tenant_id, before, totals, touched, caps, meters)
    return accepted, refused, {k: totals[k] for k in touched}, new_values
