"""What the class pages' forms share: who may teach, where a class can be, and reading the
place pickers (a location and, optionally, one of its rooms)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession
from starlette.datastructures import FormData

from studioloop.accounts import members
from studioloop.scheduling import service as scheduling
from studioloop.scheduling.schemas import LocationOut
from studioloop.tenants.cache import TenantRef

LEVELS = {
    "all_levels": "All levels",
    "beginner": "Beginner",
    "intermediate": "Intermediate",
    "advanced": "Advanced",
}
# Shown next to every place picker: the marketplace finds classes near people by their
# location's coordinates, so a class with none is left out of "near me".
NO_PLACE_HINT = (
    "Without a place, people searching the marketplace by distance will not find this class."
)


async def teachers(session: AsyncSession, tenant: TenantRef) -> list[Any]:
    """The studio's active staff who may teach (instructors, admins, the owner)."""
    people = await members.list_members(
        session, tenant.id, role=None, q=None, limit=200, offset_after=None
    )
    return [
        p
        for p in people
        if p.user_id and p.status == "active" and p.role in ("instructor", "admin", "owner")
    ]


async def places(session: AsyncSession) -> list[LocationOut]:
    """The studio's open locations, each with its open rooms."""
    return await scheduling.list_locations(session, include_inactive=False)


def place_values(form: FormData, prefix: str = "") -> dict[str, str | None]:
    """The pickers' choice as the schema's fields: empty means none (a room implies its
    location; the scheduling service checks that they belong together)."""
    return {
        "location_id": str(form.get(f"{prefix}location_id") or "").strip() or None,
        "room_id": str(form.get(f"{prefix}room_id") or "").strip() or None,
    }
