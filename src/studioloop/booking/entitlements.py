"""What a member's membership entitles them to, asked of the billing domain.

Booking does not know about plans; billing registers one provider here
(billing/entitlements.py). Without an active subscription nobody has a membership:
classes that require one answer 403, and everyone pays in credits or by card.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession


@dataclass(frozen=True)
class Entitlement:
    has_membership: bool = False  # an active membership at this studio
    unlimited: bool = False  # books classes without spending credits...
    unlimited_class_types: frozenset[str] = frozenset()  # ...of these types (empty: all)

    def covers(self, class_type: str) -> bool:
        """A class of this type is booked without credits or payment."""
        return self.unlimited and (
            not self.unlimited_class_types or class_type in self.unlimited_class_types
        )


NONE = Entitlement()
EntitlementProvider = Callable[[AsyncSession, uuid.UUID, uuid.UUID], Awaitable[Entitlement]]

_provider: EntitlementProvider | None = None


def provide_entitlements(provider: EntitlementProvider | None) -> EntitlementProvider | None:
    """Install (or with None, remove) the function that answers for a member; returns the
    one it replaces."""
    global _provider
    previous, _provider = _provider, provider
    return previous


async def entitlement_of(
    session: AsyncSession, tenant_id: uuid.UUID, user_id: uuid.UUID
) -> Entitlement:
    if _provider is None:
        return NONE
    return await _provider(session, tenant_id, user_id)
