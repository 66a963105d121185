"""What a studio shows of itself: description, address and map, contact, opening hours,
photos (the studio's, each class's) and its teachers' bios and photos.

The studio's own fields live on its tenants row (email, phone and address columns; the
description, website, map pin, opening hours and photos in its settings); a class's photo
on the class; a teacher's bio and photo on their role at the studio. Photos are checked,
resized and stored by `storage.images`; this module decides what may be set and keeps
the rows pointing only at photos that exist.
"""

from __future__ import annotations

import itertools
import re
import uuid
from dataclasses import dataclass, field
from typing import Any, Self
from urllib.parse import quote, urlsplit

from pydantic import BaseModel, ConfigDict, EmailStr, Field, field_validator, model_validator
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from studioloop.accounts.models import User, UserTenantRole
from studioloop.accounts.roles import at_least
from studioloop.config import Settings
from studioloop.core.errors import AppError, NotFound
from studioloop.db import tenancy
from studioloop.scheduling import service as scheduling
from studioloop.storage import images
from studioloop.tenants import service
from studioloop.tenants.models import Tenant
from studioloop.tenants.schemas import Address

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
DAY_NAMES = {
    "mon": "Monday",
    "tue": "Tuesday",
    "wed": "Wednesday",
    "thu": "Thursday",
    "fri": "Friday",
    "sat": "Saturday",
    "sun": "Sunday",
}
MAX_RANGES = 4
MAX_STUDIO_PHOTOS = 6
RANGE = re.compile(r"^([01]?\d|2[0-3])[:.h]([0-5]\d)\s*[-\u2013]\s*([01]?\d|2[0-4])[:.h]([0-5]\d)$")
PHONE = re.compile(r"^\+?[0-9 ()-]{6,32}$")


class TooManyPhotos(AppError):
    status_code = 409
    code = "TOO_MANY_PHOTOS"
    message = f"A studio shows up to {MAX_STUDIO_PHOTOS} photos: remove one first."


class PhotoNotFound(NotFound):
    code = "PHOTO_NOT_FOUND"
    message = "That photo is not one of this studio's."


class TeacherNotFound(NotFound):
    code = "TEACHER_NOT_FOUND"
    message = "That person does not teach at this studio."


def parse_hours(text: str) -> list[list[str]]:
    """ "06:00-12:00, 16:00-20:00" as ranges in order; "" or "closed" is a closed day.
    ValueError (with the reason) for a range that is malformed, ends before it starts or
    overlaps another."""
    text = text.strip()
    if not text or text.lower() == "closed":
        return []
    ranges: list[list[str]] = []
    for part in (p.strip() for p in re.split(r"[,;]", text)):
        found = RANGE.match(part)
        if found is None:
            raise ValueError(f"“{part}” is not a time range such as 06:00-12:00")
        start = f"{int(found[1]):02d}:{found[2]}"
        end = f"{int(found[3]):02d}:{found[4]}"
        if end > "24:00" or end <= start:
            raise ValueError(f"“{part}” must end after it starts (on the same day)")
        ranges.append([start, end])
    if len(ranges) > MAX_RANGES:
        raise ValueError(f"at most {MAX_RANGES} ranges a day")
    ranges.sort()
    for before, after in itertools.pairwise(ranges):
        if after[0] < before[1]:
            raise ValueError(f"{before[0]}-{before[1]} and {after[0]}-{after[1]} overlap")
    return ranges


