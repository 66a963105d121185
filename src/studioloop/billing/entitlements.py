"""What a member's subscription entitles them to, answered for the booking engine.

Asked on every booking attempt, so it is one plain-SQL statement on the request's
connection (db/raw.py): through the ORM it cost the booking path about 5 ms of CPU.
"""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from studioloop.booking import entitlements
from studioloop.booking.entitlements import Entitlement
from studioloop.db import raw

# ENTITLED_STATUSES (billing/models.py): active, and past_due while a renewal is retried.
# A pause covers nothing while it runs.
_ENTITLEMENT = """
SELECT p.unlimited, p.class_types
  FROM subscriptions s
  JOIN membership_plans p ON p.id = s.plan_id
 WHERE s.tenant_id = %s AND s.user_id = %s AND s.status IN ('active', 'past_due')
   AND NOT (s.paused_from IS NOT NULL AND s.paused_from <= now() AND now() < s.paused_until)
 LIMIT 1
"""


async def entitlement_of(
    session: AsyncSession, tenant_id: uuid.UUID, user_id: uuid.UUID
) -> Entitlement:
    """An active (or past-due, while retried) and unpaused membership at the studio."""
    row = await raw.fetch_one(session, _ENTITLEMENT, (tenant_id, user_id))
    if row is None:
        return entitlements.NONE
    return Entitlement(
        has_membership=True,
        unlimited=row.unlimited,
        unlimited_class_types=frozenset(row.class_types or ()),
    )


entitlements.provide_entitlements(entitlement_of)
