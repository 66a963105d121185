"""Caps: what a customer's tier includes per meter, when usage warns (80%) and blocks
(100% of a hard cap), and the one notice of each per period.

A tier is a membership plan (billing); its `usage_caps` map a meter's slug to the units
included each period, either a number (a hard cap) or
`{"included": n, "hard": false, "overage_unit_price": minor_units}` (a soft cap: usage
past it counts and the overage is billed at the period's end).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from studioloop.notifications import service as notifications
from studioloop.usage import repository, rules

WARN_AT = Decimal("0.8")


@dataclass(frozen=True)
class Cap:
    included: Decimal
    hard: bool
    overage_unit_price: int | None


def cap_from(raw: Any) -> Cap | None:
    if isinstance(raw, bool):
        return None
    if isinstance(raw, int):
        return Cap(Decimal(raw), True, None)
    if isinstance(raw, dict) and isinstance(raw.get("included"), int):
        price = raw.get("overage_unit_price")
        return Cap(
            Decimal(raw["included"]),
            bool(raw.get("hard", True)),
            price if isinstance(price, int) and not isinstance(price, bool) else None,
        )
    return None


def caps_of(tier: Any) -> dict[str, Cap]:
    """The caps of a customer's tier by meter slug; none without a tier."""
    return plan_caps(tier.usage_caps if tier is not None else None)


def plan_caps(usage_caps: dict[str, Any] | None) -> dict[str, Cap]:
    """A plan's `usage_caps`, read."""
    found = {slug: cap_from(raw) for slug, raw in (usage_caps or {}).items()}
    return {slug: cap for slug, cap in found.items() if cap is not None}


def state_of(used: Decimal, cap: Cap | None) -> str:
    if cap is None:
        return "ok"
    if cap.hard and used >= cap.included:
        return "blocked"
    if used >= cap.included * WARN_AT:
        return "warn"
    return "ok"


def first_blocked(
    items: Iterable[rules.Contribution],
    totals: dict[rules.Key, rules.Total],
    seen: set[tuple[rules.Key, str]],
    caps: dict[str, Cap],
    slugs: dict[uuid.UUID, str],
) -> str | None:
    """Why a hard cap refuses this event (counted next), or None."""
    for item in items:
        cap = caps.get(slugs.get(item.key.meter_id, ""))
        if cap is None or not cap.hard:
            continue
        current = totals[item.key].value
        if item.aggregation in ("count", "sum"):
            after = current + item.amount
        elif item.aggregation == "unique_count":
            fresh = (item.key, item.unique_value) not in seen
            after = current + (1 if fresh else 0)
        else:  # max, latest: the value itself is what is capped
            after = item.amount
        if after > cap.included:
            return f"The tier includes {cap.included} of '{slugs[item.key.meter_id]}' per period."
    return None


async def tell_crossings(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    before: dict[rules.Key, Decimal],
    totals: dict[rules.Key, rules.Total],
    touched: set[rules.Key],
    caps: dict[uuid.UUID, dict[str, Cap]],
    meters: list[rules.Meter],
) -> None:
    """A customer whose usage crossed 80% or 100% of a cap hears it once per period (the
    notification's dedup key names the period). `caps`: each customer's, by meter slug
    (`caps_of` their tier)."""
    by_id = {meter.id: meter for meter in meters}
    for key in touched:
        meter = by_id.get(key.meter_id)
        cap = caps.get(key.user_id, {}).get(meter.slug) if meter else None
        if meter is None or cap is None or cap.included <= 0:
            continue
        was, now = before.get(key, Decimal(0)), totals[key].value
        for share, event in ((Decimal(1), "usage_limit_reached"), (WARN_AT, "usage_warning")):
            if was < cap.included * share <= now:
                who = await repository.names(session, tenant_id, key.user_id)
                await notifications.notify(
                    session,
                    event,
                    tenant_id=tenant_id,
                    user_id=key.user_id,
                    dedup_key=f"{event}:{meter.id}:{key.user_id}:{key.period_start.isoformat()}",
                    context={
                        "first_name": who.first_name if who else "",
                        "studio_name": who.studio_name if who else "",
                        "meter": meter.slug,
                        "used": f"{now.normalize():f}",
                        "included": f"{cap.included.normalize():f}",
                        "hard": cap.hard,
                    },
                )
                break
