"""What a member's membership entitles them to, asked of the billing domain.

Booking does not know about plans; billing registers one provider here. Until a studio
sells memberships (no provider, or none active), nobody has one: classes that require a
membership answer 403, and everyone pays in credits.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession


@dataclass(frozen=True)
class Entitlement:
    has_membership: bool = False  # an active membership at this studio
    unlimited: bool = False  # books classes without spending credits


NONE = Entitlement()
EntitlementProvider = Callable[[AsyncSession, uuid.UUID, uuid.UUID], Awaitable[Entitlement]]

_provider: EntitlementProvider | None = None


def provide_entitlements(provider: EntitlementProvider | None) -> None:
    """Install (or with None, remove) the function that answers for a member."""
    global _provider
    _provider = provider


async def entitlement_of(
    session: AsyncSession, tenant_id: uuid.UUID, user_id: uuid.UUID
) -> Entitlement:
    if _provider is None:
        return NONE
    return await _provider(session, tenant_id, user_id)
