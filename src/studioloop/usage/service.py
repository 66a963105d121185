"""Meters, limit checks and a customer's usage. (Taking in events: ingestion.py.)"""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, date, datetime, time
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import exists, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from studioloop.usage import exceptions as exc, limits, report, repository, rules
from studioloop.usage.models import UsageAggregate, UsageMeter
from studioloop.usage.schemas import CheckOut, MeterIn, MeterUpdate, UsageLineOut

# An amount on a bill, in minor units: as payments keep their lines (payments.lines).
BillLine = dict[str, Any]

# What a meter counts: these cannot change once it has counted anything, or its totals
# would mix two meanings.
COUNTING_FIELDS = ("event_name", "property_filter", "aggregation", "value_property", "reset")


async def list_meters(session: AsyncSession, *, include_archived: bool) -> list[UsageMeter]:
    query = select(UsageMeter).order_by(UsageMeter.created_at)
    if not include_archived:
        query = query.where(UsageMeter.archived_at.is_(None))
    return list((await session.scalars(query)).all())


async def get_meter(session: AsyncSession, meter_id: uuid.UUID) -> UsageMeter:
    meter = await session.get(UsageMeter, meter_id)
    if meter is None:
        raise exc.MeterNotFound()
    return meter


async def create_meter(session: AsyncSession, tenant_id: uuid.UUID, data: MeterIn) -> UsageMeter:
    _check_counting(data.aggregation, data.value_property)
    meter = UsageMeter(tenant_id=tenant_id, **data.model_dump())
    session.add(meter)
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError as error:
        raise exc.MeterSlugTaken() from error
    return meter


async def update_meter(session: AsyncSession, meter: UsageMeter, data: MeterUpdate) -> UsageMeter:
    changes = data.model_dump(exclude_unset=True)
    archived = changes.pop("archived", None)
    counting = {
        name: value
        for name, value in changes.items()
        if name in COUNTING_FIELDS and value != getattr(meter, name)
    }
    if counting and await _has_counted(session, meter.id):
        raise exc.MeterInUse(details={"fields": sorted(counting)})
    _check_counting(
        changes.get("aggregation", meter.aggregation),
        changes.get("value_property", meter.value_property),
    )
    for name, value in changes.items():
        if name == "value_property" or value is not None:
            setattr(meter, name, value)
    if archived is not None:
        meter.archived_at = datetime.now(UTC) if archived else None
    await session.flush()
    return meter


def _check_counting(aggregation: str, value_property: str | None) -> None:
    if aggregation == "count" and value_property is not None:
        raise exc.CheckQueryInvalid(
            "A count meter counts events; it takes no value_property.",
            code="METER_INVALID",
        )


async def _has_counted(session: AsyncSession, meter_id: uuid.UUID) -> bool:
    return bool(await session.scalar(select(exists().where(UsageAggregate.meter_id == meter_id))))


async def meter_by_slug(session: AsyncSession, slug: str) -> UsageMeter:
    meter = await session.scalar(select(UsageMeter).where(UsageMeter.slug == slug))
    if meter is None:
        raise exc.MeterNotFound()
    return meter


async def customer_id(session: AsyncSession, tenant_id: uuid.UUID, reference: str) -> uuid.UUID:
    """The member a customer reference (user id or email) names."""
    as_id = _as_uuid(reference)
    rows = await repository.customers(
        session, tenant_id, [as_id] if as_id else [], [] if as_id else [reference.lower()]
    )
    if not rows:
        raise exc.CustomerNotFound()
    found: uuid.UUID = rows[0].id
    return found


