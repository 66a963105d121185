"""What members are told about their bookings.

Confirmations, cancellations, waitlist places and check-ins are announced by a job deferred
in the booking's own transaction (`tell_later`): one cheap insert on the hot path instead of
rendering a message while the class's row is locked, and still nothing at all when the
booking rolls back. The job reads the booking afresh, so a member who cancelled within the
second hears only about the cancellation.
"""

from __future__ import annotations

import io
import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import segno
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from studioloop.accounts.models import User
from studioloop.booking import job_names, reading, repository
from studioloop.booking.eligibility import OccurrenceFacts
from studioloop.booking.models import Booking
from studioloop.jobs.defer import send_deferred
from studioloop.notifications import service as notifications
from studioloop.scheduling.models import ClassSchedule

# The booking status each announcement is about; the job stays quiet when it has changed.
ANNOUNCED_STATUS = {
    "booking_confirmed": "confirmed",
    "booking_cancelled": "cancelled",
    "waitlist_joined": "waitlisted",
    "checkin_confirmed": "confirmed",
}


async def tell(
    session: AsyncSession,
    user_id: uuid.UUID,
    event: str,
    facts: OccurrenceFacts,
    *,
    dedup_key: str | None = None,
    not_after: datetime | None = None,
    attachments: Sequence[notifications.Attachment] = (),
    link: str = "/my/bookings",
    **extra: object,
) -> None:
    """Tell a member about one of their bookings (on the channel they prefer); `link` is
    the page the message leads to."""
    user = await session.get(User, user_id)
    if user is None:
        return
    await notifications.notify(
        session,
        event,
        tenant_id=facts.tenant_id,
        user_id=user_id,
        dedup_key=dedup_key,
        not_after=not_after,
        attachments=attachments,
        link=link,
        context={
            "first_name": user.first_name,
            "class_name": facts.class_name,
            "start": facts.local_start,
            "studio_name": facts.tenant_name,
            "credits": facts.credits_required,
            **extra,
        },
    )


def checkin_code_image(code: str) -> notifications.Attachment:
    """The booking's signed check-in code as a PNG, for the confirmation email: a member
    can show it at the door from their inbox, with no signal and no app."""
    buffer = io.BytesIO()
    segno.make(code, error="m").save(buffer, kind="png", scale=8, border=4)
    return notifications.Attachment(
        "checkin-code.png", "image/png", buffer.getvalue(), required=False
    )


async def tell_later(
    session: AsyncSession, booking: Booking | uuid.UUID, event: str, tenant_id: uuid.UUID
) -> None:
    booking_id = booking.id if isinstance(booking, Booking) else booking
    # Sent without waiting for its answer: in the booking's pipeline it travels with the
    # seat (booking/service.py).
    await send_deferred(
        session,
        job_names.ANNOUNCE_BOOKING,
        booking_id=str(booking_id),
        event=event,
        tenant_id=str(tenant_id),
    )


async def announce(session: AsyncSession, booking_id: uuid.UUID, event: str) -> bool:
    """The job's work; returns whether a message was written."""
    booking = await session.get(Booking, booking_id)
    if booking is None or booking.status != ANNOUNCED_STATUS[event]:
        return False
    if event == "checkin_confirmed" and booking.check_in_time is None:
        return False
    facts = await repository.occurrence_facts(session, booking.class_schedule_id)
    extra: dict[str, Any] = {}
    if event == "waitlist_joined":
        extra["position"] = await reading.waitlist_position(session, booking) or 1
    if event == "booking_cancelled":
        extra["late"] = booking.late_cancellation
    attachments = []
    if event == "booking_confirmed" and booking.qr_code:
        attachments.append(checkin_code_image(booking.qr_code))
    await tell(
        session,
        booking.user_id,
        event,
        facts,
        dedup_key=f"{event}:{booking.id}",
        attachments=attachments,
        link=f"/my/bookings/{booking.id}",  # the booking itself: its code, cancel, calendar
        **extra,
    )
    return True


async def tell_booked_members(
    session: AsyncSession, occurrence: ClassSchedule, previous: uuid.UUID | None
) -> None:
    """Someone else teaches the class now: the people booked in hear who."""
    teacher_id = occurrence.substitute_instructor_id or occurrence.instructor_id
    teacher = await session.get(User, teacher_id) if teacher_id else None
    name = f"{teacher.first_name} {teacher.last_name}".strip() if teacher else "another instructor"
    facts = await repository.occurrence_facts(session, occurrence.id)
    booked = await session.scalars(
        select(Booking.user_id).where(
            Booking.class_schedule_id == occurrence.id, Booking.status == "confirmed"
        )
    )
    for user_id in list(booked):
        await tell(
            session,
            user_id,
            "instructor_changed",
            facts,
            instructor_name=name,
        )
