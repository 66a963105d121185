"""Payments whose webhook never came: ask the provider what became of them.

Webhooks get lost (an outage, a misconfigured endpoint). Every quarter of an hour, the
studio's payments still open after RECONCILE_AFTER are checked with the provider and
moved on through the same state machine as a webhook would (source `job`), so a member who
paid is never left without their credits.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from studioloop.config import Settings, get_settings
from studioloop.payments import exceptions as exc, providers, service
from studioloop.payments.models import Payment

RECONCILE_AFTER = timedelta(minutes=30)
BATCH = 100


async def reconcile(
    session: AsyncSession,
    settings: Settings,
    tenant_settings: Mapping[str, object],
    now: datetime | None = None,
) -> int:
    """Settle the open payments of the studio in context; how many changed."""
    now = now or datetime.now(UTC)
    stale = list(
        await session.scalars(
            select(Payment)
            .where(
                Payment.status.in_(("pending", "requires_action")),
                Payment.created_at < now - RECONCILE_AFTER,
                Payment.provider_reference.is_not(None),
            )
            .order_by(Payment.created_at)
            .limit(BATCH)
            # Another worker (or a webhook being processed) has it: leave it to them.
            .with_for_update(skip_locked=True)
        )
    )
    changed = 0
    for payment in stale:
        try:
            provider = await providers.load(session, payment.provider, settings, tenant_settings)
            outcome = await provider.checkout_outcome(
                payment.provider_reference or "", payment.created_at
            )
        except (
            exc.UnknownProvider,
            exc.ProviderUnavailable,
            exc.ProviderNotConfigured,
            exc.ProviderRejected,
        ):
            continue  # not configured here, or unreachable: next round
        to_status = service.EVENT_STATUS.get(outcome or "")
        if to_status is None or to_status == payment.status:
            continue
        if to_status not in service.TRANSITIONS[payment.status]:
            continue
        await service.change_status(
            session, settings, payment, to_status, source="job", detail={"reconciled": True}
        )
        changed += 1
    return changed


async def reconcile_tenant(
    session: AsyncSession, tenant_id: uuid.UUID, tenant_settings: dict[str, object]
) -> int:
    return await reconcile(session, get_settings(), tenant_settings)