def _as_uuid(text: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(text)
    except ValueError:
        return None


def _current_key(
    meter: rules.Meter, user_id: uuid.UUID, tier: Any, timezone: ZoneInfo
) -> tuple[rules.Key, datetime | None]:
    """The period a meter counts in right now, as ingestion would place an event now."""
    now = datetime.now(UTC)
    event = rules.Event(
        event_id="",
        user_id=user_id,
        name=meter.event_name,
        value=None,
        properties={},
        occurred_at=now,
        billing_period_start=tier.current_period_start if tier is not None else None,
        billing_period_end=tier.current_period_end if tier is not None else None,
        received_at=now,
    )
    start, end = rules.period(meter, event, timezone)
    return rules.Key(meter.id, user_id, start), end


def _rule_meter(meter: UsageMeter) -> rules.Meter:
    return rules.Meter(
        id=meter.id,
        slug=meter.slug,
        event_name=meter.event_name,
        property_filter=meter.property_filter,
        aggregation=meter.aggregation,
        value_property=meter.value_property,
        reset=meter.reset,
        created_at=meter.created_at,
    )


async def _tier(session: AsyncSession, user_id: uuid.UUID) -> Any:
    rows = await repository.tiers(session, [user_id])
    return rows[0] if rows else None


async def check_meter(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    timezone: str,
    customer: str,
    slug: str,
    amount: Decimal,
) -> CheckOut:
    """May the customer use `amount` more of the meter now? Read from the running total
    and the customer's tier: one row, however many events."""
    # The customer and the meter in one round trip, without the ORM: a check is the app's
    # hot read (bench/usage_ingest.py).
    as_id = _as_uuid(customer)
    async with repository.pipeline(session):
        customers = await repository.send_customers(
            session, tenant_id, [as_id] if as_id else [], [] if as_id else [customer.lower()]
        )
        meters = await repository.send_meter_by_slug(session, slug)
    found = await customers.fetchone()
    if found is None:
        raise exc.CustomerNotFound()
    user_id: uuid.UUID = found.id
    meter = await repository.meter_of(meters)
    if meter is None:
        raise exc.MeterNotFound()
    tier = await _tier(session, user_id)
    key, period_end = _current_key(meter, user_id, tier, ZoneInfo(timezone))
    row = await repository.total(session, key)
    used = Decimal(row.value) if row is not None else Decimal(0)
    cap = limits.caps_of(tier).get(meter.slug)
    tier_name = tier.plan_name if tier is not None else None
    if tier is None:
        # No tier, nothing included: a creator sells usage through tiers.
        return CheckOut(
            allowed=False, state="blocked", meter=slug, used=used, limit=Decimal(0),
            remaining=Decimal(0), hard_cap=True, resets_at=period_end, tier=None,
        )  # fmt: skip
    if cap is None:
        return CheckOut(
            allowed=True, state="ok", meter=slug, used=used, resets_at=period_end, tier=tier_name
        )
    after = used + amount if meter.aggregation in rules.ADDITIVE else amount
    allowed = not cap.hard or after <= cap.included
    # The state of the use asked about: what using `amount` more would leave.
    state = limits.state_of(after, cap) if allowed else "blocked"
    if allowed and state == "blocked":  # exactly at a hard cap: allowed, and the last
        state = "warn"
    return CheckOut(
        allowed=allowed,
        state=state,
        meter=slug,
        used=used,
        limit=cap.included,
        remaining=max(cap.included - used, Decimal(0)),
        hard_cap=cap.hard,
        resets_at=period_end,
        tier=tier_name,
    )


async def check_feature(
    session: AsyncSession, tenant_id: uuid.UUID, customer: str, feature: str
) -> CheckOut:
    user_id = await customer_id(session, tenant_id, customer)
    tier = await _tier(session, user_id)
    allowed = tier is not None and feature in (tier.feature_entitlements or [])
    return CheckOut(
        allowed=allowed,
        state="ok" if allowed else "blocked",
        feature=feature,
        tier=tier.plan_name if tier is not None else None,
    )


async def usage_of(session: AsyncSession, timezone: str, user_id: uuid.UUID) -> list[UsageLineOut]:
    """Each live meter's use this period for one customer, against their tier's caps."""
    tier = await _tier(session, user_id)
    caps = limits.caps_of(tier)
    lines = []
    for meter in await list_meters(session, include_archived=False):
        key, end = _current_key(_rule_meter(meter), user_id, tier, ZoneInfo(timezone))
        row = await repository.total(session, key)
        cap = caps.get(meter.slug)
        lines.append(
            UsageLineOut(
                meter=meter.slug,
                name=meter.name,
                unit=meter.unit,
                used=Decimal(row.value) if row is not None else Decimal(0),
                limit=cap.included if cap is not None else None,
                period_start=key.period_start,
                period_end=end,
            )
        )
    return lines


async def overage_lines(
    session: AsyncSession,
    user_id: uuid.UUID,
    usage_caps: dict[str, Any],
    period_start: datetime,
) -> list[BillLine]:
    """What a member's usage past their tier's soft caps costs for the billing period that
    began at `period_start` (billing-period meters only: a calendar-month or never-reset
    meter has no period the renewal closes). One line per meter with an overage price."""
    caps = limits.plan_caps(usage_caps)
    priced = {slug: cap for slug, cap in caps.items() if not cap.hard and cap.overage_unit_price}
    if not priced:
        return []
    lines: list[BillLine] = []
    for meter in await list_meters(session, include_archived=True):
        cap = priced.get(meter.slug)
        if cap is None or meter.reset != "billing_period":
            continue
        row = await repository.total(session, rules.Key(meter.id, user_id, period_start))
        used = Decimal(row.value) if row is not None else Decimal(0)
        over = used - cap.included
        if over <= 0:
            continue
        assert cap.overage_unit_price is not None
        # Part units round up, to the minor unit: a bill never charges a fraction of a cent.
        amount = int((over * cap.overage_unit_price).to_integral_value(rounding="ROUND_CEILING"))
        lines.append(
            {
                "description": f"{meter.name}: {_plain(over)} {meter.unit} past the "
                f"{_plain(cap.included)} included",
                "quantity": _plain(over),
                "unit_amount": cap.overage_unit_price,
                "amount": amount,
            }
        )
    return lines


def _plain(number: Decimal) -> str:
    return f"{number.normalize():f}"


# --- what the usage pages read ----------------------------------------------------------------

TREND_DAYS = 30


def _use(
    meter: UsageMeter,
    user_id: uuid.UUID,
    tier: Any,
    zone: ZoneInfo,
    totals: dict[rules.Key, Decimal],
) -> report.MeterUse:
    """The customer's use of the meter in the period a check would read now."""
    key, end = _current_key(_rule_meter(meter), user_id, tier, zone)
    return report.MeterUse(
        used=totals.get(key, Decimal(0)),
        cap=limits.caps_of(tier).get(meter.slug),
        period_start=key.period_start,
        period_end=end,
    )


async def period_report(
    session: AsyncSession, tenant_id: uuid.UUID, timezone: str
) -> report.PeriodReport:
    """Each customer's use of every live meter this period, against their tier: everyone
    with a tier, and anyone else who used something. Read from the running totals (one
    row per customer, meter and period), like the checks."""
    meters = await list_meters(session, include_archived=False)
    rows = await repository.current_totals(session, tenant_id, datetime.now(UTC))
    totals = {
        rules.Key(row.meter_id, row.user_id, row.period_start): Decimal(row.value) for row in rows
    }
    tiers = {row.user_id: row for row in await repository.every_tier(session, tenant_id)}
    wanted = {row.user_id for row in rows} | set(tiers)
    zone = ZoneInfo(timezone)
    customers = []
    for person in await repository.people(session, tenant_id, sorted(wanted)):
        tier = tiers.get(person.id)
        customers.append(
            report.CustomerUse(
                user_id=person.id,
                email=person.email,
                name=f"{person.first_name} {person.last_name}".strip() or person.email,
                tier=tier.plan_name if tier is not None else None,
                uses={m.id: _use(m, person.id, tier, zone, totals) for m in meters},
            )
        )
    customers.sort(key=lambda c: (c.name.lower(), c.email))
    return report.PeriodReport(meters=meters, customers=customers)


async def member_usage(
    session: AsyncSession, timezone: str, user_id: uuid.UUID
) -> report.MemberUsage:
    """One member's tier and a bar per live meter: their use this period against its cap."""
    tier = await _tier(session, user_id)
    zone = ZoneInfo(timezone)
    bars = []
    for meter in await list_meters(session, include_archived=False):
        key, _ = _current_key(_rule_meter(meter), user_id, tier, zone)
        row = await repository.total(session, key)
        totals = {key: Decimal(row.value)} if row is not None else {}
        bars.append(report.MeterBar(meter, _use(meter, user_id, tier, zone, totals)))
    return report.MemberUsage(tier=tier.plan_name if tier is not None else None, bars=bars)


async def trend(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    timezone: str,
    meter: UsageMeter,
    *,
    user_id: uuid.UUID | None = None,
    days: int = TREND_DAYS,
) -> report.Trend:
    """The meter's value per day over the last `days` days (today included, in the
    studio's zone), for everyone or one customer.

    Read from the stored events, not the totals: a total is per period, and a day is not
    one. The events are partitioned by month, so this reads the last month or two of
    them; the checks and ingestion never do (a page may take longer than a check)."""
    zone = ZoneInfo(timezone)
    today = datetime.now(zone).date()
    first = today.toordinal() - days + 1
    since = datetime.combine(date.fromordinal(first), time(), zone).astimezone(UTC)
    until = datetime.combine(date.fromordinal(today.toordinal() + 1), time(), zone)
    events = await repository.events_between(
        session,
        tenant_id,
        meter.event_name,
        since=since,
        until=until.astimezone(UTC),
        user_id=user_id,
    )
    by_day = _per_day(replace(_rule_meter(meter), archived_at=meter.archived_at), events, zone)
    series = [date.fromordinal(first + n) for n in range(days)]
    return report.Trend(
        meter, [(day, by_day[day].value if day in by_day else Decimal(0)) for day in series]
    )


def _per_day(
    meter: rules.Meter, events: list[rules.Event], zone: ZoneInfo
) -> dict[date, rules.Total]:
    """The meter's value per local day, counted by the meter's own rules (rules.py): a day
    is folded like a period; a distinct value counts once a day per customer (a meter
    counts per customer: the studio's daily figure is the sum of theirs)."""
    totals: dict[date, rules.Total] = {}
    seen: set[tuple[date, uuid.UUID, str]] = set()
    for event in sorted(events, key=lambda e: (e.occurred_at, e.event_id)):
        if not rules.matches(meter, event):
            continue
        try:
            item = rules.contribution(meter, event, zone)
        except rules.MissingProperty:
            continue
        day = event.occurred_at.astimezone(zone).date()
        fresh = True
        if item.unique_value is not None:
            mark = (day, event.user_id, item.unique_value)
            fresh = mark not in seen
            seen.add(mark)
        totals.setdefault(day, rules.Total()).fold(item, new_unique=fresh)
    return totals
