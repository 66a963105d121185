"""Members hear a week before their credits expire, for every lot (universal credits
included), so none expire silently."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from studioloop.credits import repository
from studioloop.notifications import service as notifications
from studioloop.tenants.models import PLATFORM_KIND

WARN_AHEAD = timedelta(days=7)


async def warn_expiring(
    session: AsyncSession, tenant_id: uuid.UUID, now: datetime | None = None
) -> int:
    """Warn about the lots of the studio in context that expire within a week (once each)."""
    now = now or datetime.now(UTC)
    lots = {
        f"credits_expiring:{row.id}": row
        for row in await repository.lots_expiring(session, now, now + WARN_AHEAD)
    }
    sent = await notifications.already_sent(session, list(lots))
    for key, lot in lots.items():
        if key in sent:
            continue
        expires = lot.expires_at.astimezone(ZoneInfo(lot.timezone))
        await notifications.notify(
            session,
            "credits_expiring",
            tenant_id=tenant_id,
            user_id=lot.user_id,
            dedup_key=key,
            not_after=lot.expires_at,
            # Universal credits are shown with the marketplace; a studio's on its page.
            link="/marketplace" if lot.kind == PLATFORM_KIND else f"/s/{lot.slug}/credits",
            context={
                "first_name": lot.first_name,
                "credits": lot.remaining,
                "studio_name": lot.studio_name,
                "expires_on": expires.strftime("%a %d %b %Y %H:%M"),
            },
        )
    return len(lots) - len(sent)