class StudioProfileIn(BaseModel):
    """The studio's public facts, as the owner types them."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    description: str | None = Field(default=None, max_length=2000)
    email: EmailStr
    phone: str | None = Field(default=None, max_length=32)
    website: str | None = Field(default=None, max_length=255)
    street: str | None = Field(default=None, max_length=255)
    city: str | None = Field(default=None, max_length=120)
    province: str | None = Field(default=None, max_length=120)
    postal_code: str | None = Field(default=None, max_length=20)
    country: str | None = Field(default=None, max_length=40)
    latitude: float | None = Field(default=None, ge=-90, le=90)
    longitude: float | None = Field(default=None, ge=-180, le=180)
    opening_hours: dict[str, str] = Field(default_factory=dict)

    @field_validator("phone")
    @classmethod
    def _phone(cls, value: str | None) -> str | None:
        if value and not PHONE.match(value):
            raise ValueError("use digits, spaces and + ( ) - only, such as +27 21 555 0100")
        return value or None

    @field_validator("country")
    @classmethod
    def _country(cls, value: str | None) -> str | None:
        if value and not re.fullmatch(r"[A-Za-z]{2}", value):
            raise ValueError("use the two-letter country code, such as ZA")
        return value or None

    @field_validator("website")
    @classmethod
    def _website(cls, value: str | None) -> str | None:
        if not value:
            return None
        if "://" not in value:
            value = f"https://{value}"
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or "." not in (parts.hostname or ""):
            raise ValueError("use a web address such as https://loopyoga.co.za")
        return value

    @field_validator("opening_hours")
    @classmethod
    def _hours(cls, value: dict[str, str]) -> dict[str, str]:
        unknown = set(value) - set(WEEKDAYS)
        if unknown:
            raise ValueError(f"unknown days: {', '.join(sorted(unknown))}")
        for day, text in value.items():
            try:
                parse_hours(text)
            except ValueError as error:
                raise ValueError(f"{DAY_NAMES[day]}: {error}") from error
        return value

    @model_validator(mode="after")
    def _both_coordinates(self) -> Self:
        if (self.latitude is None) != (self.longitude is None):
            raise ValueError("give both latitude and longitude, or neither")
        return self


@dataclass(frozen=True)
class Teacher:
    user_id: uuid.UUID
    name: str
    bio: str | None
    photo: dict[str, Any] | None


@dataclass(frozen=True)
class StudioContent:
    """What the studio page shows about the studio."""

    description: str | None
    email: str
    phone: str | None
    website: str | None
    address: dict[str, Any]
    address_line: str
    latitude: float | None
    longitude: float | None
    map_url: str | None
    hours: dict[str, list[list[str]]]
    photos: list[dict[str, Any]] = field(default_factory=list)

    @property
    def has_hours(self) -> bool:
        return any(self.hours.values())

    def hours_text(self, day: str) -> str:
        """A day's hours as the owner's form shows them ("06:00-12:00, 16:00-20:00")."""
        return ", ".join(f"{a}-{b}" for a, b in self.hours.get(day, []))


def is_photo(value: Any) -> bool:
    """A photo's description as storage.images writes it: settings can also be changed
    through the API (PATCH /tenants/{slug}), so pages show only what has this shape."""
    return (
        isinstance(value, dict)
        and bool(images.PHOTO_ID.match(str(value.get("id", ""))))
        and isinstance(value.get("widths"), list)
        and bool(value["widths"])
        and all(isinstance(w, int) for w in value["widths"])
        and all(isinstance(value.get(k), int) for k in ("width", "height"))
    )


def map_url(latitude: float | None, longitude: float | None, address_line: str) -> str | None:
    """An OpenStreetMap link: to the pin when there are coordinates, else a search for the
    address (no map script on our pages)."""
    if latitude is not None and longitude is not None:
        lat, lng = f"{latitude:.5f}", f"{longitude:.5f}"
        return f"https://www.openstreetmap.org/?mlat={lat}&mlon={lng}#map=17/{lat}/{lng}"
    if address_line:
        return f"https://www.openstreetmap.org/search?query={quote(address_line)}"
    return None


def content_of(tenant: Tenant) -> StudioContent:
    settings = tenant.settings or {}
    address = dict(tenant.address or {})
    line = ", ".join(
        str(address[k])
        for k in ("street", "city", "province", "postal_code", "country")
        if address.get(k)
    )
    pin = settings.get("map_pin") or {}
    lat, lng = pin.get("lat"), pin.get("lng")
    hours = settings.get("opening_hours") or {}
    return StudioContent(
        description=settings.get("description"),
        email=tenant.email,
        phone=tenant.phone,
        website=settings.get("website"),
        address=address,
        address_line=line,
        latitude=lat,
        longitude=lng,
        map_url=map_url(lat, lng, line),
        hours={day: [list(r) for r in hours.get(day, [])] for day in WEEKDAYS},
        photos=[p for p in settings.get("photos") or [] if is_photo(p)],
    )


async def save_profile(session: AsyncSession, tenant_id: uuid.UUID, data: StudioProfileIn) -> None:
    tenant = await service.get_tenant(session, tenant_id)
    tenant.email = str(data.email).lower()
    tenant.phone = data.phone
    address = Address(
        street=data.street or None,
        city=data.city or None,
        province=data.province or None,
        postal_code=data.postal_code or None,
        country=data.country.upper() if data.country else None,
    )
    tenant.address = address.model_dump(exclude_none=True)
    hours = {day: parse_hours(data.opening_hours.get(day, "")) for day in WEEKDAYS}
    pin = (
        {"lat": data.latitude, "lng": data.longitude}
        if data.latitude is not None and data.longitude is not None
        else None
    )
    await session.flush()
    await service.merge_settings(
        session,
        tenant_id,
        {
            "description": data.description or None,
            "website": data.website,
            "map_pin": pin,
            "opening_hours": {d: r for d, r in hours.items() if r} or None,
        },
    )


async def add_studio_photo(
    session: AsyncSession, settings: Settings, tenant_id: uuid.UUID, data: bytes
) -> dict[str, Any]:
    tenant = await service.get_tenant(session, tenant_id)
    photos = content_of(tenant).photos
    if len(photos) >= MAX_STUDIO_PHOTOS:
        raise TooManyPhotos(details={"max_photos": MAX_STUDIO_PHOTOS})
    photo = await images.store(settings, tenant_id, data)
    await service.merge_settings(session, tenant_id, {"photos": [*photos, photo]})
    return photo


async def remove_studio_photo(
    session: AsyncSession, settings: Settings, tenant_id: uuid.UUID, photo_id: str
) -> None:
    tenant = await service.get_tenant(session, tenant_id)
    photos = content_of(tenant).photos
    gone = [p for p in photos if p.get("id") == photo_id]
    if not gone:
        raise PhotoNotFound()
    kept = [p for p in photos if p.get("id") != photo_id]
    await service.merge_settings(session, tenant_id, {"photos": kept or None})
    await images.discard(settings, tenant_id, gone[0])


async def set_class_photo(
    session: AsyncSession,
    settings: Settings,
    tenant_id: uuid.UUID,
    class_id: uuid.UUID,
    data: bytes | None,
) -> None:
    """Give a class a photo (`data`), or take its photo away (None)."""
    row = await scheduling.get_class(session, class_id, include_inactive=True)
    if data is None and row.photo is None:
        raise PhotoNotFound(message="This class has no photo.")
    old = row.photo
    row.photo = await images.store(settings, tenant_id, data) if data is not None else None
    await session.flush()
    await images.discard(settings, tenant_id, old)


async def class_photos(
    session: AsyncSession, class_ids: list[uuid.UUID]
) -> dict[uuid.UUID, dict[str, Any]]:
    """The photos of these classes (of the studio in context), by class."""
    return await scheduling.class_photos(session, class_ids)


async def _teacher_row(
    session: AsyncSession, tenant_id: uuid.UUID, user_id: uuid.UUID
) -> UserTenantRole:
    row = await session.scalar(
        select(UserTenantRole).where(
            UserTenantRole.tenant_id == tenant_id, UserTenantRole.user_id == user_id
        )
    )
    if row is None or row.status != "active" or not at_least(row.role, "instructor"):
        raise TeacherNotFound()
    return row


async def set_teacher_profile(
    session: AsyncSession,
    settings: Settings,
    tenant_id: uuid.UUID,
    user_id: uuid.UUID,
    *,
    bio: str | None,
    photo: bytes | None = None,
    remove_photo: bool = False,
) -> None:
    """A teacher's bio (None or "" clears it) and, when given, a new photo or none."""
    row = await _teacher_row(session, tenant_id, user_id)
    row.bio = (bio or "").strip() or None
    old = None
    if photo is not None:
        old, row.photo = row.photo, await images.store(settings, tenant_id, photo)
    elif remove_photo:
        old, row.photo = row.photo, None
    await session.flush()
    await images.discard(settings, tenant_id, old)


