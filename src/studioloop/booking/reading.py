"""Reading bookings: a member's own, the ones staff may see, an occurrence's roster.

Who may see a booking is decided here once (`visible_booking`), for the API and the web
pages alike.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from studioloop.accounts.members import membership_of
from studioloop.accounts.models import User
from studioloop.accounts.roles import Role
from studioloop.booking import exceptions as exc, repository
from studioloop.booking.eligibility import Intent, OccurrenceFacts, cost_for, sold_by_card_only
from studioloop.booking.models import ACTIVE_STATUSES, Booking
from studioloop.booking.schemas import BookingOut
from studioloop.db.tenancy import enter_tenant_for_transaction, enter_user_for_transaction
from studioloop.scheduling.models import ClassSchedule, ClassTemplate


async def occurrence_facts(session: AsyncSession, occurrence_id: uuid.UUID) -> OccurrenceFacts:
    """A class occurrence as booking sees it (its class, studio, seats and windows)."""
    return await repository.occurrence_facts(session, occurrence_id)


async def cost_for_member(
    session: AsyncSession, occurrence_id: uuid.UUID, user_id: uuid.UUID
) -> tuple[OccurrenceFacts, int, bool]:
    """The occurrence, the credits booking it would cost this member, and whether it is
    paid by card instead (what the class page's button says before they press it): the
    booking decision's own price."""
    attempt = await repository.read_attempt(session, occurrence_id, user_id, keep_caller=True)
    if attempt is None:  # a closed account: the class's own price
        facts = await repository.occurrence_facts(session, occurrence_id)
        return facts, facts.credits_required, False
    cost = cost_for(attempt, Intent())
    return attempt.facts, cost, sold_by_card_only(attempt, Intent(), cost)


async def visible_booking(
    session: AsyncSession, user_id: uuid.UUID, booking_id: uuid.UUID, *, staff: Role | None
) -> Booking:
    """A booking this person may see: their own (at any studio), or with `staff` any
    booking of a studio where they hold at least that role. Anything else is not found,
    so nobody learns that a booking exists. Its studio is put in context."""
    await enter_user_for_transaction(session, user_id)  # their own bookings, at every studio
    booking = await get_booking(session, booking_id)
    if booking.user_id != user_id:
        membership = await membership_of(session, booking.tenant_id, user_id)
        if staff is None or membership is None or not membership.allows(staff):
            raise exc.BookingNotFound()
    await enter_tenant_for_transaction(session, booking.tenant_id)
    return booking


async def waitlist_position(session: AsyncSession, booking: Booking) -> int | None:
    if booking.status != "waitlisted":
        return None
    ahead = await session.scalar(
        select(func.count()).where(
            Booking.class_schedule_id == booking.class_schedule_id,
            Booking.status == "waitlisted",
            Booking.waitlisted_at < booking.waitlisted_at,
        )
    )
    return int(ahead or 0) + 1


async def booking_out(
    session: AsyncSession, booking: Booking, *, refunded: int | None = None
) -> BookingOut:
    await session.flush()
    await session.refresh(booking)
    row = (
        await session.execute(
            select(ClassTemplate.name, ClassSchedule.start_time, ClassSchedule.end_time)
            .join(ClassSchedule, ClassSchedule.class_id == ClassTemplate.id)
            .where(ClassSchedule.id == booking.class_schedule_id)
        )
    ).one()
    return BookingOut(
        id=booking.id,
        tenant_id=booking.tenant_id,
        user_id=booking.user_id,
        class_schedule_id=booking.class_schedule_id,
        status=booking.status,
        booking_type=booking.booking_type,
        credits_used=booking.credits_used,
        waitlist_position=await waitlist_position(session, booking),
        qr_code=booking.qr_code,
        qr_expires_at=booking.qr_expires_at,
        check_in_time=booking.check_in_time,
        hold_expires_at=booking.hold_expires_at if booking.status == "held" else None,
        cancellation_reason=booking.cancellation_reason,
        cancelled_at=booking.cancelled_at,
        cancelled_by_studio=booking.status == "cancelled"
        and booking.cancelled_by_user_id != booking.user_id,
        late_cancellation=booking.late_cancellation,
        credits_refunded=refunded,
        class_name=row[0],
        start_time=row[1],
        end_time=row[2],
        created_at=booking.created_at,
    )


async def get_booking(
    session: AsyncSession, booking_id: uuid.UUID, *, lock: bool = False
) -> Booking:
    query = select(Booking).where(Booking.id == booking_id)
    booking = await session.scalar(query.with_for_update() if lock else query)
    if booking is None:
        raise exc.BookingNotFound()
    return booking


async def booked_among(
    session: AsyncSession, user_id: uuid.UUID, occurrence_ids: list[uuid.UUID]
) -> set[uuid.UUID]:
    """Which of these class times, at any studio, the member already holds a place (or a
    waitlist spot) in: their own bookings are visible to them across studios."""
    if not occurrence_ids:
        return set()
    await enter_user_for_transaction(session, user_id)
    found = await session.scalars(
        select(Booking.class_schedule_id).where(
            Booking.user_id == user_id,
            Booking.class_schedule_id.in_(occurrence_ids),
            Booking.status.in_(ACTIVE_STATUSES),
        )
    )
    return set(found)


async def list_bookings(
    session: AsyncSession,
    user_id: uuid.UUID,
    *,
    status: str | None,
    start_from: datetime | None,
    start_to: datetime | None,
    limit: int,
) -> list[BookingOut]:
    query = (
        select(Booking)
        .join(ClassSchedule, ClassSchedule.id == Booking.class_schedule_id)
        .where(Booking.user_id == user_id)
    )
    if status:
        query = query.where(Booking.status == status)
    if start_from:
        query = query.where(ClassSchedule.start_time >= start_from)
    if start_to:
        query = query.where(ClassSchedule.start_time < start_to)
    rows = await session.scalars(query.order_by(ClassSchedule.start_time).limit(limit))
    return [await booking_out(session, b) for b in rows]


async def booked_since(session: AsyncSession, since: datetime) -> set[uuid.UUID]:
    """The studio's people with a booking (of any outcome) for a class starting at or after
    `since`: who is still coming; everyone else has lapsed."""
    query = (
        select(Booking.user_id)
        .join(ClassSchedule, ClassSchedule.id == Booking.class_schedule_id)
        .where(ClassSchedule.start_time >= since)
        .distinct()
    )
    return set(await session.scalars(query))


async def roster(session: AsyncSession, occurrence_id: uuid.UUID) -> list[dict[str, Any]]:
    """An occurrence's roster for its staff: who is booked, who waits and in what order."""
    rows = await session.execute(
        select(Booking, User.first_name, User.last_name, User.email)
        .join(User, User.id == Booking.user_id)
        .where(Booking.class_schedule_id == occurrence_id, Booking.status != "cancelled")
        .order_by(Booking.status, Booking.waitlisted_at.nulls_first(), User.last_name)
    )
    entries = []
    position = 0
    for booking, first, last, email in rows:
        if booking.status == "waitlisted":
            position += 1
        entries.append(
            {
                "booking_id": booking.id,
                "user_id": booking.user_id,
                "first_name": first,
                "last_name": last,
                "email": email,
                "status": booking.status,
                "waitlist_position": position if booking.status == "waitlisted" else None,
                "check_in_time": booking.check_in_time,
            }
        )
    return entries
