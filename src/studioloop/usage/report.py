"""What the usage pages show, as plain data: each customer's use of each meter this period
against their tier's cap, who uses the most, who is near a cap, a meter's daily trend.

Read by the service (service.period_report, service.member_usage, service.trend); kept
apart from it so the shapes and the arithmetic on them are testable without a database.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal

from studioloop.usage.limits import WARN_AT, Cap
from studioloop.usage.models import UsageMeter


@dataclass(frozen=True)
class MeterUse:
    """One customer's use of one meter in their current period."""

    used: Decimal
    cap: Cap | None
    period_start: datetime
    period_end: datetime | None

    @property
    def share(self) -> Decimal | None:
        """Used over included (1 = at the cap); none without a cap. A cap of nothing is
        reached from the start."""
        if self.cap is None:
            return None
        if self.cap.included <= 0:
            return Decimal(1) if self.used <= 0 else Decimal(2)
        return self.used / self.cap.included

    @property
    def state(self) -> str:
        """ok, warn (80% of the cap), blocked (a hard cap reached) or over (past a soft
        cap: it still counts, and is billed past it)."""
        share = self.share
        if share is None or self.cap is None:
            return "ok"
        if self.cap.hard and share >= 1:
            return "blocked"
        if not self.cap.hard and self.used > self.cap.included:
            return "over"
        return "warn" if share >= WARN_AT else "ok"

    @property
    def near_cap(self) -> bool:
        share = self.share
        return share is not None and share >= WARN_AT


@dataclass
class CustomerUse:
    user_id: uuid.UUID
    email: str
    name: str
    tier: str | None
    uses: dict[uuid.UUID, MeterUse] = field(default_factory=dict)  # by meter id


@dataclass
class PeriodReport:
    """Every customer with a tier or with usage this period, and the live meters."""

    meters: list[UsageMeter]
    customers: list[CustomerUse]

    def top_consumers(self, meter_id: uuid.UUID, limit: int = 5) -> list[CustomerUse]:
        using = [c for c in self.customers if c.uses[meter_id].used > 0]
        using.sort(key=lambda c: (-c.uses[meter_id].used, c.name.lower()))
        return using[:limit]

    def near_caps(self) -> list[tuple[CustomerUse, UsageMeter, MeterUse]]:
        """Customers at 80% or more of a cap, fullest first."""
        found = [
            (customer, meter, customer.uses[meter.id])
            for customer in self.customers
            for meter in self.meters
            if customer.uses[meter.id].near_cap
        ]
        found.sort(key=lambda item: (-(item[2].share or 0), item[0].name.lower()))
        return found


@dataclass(frozen=True)
class MeterBar:
    """A member's bar for one meter: what they used against what their tier includes."""

    meter: UsageMeter
    use: MeterUse

    @property
    def percent(self) -> int:
        """How full the bar is drawn, 0 to 100."""
        share = self.use.share
        return 0 if share is None else int(min(share, Decimal(1)) * 100)


@dataclass(frozen=True)
class MemberUsage:
    tier: str | None
    bars: list[MeterBar]


@dataclass(frozen=True)
class Trend:
    """A meter's value per day, oldest first: what its aggregation makes of each day's
    events (count and sum: that day's amount; max: the day's highest; latest: the day's
    last value; unique_count: the distinct values seen that day)."""

    meter: UsageMeter
    days: list[tuple[date, Decimal]]


def figure(value: Decimal) -> str:
    """A number as the pages and the CSV write it: 12, 12.5, never 1.2E+1."""
    return f"{value.normalize():f}"
