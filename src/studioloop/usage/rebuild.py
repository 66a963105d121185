"""Recompute a studio's running totals from its stored events, through the same rules
ingestion counts with (rules.py): `studioloop usage rebuild <studio>`. For after a
restore, a bug fixed in counting, or doubt; tests/usage check the two agree."""

from __future__ import annotations

import uuid
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from studioloop.usage import repository, rules


async def rebuild(session: AsyncSession, tenant_id: uuid.UUID, timezone: str) -> int:
    """Replace the studio's totals with ones counted from its events; how many totals."""
    zone = ZoneInfo(timezone)
    meters = await repository.every_meter(session)
    items: list[rules.Contribution] = []
    for event in await repository.stored_events(session, tenant_id):
        for meter in meters:
            if rules.matches(meter, event):
                try:
                    items.append(rules.contribution(meter, event, zone))
                except rules.MissingProperty:
                    continue  # counted by no meter when it came; not by this one now
    totals = rules.fold_all(items)
    unique_values = sorted(
        {(item.key, item.unique_value) for item in items if item.unique_value is not None},
        key=lambda pair: (str(pair[0].meter_id), str(pair[0].user_id), pair[0].period_start),
    )
    await repository.forget_totals(session, tenant_id)
    if totals:
        await repository.insert_totals(
            session,
            tenant_id,
            {key: (t.value, t.events, t.latest_at, end) for key, (t, end) in totals.items()},
            unique_values,
        )
    return len(totals)
