"""The rules of metering, in one place: which meters an event feeds, what it adds, which
period it falls in, and how a batch's contributions fold into a running total.

The ingestion path (ingestion.py) and the rebuild (rebuild.py) both go through these
functions, so an aggregate rebuilt from stored events is the one ingestion kept.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo

# A `never` meter's only period.
FOREVER = datetime(1970, 1, 1, tzinfo=UTC)
ADDITIVE = ("count", "sum", "unique_count")


@dataclass(frozen=True)
class Meter:
    id: uuid.UUID
    slug: str
    event_name: str
    property_filter: dict[str, Any]
    aggregation: str
    value_property: str | None
    reset: str
    created_at: datetime
    archived_at: datetime | None = None


@dataclass(frozen=True)
class Event:
    """An event as stored: its customer resolved, its billing period known."""

    event_id: str
    user_id: uuid.UUID
    name: str
    value: Decimal | None
    properties: dict[str, Any]
    occurred_at: datetime
    billing_period_start: datetime | None
    billing_period_end: datetime | None
    received_at: datetime


@dataclass(frozen=True)
class Key:
    """One running total: a meter, a customer, a period."""

    meter_id: uuid.UUID
    user_id: uuid.UUID
    period_start: datetime


@dataclass(frozen=True)
class Contribution:
    key: Key
    period_end: datetime | None
    aggregation: str
    amount: Decimal  # count: 1; sum, max, latest: the number; unique_count: 1
    unique_value: str | None  # unique_count only
    occurred_at: datetime


class MissingProperty(ValueError):
    def __init__(self, meter: Meter) -> None:
        wanted = meter.value_property or "value"
        kind = "a value" if meter.aggregation == "unique_count" else "a number from 0 to 1e15"
        super().__init__(f"Meter '{meter.slug}' needs {kind} in '{wanted}'.")


def matches(meter: Meter, event: Event) -> bool:
    """The event feeds the meter: same name, every filtered property equal, and received
    while the meter was live (a new meter does not count the past, an archived one stops)."""
    if meter.event_name != event.name or event.received_at < meter.created_at:
        return False
    if meter.archived_at is not None and event.received_at >= meter.archived_at:
        return False
    return all(event.properties.get(name) == want for name, want in meter.property_filter.items())


# What a counted number may be, as the event's own `value` (usage/schemas.py): usage is
# never negative (it would erase usage, and get a customer back under a hard cap).
LARGEST = Decimal("1e15")


def _number(raw: Any) -> Decimal | None:
    """A JSON number from 0 to LARGEST; text such as "5" is not one."""
    if isinstance(raw, bool) or not isinstance(raw, int | float):
        return None
    try:
        number = Decimal(str(raw))
    except InvalidOperation:
        return None
    return number if number.is_finite() and 0 <= number <= LARGEST else None


def contribution(meter: Meter, event: Event, timezone: ZoneInfo) -> Contribution:
    """What the event adds to the meter; MissingProperty when it lacks what is counted."""
    unique: str | None = None
    if meter.aggregation == "count":
        amount = Decimal(1)
    elif meter.aggregation == "unique_count":
        raw = event.properties.get(meter.value_property) if meter.value_property else event.value
        if raw is None or isinstance(raw, dict | list):
            raise MissingProperty(meter)
        unique, amount = str(raw), Decimal(1)
    else:
        found = (
            _number(event.properties.get(meter.value_property))
            if meter.value_property
            else (event.value if event.value is not None else Decimal(1))
        )
        if found is None:
            raise MissingProperty(meter)
        amount = found
    start, end = period(meter, event, timezone)
    return Contribution(
        key=Key(meter.id, event.user_id, start),
        period_end=end,
        aggregation=meter.aggregation,
        amount=amount,
        unique_value=unique,
        occurred_at=event.occurred_at,
    )


def contributions(meters: Sequence[Meter], event: Event, timezone: ZoneInfo) -> list[Contribution]:
    return [contribution(m, event, timezone) for m in meters if matches(m, event)]


def month_of(moment: datetime, timezone: ZoneInfo) -> tuple[datetime, datetime]:
    """The calendar month (in the studio's time zone) the moment falls in."""
    local = moment.astimezone(timezone)
    start = local.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    following = (
        start.replace(year=start.year + 1, month=1)
        if start.month == 12
        else start.replace(month=start.month + 1)
    )
    return start.astimezone(UTC), following.astimezone(UTC)


def period(meter: Meter, event: Event, timezone: ZoneInfo) -> tuple[datetime, datetime | None]:
    if meter.reset == "never":
        return FOREVER, None
    if (
        meter.reset == "billing_period"
        and event.billing_period_start is not None
        and event.billing_period_end is not None
    ):
        return event.billing_period_start, event.billing_period_end
    # `month`, and a billing-period meter for a customer without a subscription.
    return month_of(event.occurred_at, timezone)


@dataclass
class Total:
    """A running total as stored, folded with contributions in the order they came."""

    value: Decimal = Decimal(0)
    events: int = 0
    latest_at: datetime | None = None

    def fold(self, item: Contribution, *, new_unique: bool = True) -> None:
        self.events += 1
        if item.aggregation in ("count", "sum"):
            self.value += item.amount
        elif item.aggregation == "unique_count":
            self.value += 1 if new_unique else 0
        elif item.aggregation == "max":
            self.value = item.amount if self.events == 1 else max(self.value, item.amount)
        elif (  # latest: the newest event's value; of two at the same moment, the larger
            self.latest_at is None
            or item.occurred_at > self.latest_at
            or (item.occurred_at == self.latest_at and item.amount > self.value)
        ):
            self.value, self.latest_at = item.amount, item.occurred_at


def fold_all(items: Iterable[Contribution]) -> dict[Key, tuple[Total, datetime | None]]:
    """Totals from nothing (the rebuild): each key's total and period end."""
    totals: dict[Key, tuple[Total, datetime | None]] = {}
    seen: set[tuple[Key, str]] = set()
    for item in items:
        total, _ = totals.setdefault(item.key, (Total(), item.period_end))
        if item.unique_value is not None:
            new = (item.key, item.unique_value) not in seen
            seen.add((item.key, item.unique_value))
            total.fold(item, new_unique=new)
        else:
            total.fold(item)
    return totals