async def teachers(
    session: AsyncSession, tenant_id: uuid.UUID, *, described_only: bool
) -> list[Teacher]:
    """The studio's active teachers (instructors, admins and owners), by name; only those
    with a bio or a photo when `described_only` (what the public page shows)."""
    rows = await session.execute(
        select(UserTenantRole, User)
        .join(User, User.id == UserTenantRole.user_id)
        .where(
            UserTenantRole.tenant_id == tenant_id,
            UserTenantRole.status == "active",
            UserTenantRole.role.in_(("instructor", "admin", "owner")),
        )
        .order_by(User.first_name, User.last_name, User.id)
    )
    found = [
        Teacher(user.id, f"{user.first_name} {user.last_name}".strip(), role.bio, role.photo)
        for role, user in rows
    ]
    return [t for t in found if t.bio or t.photo] if described_only else found


async def listing_photos(
    session: AsyncSession, listings: list[tuple[uuid.UUID, uuid.UUID]]
) -> dict[uuid.UUID, dict[str, Any]]:
    """A photo for each of these (studio, class) pairs across studios (marketplace
    results): the class's own, else the studio's first; by class. Each studio's classes
    are read in that studio's context."""
    by_studio: dict[uuid.UUID, list[uuid.UUID]] = {}
    for tenant_id, class_id in listings:
        by_studio.setdefault(tenant_id, []).append(class_id)
    if not by_studio:
        return {}
    studios = await session.execute(
        select(Tenant.id, Tenant.settings).where(Tenant.id.in_(list(by_studio)))
    )
    covers = {
        tenant_id: photos[0]
        for tenant_id, settings in studios
        if isinstance(photos := (settings or {}).get("photos"), list)
        and photos
        and is_photo(photos[0])
    }
    found: dict[uuid.UUID, dict[str, Any]] = {}
    for tenant_id, class_ids in by_studio.items():
        async with tenancy.scope(session, tenant_id):
            own = await scheduling.class_photos(session, class_ids)
        for class_id in class_ids:
            photo = own.get(class_id) or covers.get(tenant_id)
            if photo:
                found[class_id] = photo
    return found
