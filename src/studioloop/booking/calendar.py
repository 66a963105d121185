"""A member's private calendar feed of their bookings, behind a secret URL.

Calendar apps (Google, Apple) fetch the URL without signing in, so the URL is the
credential: it carries the user id, a version and an HMAC. Resetting bumps the version and
every earlier URL stops working.
"""

from __future__ import annotations

import hashlib
import hmac
import uuid
from datetime import UTC, datetime, timedelta

from icalendar import Calendar, Event
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from studioloop.accounts.models import User, UserTenantRole
from studioloop.booking.models import Booking
from studioloop.config import Settings
from studioloop.db import tenancy
from studioloop.scheduling.models import ClassSchedule, ClassTemplate, Location
from studioloop.tenants.models import Tenant

PAST = timedelta(days=30)
AHEAD = timedelta(days=120)


def _signature(settings: Settings, user_id: uuid.UUID, version: int) -> str:
    key = settings.secret_key.get_secret_value().encode()
    return hmac.new(key, f"calendar:{user_id}:{version}".encode(), hashlib.sha256).hexdigest()[:32]


def feed_token(settings: Settings, user: User) -> str:
    version = user.calendar_feed_version
    return f"{user.id.hex}{version:04x}{_signature(settings, user.id, version)}"


def feed_url(settings: Settings, user: User) -> str:
    return f"{settings.base_url}/api/v1/calendar/{feed_token(settings, user)}.ics"


async def user_for_token(session: AsyncSession, settings: Settings, token: str) -> User | None:
    if len(token) != 32 + 4 + 32:
        return None
    try:
        user_id, version = uuid.UUID(hex=token[:32]), int(token[32:36], 16)
    except ValueError:
        return None
    expected = _signature(settings, user_id, version)
    if not hmac.compare_digest(expected, token[36:]):
        return None
    user = await session.get(User, user_id)
    if user is None or user.status != "active" or user.calendar_feed_version != version:
        return None
    return user


async def feed(session: AsyncSession, user: User) -> bytes:
    """Confirmed and attended bookings from a month back to four months ahead."""
    await tenancy.enter_user_for_transaction(session, user.id)
    tenant_ids = list(
        await session.scalars(
            select(UserTenantRole.tenant_id).where(UserTenantRole.user_id == user.id)
        )
    )
    calendar = Calendar()
    calendar.add("prodid", "-//StudioLoop//My bookings//EN")
    calendar.add("version", "2.0")
    calendar.add("x-wr-calname", "My StudioLoop classes")
    now = datetime.now(UTC)
    for tenant_id in tenant_ids:
        # One studio's classes at a time (the result is read in full inside the scope).
        async with tenancy.scope(session, tenant_id):
            rows = await session.execute(
                select(
                    Booking,
                    ClassSchedule.start_time,
                    ClassSchedule.end_time,
                    ClassTemplate.name,
                    Location.name,
                    Tenant.name,
                )
                .join(ClassSchedule, ClassSchedule.id == Booking.class_schedule_id)
                .join(ClassTemplate, ClassTemplate.id == ClassSchedule.class_id)
                .join(Tenant, Tenant.id == Booking.tenant_id)
                .outerjoin(Location, Location.id == ClassSchedule.location_id)
                .where(
                    Booking.user_id == user.id,
                    Booking.status.in_(("confirmed", "completed")),
                    ClassSchedule.start_time >= now - PAST,
                    ClassSchedule.start_time < now + AHEAD,
                )
            )
        for booking, start, end, class_name, location, studio in rows:
            calendar.add_component(
                _event(booking.id, start, end, class_name, studio, location, now)
            )
    return bytes(calendar.to_ical())


def _event(
    booking_id: uuid.UUID,
    start: datetime,
    end: datetime,
    class_name: str,
    studio: str,
    location: str | None,
    now: datetime,
) -> Event:
    """One booking as a calendar event; its uid is the same in the feed and in a single
    download, so a calendar that has both shows it once."""
    event = Event()
    event.add("uid", f"booking-{booking_id}@studioloop")
    event.add("dtstamp", now)
    event.add("dtstart", start)
    event.add("dtend", end)
    event.add("summary", f"{class_name} ({studio})")
    if location:
        event.add("location", f"{studio}, {location}")
    return event


async def one_booking(session: AsyncSession, booking: Booking, page_url: str) -> bytes:
    """A single booking as an .ics file ("Add to calendar"), linking back to its page.
    The booking's studio is in context."""
    row = (
        await session.execute(
            select(ClassSchedule.start_time, ClassSchedule.end_time, ClassTemplate.name)
            .add_columns(Location.name, Tenant.name)
            .join(ClassTemplate, ClassTemplate.id == ClassSchedule.class_id)
            .join(Tenant, Tenant.id == ClassSchedule.tenant_id)
            .outerjoin(Location, Location.id == ClassSchedule.location_id)
            .where(ClassSchedule.id == booking.class_schedule_id)
        )
    ).one()
    start, end, class_name, location, studio = row
    calendar = Calendar()
    calendar.add("prodid", "-//StudioLoop//Booking//EN")
    calendar.add("version", "2.0")
    calendar.add("method", "PUBLISH")
    event = _event(booking.id, start, end, class_name, studio, location, datetime.now(UTC))
    event.add("url", page_url)
    event.add("description", f"Your booking and check-in code: {page_url}")
    calendar.add_component(event)
    return bytes(calendar.to_ical())
