"""The platform operator's figures across studios (through the SECURITY DEFINER functions
of migration 0020: counts and sums only)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from studioloop.db import raw
from studioloop.tenants.models import PLATFORM_KIND, Tenant


@dataclass(frozen=True)
class StudioFigures:
    tenant: Tenant
    members: int
    bookings: int
    revenue: int  # minor units of the studio's currency, net of refunds


@dataclass(frozen=True)
class Platform:
    studios: list[StudioFigures]
    signups: int
    bookings: int

    def count(self, status: str) -> int:
        return sum(1 for s in self.studios if s.tenant.status == status)


async def overview(session: AsyncSession, since: datetime) -> Platform:
    tenants = list(
        await session.scalars(
            select(Tenant).where(Tenant.kind != PLATFORM_KIND).order_by(Tenant.created_at.desc())
        )
    )
    rows = await raw.fetch_all(session, "SELECT * FROM platform_tenant_stats(%s)", (since,))
    figures: dict[uuid.UUID, tuple[int, int, int]] = {
        row.tenant_id: (row.members, row.bookings, row.revenue) for row in rows
    }
    studios = [StudioFigures(t, *figures.get(t.id, (0, 0, 0))) for t in tenants]
    signups = await raw.fetch_one(session, "SELECT platform_signups(%s) AS n", (since,))
    return Platform(studios, int(signups.n), sum(s.bookings for s in studios))
