"""Check-in: scanning signed codes at the door, online or later from an offline device."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from studioloop.accounts.models import User
from studioloop.booking import notices, qr, repository
from studioloop.booking.models import ACTIVE_STATUSES, Booking, CheckinScan
from studioloop.config import Settings
from studioloop.core.errors import Conflict
from studioloop.scheduling.models import ClassSchedule, ClassTemplate
from studioloop.tenants.models import Tenant

DEFAULT_OPENS_MINUTES_BEFORE = 60
DEFAULT_CLOSES_MINUTES_AFTER = 30
MAX_CLOCK_SKEW = timedelta(minutes=5)
# The roster lists cancelled bookings too, so a door offline can say "cancelled" rather
# than "unknown" for a code that was good yesterday.
ROSTER_STATUSES = ("confirmed", "waitlisted", "completed", "cancelled")


class CheckinRefused(Conflict):
    code = "CHECKIN_REFUSED"


@dataclass(frozen=True)
class CheckinResult:
    result: str  # checked_in | already_checked_in
    booking_id: uuid.UUID
    check_in_time: datetime
    occurrence_id: uuid.UUID


# Typed short codes are looked for among the studio's bookings of classes starting in
# this span around now (wider than any check-in window, so a code typed too early or too
# late gets the window's own answer rather than "unknown").
SHORT_CODE_SPAN = (timedelta(hours=12), timedelta(hours=36))


def window(start_time: datetime, settings: dict[str, Any]) -> tuple[datetime, datetime]:
    """When check-in for a class starting at `start_time` opens and closes: the one home of
    the rule. The door page is sent these instants with its roster and applies them
    offline as given."""
    opens = settings.get("checkin_opens_minutes_before", DEFAULT_OPENS_MINUTES_BEFORE)
    closes = settings.get("checkin_closes_minutes_after", DEFAULT_CLOSES_MINUTES_AFTER)
    return start_time - timedelta(minutes=int(opens)), start_time + timedelta(minutes=int(closes))


async def check_in(
    session: AsyncSession, booking_id: uuid.UUID, *, at: datetime | None = None
) -> CheckinResult:
    """Check a booking in. A second scan is not an error: it reports the first time, so a
    door scanner never stops on a member who tapped twice."""
    at = at or datetime.now(UTC)
    booking = await session.scalar(
        select(Booking).where(Booking.id == booking_id).with_for_update()
    )
    if booking is None:
        raise CheckinRefused("No such booking in this studio.", code="BOOKING_NOT_FOUND")
    if booking.check_in_time is not None:
        return CheckinResult(
            "already_checked_in", booking.id, booking.check_in_time, booking.class_schedule_id
        )
    if booking.status == "cancelled":
        raise CheckinRefused("This booking was cancelled.", code="BOOKING_CANCELLED")
    if booking.status != "confirmed":
        raise CheckinRefused(
            "This person is on the waitlist, not booked.", code="BOOKING_NOT_CONFIRMED"
        )
    facts = await repository.occurrence_facts(session, booking.class_schedule_id)
    opens_at, closes_at = window(facts.start_time, facts.tenant_settings)
    if at < opens_at:
        raise CheckinRefused(
            "Check-in has not opened for this class yet.",
            code="CHECKIN_NOT_OPEN",
            details={"opens_at": opens_at.isoformat()},
        )
    if at > closes_at:
        raise CheckinRefused("Check-in for this class has closed.", code="CHECKIN_CLOSED")
    booking.check_in_time = at
    await session.flush()
    await notices.tell_later(session, booking, "checkin_confirmed", booking.tenant_id)
    return CheckinResult("checked_in", booking.id, at, booking.class_schedule_id)


def read_code(settings: Settings, code: str, tenant_id: uuid.UUID) -> qr.CheckinCode:
    try:
        # Expiry is judged by the check-in window, which gives clearer answers.
        decoded = qr.read(settings, code, allow_expired=True)
    except qr.InvalidCode as error:
        raise CheckinRefused(
            "This is not a valid StudioLoop check-in code.", code="INVALID_CODE"
        ) from error
    if decoded.tenant_id != tenant_id:
        raise CheckinRefused("This code belongs to another studio.", code="WRONG_STUDIO")
    return decoded


async def find_short_code(
    session: AsyncSession,
    settings: Settings,
    tenant_id: uuid.UUID,
    code: str,
    *,
    at: datetime | None = None,
) -> uuid.UUID:
    """The booking whose short code this is, among this studio's bookings of classes near
    `at` (qr.short_code says why codes are derived, not stored)."""
    at = at or datetime.now(UTC)
    rows = await session.execute(
        select(Booking.id, Booking.status)
        .join(
            ClassSchedule,
            (ClassSchedule.id == Booking.class_schedule_id)
            & (ClassSchedule.tenant_id == Booking.tenant_id),
        )
        .where(
            Booking.tenant_id == tenant_id,
            ClassSchedule.start_time >= at - SHORT_CODE_SPAN[0],
            ClassSchedule.start_time <= at + SHORT_CODE_SPAN[1],
        )
    )
    matches = [
        (booking_id, status)
        for booking_id, status in rows
        if qr.short_code(settings, tenant_id, booking_id) == code
    ]
    # A member who cancelled and booked again has two bookings: the live one counts.
    live = [booking_id for booking_id, status in matches if status != "cancelled"]
    if len(live) > 1:
        raise CheckinRefused(
            "Two bookings share this code today: scan the QR code, or tap the name.",
            code="AMBIGUOUS_CODE",
        )
    if live:
        return live[0]
    if matches:  # cancelled: check_in says so
        return matches[0][0]
    raise CheckinRefused(
        f"No booking at this studio today has the code {qr.show_short_code(code)}. "
        "Check the code, and that the booking is for this studio.",
        code="UNKNOWN_CODE",
    )


async def booking_for_code(
    session: AsyncSession,
    settings: Settings,
    tenant_id: uuid.UUID,
    text: str,
    *,
    at: datetime | None = None,
) -> uuid.UUID:
    """The booking a scanned QR code or a typed short code stands for at this studio."""
    short = qr.normalise_short_code(text)
    if short is not None:
        return await find_short_code(session, settings, tenant_id, short, at=at)
    return read_code(settings, text.strip(), tenant_id).booking_id


async def apply_offline_scan(
    session: AsyncSession,
    settings: Settings,
    tenant_id: uuid.UUID,
    staff: User,
    *,
    device_id: str,
    nonce: str,
    code: str,
    scanned_at: datetime,
) -> dict[str, Any]:
    """Apply one uploaded scan once (by nonce) and say what happened to it."""
    claimed = await session.scalar(
        insert(CheckinScan)
        .values(
            tenant_id=tenant_id,
            nonce=nonce,
            device_id=device_id,
            result="pending",
            scanned_at=scanned_at,
            scanned_by_user_id=staff.id,
        )
        .on_conflict_do_nothing()
        .returning(CheckinScan.id)
    )
    if claimed is None:
        earlier = await session.scalar(
            select(CheckinScan).where(
                CheckinScan.tenant_id == tenant_id, CheckinScan.nonce == nonce
            )
        )
        return {
            "nonce": nonce,
            "result": "duplicate",
            "first_result": earlier.result if earlier else None,
        }
    scan = await session.get(CheckinScan, claimed)
    assert scan is not None
    outcome: dict[str, Any] = {"nonce": nonce}
    if scanned_at > datetime.now(UTC) + MAX_CLOCK_SKEW:
        outcome.update(result="rejected", code="CLOCK_AHEAD")
    else:
        try:
            booking_id = await booking_for_code(session, settings, tenant_id, code, at=scanned_at)
            scan.booking_id = booking_id
            done = await check_in(session, booking_id, at=scanned_at)
            outcome.update(
                result=done.result,
                booking_id=str(done.booking_id),
                check_in_time=done.check_in_time.isoformat(),
            )
            if done.result == "already_checked_in":
                other_device = await session.scalar(
                    select(func.count()).where(
                        CheckinScan.booking_id == done.booking_id,
                        CheckinScan.id != scan.id,
                        CheckinScan.device_id != device_id,
                    )
                )
                if other_device:
                    outcome["conflict"] = "scanned_on_another_device"
        except CheckinRefused as refusal:
            outcome.update(result="rejected", code=refusal.code, message=refusal.message)
    scan.result = outcome["result"] if outcome["result"] != "rejected" else outcome["code"]
    await session.flush()
    return outcome


async def offline_roster(
    session: AsyncSession,
    settings: Settings,
    tenant_id: uuid.UUID,
    timezone: str,
    day: date,
    *,
    until: datetime | None = None,
) -> dict[str, Any]:
    """Everything a door device needs to check people in for a day without a connection:
    each class with its check-in window (from `window`, so the device applies the server's
    rule, not a copy of it), its bookings with their short codes, and the public key.
    With `until` later than the day's end, the classes starting before it too (the door
    late in the evening also shows the class just after midnight)."""
    zone = ZoneInfo(timezone)
    start = datetime.combine(day, time.min, tzinfo=zone)
    end = max(start + timedelta(days=1), until) if until is not None else start + timedelta(days=1)
    studio_settings = await session.scalar(select(Tenant.settings).where(Tenant.id == tenant_id))
    rows = await session.execute(
        select(ClassSchedule, ClassTemplate.name, Booking, User.first_name, User.last_name)
        .join(ClassTemplate, ClassTemplate.id == ClassSchedule.class_id)
        .outerjoin(
            Booking,
            (Booking.class_schedule_id == ClassSchedule.id) & Booking.status.in_(ROSTER_STATUSES),
        )
        .outerjoin(User, User.id == Booking.user_id)
        .where(
            ClassSchedule.start_time >= start,
            ClassSchedule.start_time < end,
            ClassSchedule.status == "scheduled",
        )
        .order_by(ClassSchedule.start_time, User.last_name)
    )
    occurrences: dict[uuid.UUID, dict[str, Any]] = {}
    for occ, name, booking, first, last in rows:
        opens_at, closes_at = window(occ.start_time, studio_settings or {})
        entry = occurrences.setdefault(
            occ.id,
            {
                "occurrence_id": str(occ.id),
                "class_name": name,
                "start_time": occ.start_time.isoformat(),
                "end_time": occ.end_time.isoformat(),
                "checkin_opens_at": opens_at.isoformat(),
                "checkin_closes_at": closes_at.isoformat(),
                "bookings": [],
            },
        )
        if booking is not None:
            entry["bookings"].append(
                {
                    "booking_id": str(booking.id),
                    "short_code": qr.short_code(settings, tenant_id, booking.id),
                    "first_name": first,
                    "last_name": last,
                    "status": booking.status,
                    "check_in_time": booking.check_in_time.isoformat()
                    if booking.check_in_time
                    else None,
                }
            )
    return {
        "date": day.isoformat(),
        "timezone": timezone,
        "tenant_id": str(tenant_id),
        "public_key": qr.public_key_b64(settings, tenant_id),
        "key_format": "Ed25519, raw 32-byte public key, base64url",
        "code_format": "SL1.<base64url JSON {b: booking, o: occurrence, t: tenant, e: expiry "
        "unix seconds}>.<base64url Ed25519 signature of the JSON bytes>",
        "short_code_format": f"{qr.SHORT_LENGTH} of {qr.SHORT_ALPHABET}; spaces, dashes and "
        "case ignored",
        "occurrences": list(occurrences.values()),
    }


async def attendance(session: AsyncSession, occurrence_id: uuid.UUID) -> dict[str, int]:
    rows = await session.execute(
        select(Booking.status, Booking.check_in_time.is_not(None), func.count())
        .where(Booking.class_schedule_id == occurrence_id)
        .group_by(Booking.status, Booking.check_in_time.is_not(None))
    )
    counts = {"booked": 0, "checked_in": 0, "waitlisted": 0, "no_show": 0, "cancelled": 0}
    for status, checked_in, total in rows:
        if status in ("confirmed", "completed"):
            counts["booked"] += total
            if checked_in:
                counts["checked_in"] += total
        elif status in counts:
            counts[status] += total
    return counts


async def close_finished(
    session: AsyncSession, *, grace: timedelta, now: datetime | None = None
) -> dict[str, int]:
    """After a class ends (plus grace): attended bookings become `completed`, the rest
    `no_show` (credits stay spent: the studio's policy is to forfeit), the class completed."""
    now = now or datetime.now(UTC)
    ended = list(
        await session.scalars(
            select(ClassSchedule)
            .where(ClassSchedule.status == "scheduled", ClassSchedule.end_time + grace < now)
            .with_for_update(skip_locked=True)
        )
    )
    counts = {"completed": 0, "no_show": 0, "occurrences": len(ended)}
    for occurrence in ended:
        bookings = await session.scalars(
            select(Booking).where(
                Booking.class_schedule_id == occurrence.id,
                Booking.status.in_(ACTIVE_STATUSES),
            )
        )
        for booking in bookings:
            if booking.status == "waitlisted":
                booking.status = "cancelled"
                booking.cancellation_reason = "The class took place without a free place."
            elif booking.status == "held":  # never paid for
                booking.status = "expired"
                occurrence.booked_count -= 1
                if booking.booking_type == "marketplace":
                    occurrence.marketplace_booked -= 1
            elif booking.check_in_time is not None:
                booking.status = "completed"
                counts["completed"] += 1
            else:
                booking.status = "no_show"
                counts["no_show"] += 1
        occurrence.status = "completed"
        occurrence.waitlist_count = 0
    await session.flush()
    return counts
