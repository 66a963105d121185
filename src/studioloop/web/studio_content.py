"""What the studio's pages and the owner's Settings page show of the studio's content
(tenants/content.py): the studio's facts, its classes' photos, its teachers."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from studioloop.scheduling import service as scheduling
from studioloop.tenants import content
from studioloop.tenants.cache import TenantRef
from studioloop.tenants.models import Tenant

PROFILE_FIELDS = (
    "description",
    "email",
    "phone",
    "website",
    "street",
    "city",
    "province",
    "postal_code",
    "country",
    "latitude",
    "longitude",
)


def profile_form(form: Any) -> dict[str, Any]:
    """The profile form's fields as the schema takes them (an empty field is no value)."""
    data: dict[str, Any] = {
        name: str(form.get(name) or "").strip() or None for name in PROFILE_FIELDS
    }
    data["email"] = data["email"] or ""
    data["opening_hours"] = {
        day: str(form.get(f"hours_{day}") or "").strip() for day in content.WEEKDAYS
    }
    return data


async def public_content(session: AsyncSession, studio: Tenant) -> dict[str, Any]:
    """The studio page's content: facts, hours, photos, teachers."""
    return {
        "content": content.content_of(studio),
        "day_names": content.DAY_NAMES,
        "teachers": await content.teachers(session, studio.id, described_only=True),
    }


async def owner_content(session: AsyncSession, tenant: TenantRef, studio: Tenant) -> dict[str, Any]:
    """The Settings page's content sections: facts, hours, photos, class photos, teachers."""
    classes = await scheduling.list_classes(
        session, tenant, include_inactive=False, class_type=None
    )
    photos = await scheduling.class_photos(session, [c.id for c in classes])
    return {
        "content": content.content_of(studio),
        "weekdays": content.WEEKDAYS,
        "day_names": content.DAY_NAMES,
        "max_photos": content.MAX_STUDIO_PHOTOS,
        "classes": [(c, photos.get(c.id)) for c in classes],
        "teachers": await content.teachers(session, tenant.id, described_only=False),
    }


def parsed_id(value: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(value)
    except ValueError:
        return None
