"""The demo's creator: Coach Kopano sells two tiers of an online coaching app, with meters
and the last three weeks of usage reported the way the app reports it (docs/usage.md).

Loaded by demo.load_demo, idempotently: the tiers, meters and subscriptions are made
once, and the events have fixed ids, so loading again counts nothing twice.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from studioloop.accounts.models import User
from studioloop.billing.models import MembershipPlan, Subscription
from studioloop.tenants.models import Tenant
from studioloop.tenants.schemas import TenantCreate
from studioloop.usage import ingestion
from studioloop.usage.models import UsageMeter

CREATOR = TenantCreate(
    name="Coach Kopano Online",
    slug="coach-kopano",
    email="coach@kopano.example.com",
    kind="creator",
    marketplace_enabled=False,
)
SUBSCRIBERS = 30
# (slug, name, event, aggregation, property, unit, reset)
METERS = [
    ("ai-reviews", "AI form reviews", "ai_review", "count", None, "reviews", "billing_period"),
    ("video-minutes", "Video check-in minutes", "video_checkin", "sum", "minutes", "minutes",
     "billing_period"),
    ("devices", "Devices", "login", "unique_count", "device", "devices", "never"),
]  # fmt: skip
# (name, price in cents a month, caps, features)
TIERS: list[tuple[str, int, dict[str, Any], list[str]]] = [
    (
        "Coach Basic",
        19900,
        {"ai-reviews": 40,
         "video-minutes": {"included": 60, "hard": False, "overage_unit_price": 200},
         "devices": 2},
        [],
    ),
    (
        "Coach Pro",
        49900,
        {"ai-reviews": 300,
         "video-minutes": {"included": 300, "hard": False, "overage_unit_price": 150},
         "devices": 5},
        ["video-checkins", "ai-coach"],
    ),
]  # fmt: skip


async def load_creator(
    session: AsyncSession, tenant: Tenant, owner: User, members: list[User]
) -> None:
    """Tiers, meters, subscribers and usage, in the creator's own scope (the caller's);
    the subscribers are members of the creator already."""
    plans = await _tiers(session, tenant)
    await _meters(session, tenant)
    now = datetime.now(UTC)
    subscribers = members[:SUBSCRIBERS]
    for index, member in enumerate(subscribers):
        # Two in three on Basic; each period began 3 weeks ago (26 days: before the usage).
        plan = plans[1] if index % 3 == 0 else plans[0]
        await _subscribe(session, tenant, member, plan, now)
    await ingestion.ingest(session, tenant.id, tenant.timezone, _usage(subscribers, now))


async def _tiers(session: AsyncSession, tenant: Tenant) -> list[MembershipPlan]:
    plans = []
    for name, price, caps, features in TIERS:
        plan = await session.scalar(select(MembershipPlan).where(MembershipPlan.name == name))
        if plan is None:
            plan = MembershipPlan(
                tenant_id=tenant.id,
                name=name,
                price=price,
                interval="month",
                usage_caps=caps,
                feature_entitlements=features,
            )
            session.add(plan)
        plans.append(plan)
    await session.flush()
    return plans


async def _meters(session: AsyncSession, tenant: Tenant) -> None:
    for slug, name, event, aggregation, prop, unit, reset in METERS:
        if await session.scalar(select(UsageMeter.id).where(UsageMeter.slug == slug)):
            continue
        session.add(
            UsageMeter(
                tenant_id=tenant.id,
                slug=slug,
                name=name,
                event_name=event,
                aggregation=aggregation,
                value_property=prop,
                unit=unit,
                reset=reset,
                # Made before the demo's usage was received (a meter counts only after).
                created_at=datetime.now(UTC) - timedelta(days=30),
            )
        )
    await session.flush()


async def _subscribe(
    session: AsyncSession, tenant: Tenant, member: User, plan: MembershipPlan, now: datetime
) -> None:
    live = await session.scalar(
        select(Subscription.id).where(
            Subscription.user_id == member.id, Subscription.status == "active"
        )
    )
    if live is not None:
        return
    start = now - timedelta(days=21)
    session.add(
        Subscription(
            tenant_id=tenant.id,
            user_id=member.id,
            plan_id=plan.id,
            status="active",
            provider="sandbox",  # paid for in the demo's sandbox, renewed by a link
            current_period_start=start,
            current_period_end=start + timedelta(days=30),
            created_at=now - timedelta(days=26),
        )
    )
    await session.flush()


def _usage(subscribers: list[User], now: datetime) -> list[dict[str, Any]]:
    """Three weeks of what the coaching app reports, the same every load (fixed ids)."""
    chance = random.Random(2026)
    events: list[dict[str, Any]] = []
    for index, member in enumerate(subscribers):
        heavy = index % 5 == 0  # a few use a lot: near or past their caps
        for day in range(21):
            when = now - timedelta(days=20 - day, hours=chance.randint(0, 10))
            for n in range(chance.randint(1, 4 if heavy else 2)):
                events.append(
                    {
                        "event_id": f"demo-{member.id}-{day}-review-{n}",
                        "customer": str(member.id),
                        "event": "ai_review",
                        "timestamp": when.isoformat(),
                    }
                )
            if chance.random() < (0.6 if heavy else 0.3):
                events.append(
                    {
                        "event_id": f"demo-{member.id}-{day}-video",
                        "customer": str(member.id),
                        "event": "video_checkin",
                        "properties": {"minutes": chance.randint(5, 25)},
                        "timestamp": when.isoformat(),
                    }
                )
            events.append(
                {
                    "event_id": f"demo-{member.id}-{day}-login",
                    "customer": str(member.id),
                    "event": "login",
                    "properties": {"device": f"device-{chance.randint(1, 3)}"},
                    "timestamp": when.isoformat(),
                }
            )
    return events
