"""Members hear a week before their credits expire, for every lot (universal credits
included), so none expire silently."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from studioloop.db import raw
from studioloop.notifications import service as notifications
from studioloop.tenants.models import PLATFORM_KIND

WARN_AHEAD = timedelta(days=7)

_EXPIRING = """
SELECT l.id, l.remaining, l.expires_at, a.user_id, u.first_name,
       t.name AS studio_name, t.timezone, t.slug, t.kind
  FROM credit_lots l
  JOIN credit_accounts a ON a.id = l.account_id
  JOIN users u ON u.id = a.user_id
  JOIN tenants t ON t.id = l.tenant_id
 WHERE l.remaining > 0 AND l.expires_at > %s AND l.expires_at <= %s
"""


async def warn_expiring(
    session: AsyncSession, tenant_id: uuid.UUID, now: datetime | None = None
) -> int:
    """Warn about the lots of the studio in context that expire within a week (once each)."""
    now = now or datetime.now(UTC)
    lots = {
        f"credits_expiring:{row.id}": row
        for row in await raw.fetch_all(session, _EXPIRING, (now, now + WARN_AHEAD))
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
