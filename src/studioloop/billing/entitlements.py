"""What a member's subscription entitles them to, answered for the booking engine."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from studioloop.billing.models import ENTITLED_STATUSES, MembershipPlan, Subscription
from studioloop.billing.service import is_paused
from studioloop.booking import entitlements
from studioloop.booking.entitlements import Entitlement


async def entitlement_of(
    session: AsyncSession, tenant_id: uuid.UUID, user_id: uuid.UUID
) -> Entitlement:
    """An active (or past-due, while retried) and unpaused membership at the studio."""
    row = (
        await session.execute(
            select(Subscription, MembershipPlan)
            .join(MembershipPlan, MembershipPlan.id == Subscription.plan_id)
            .where(
                Subscription.tenant_id == tenant_id,
                Subscription.user_id == user_id,
                Subscription.status.in_(ENTITLED_STATUSES),
            )
        )
    ).first()
    if row is None or is_paused(row[0]):
        return entitlements.NONE
    plan: MembershipPlan = row[1]
    return Entitlement(
        has_membership=True,
        unlimited=plan.unlimited,
        unlimited_class_types=frozenset(plan.class_types or ()),
    )


entitlements.provide_entitlements(entitlement_of)
