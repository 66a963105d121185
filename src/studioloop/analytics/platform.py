"""The platform operator's figures across studios (through the SECURITY DEFINER functions
of migration 0020: counts and sums only)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from studioloop.analytics import repository
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
    rows = await repository.platform_tenant_stats(session, since)
    figures: dict[uuid.UUID, tuple[int, int, int]] = {
        row.tenant_id: (row.members, row.bookings, row.revenue) for row in rows
    }
    studios = [StudioFigures(t, *figures.get(t.id, (0, 0, 0))) for t in tenants]
    signups = await repository.platform_signups(session, since)
    return Platform(studios, signups, sum(s.bookings for s in studios))
