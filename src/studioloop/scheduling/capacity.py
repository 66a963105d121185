"""What the booking engine needs from the timetable: facts about an occurrence and its seats.

Seats are taken with one guarded UPDATE (`booked_count < capacity`), never read-then-write,
so two members racing for the last place cannot both get it.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from studioloop.scheduling import exceptions as exc
from studioloop.scheduling.models import ClassSchedule, ClassTemplate
from studioloop.scheduling.schedule_service import (
    DEFAULT_BOOKING_WINDOW_HOURS,
    DEFAULT_CANCELLATION_WINDOW_HOURS,
    effective_window,
)
from studioloop.tenants.models import Tenant


@dataclass(frozen=True)
class OccurrenceFacts:
    id: uuid.UUID
    tenant_id: uuid.UUID
    class_id: uuid.UUID
    class_name: str
    class_type: str
    credits_required: int
    requires_membership: bool
    price: int | None
    currency: str
    start_time: datetime
    end_time: datetime
    status: str
    capacity: int
    booked_count: int
    booking_window: timedelta
    cancellation_window: timedelta
    tenant_settings: dict[str, Any]


async def occurrence_facts(session: AsyncSession, occurrence_id: uuid.UUID) -> OccurrenceFacts:
    row = (
        await session.execute(
            select(ClassSchedule, ClassTemplate, Tenant.settings, Tenant.currency)
            .join(ClassTemplate, ClassTemplate.id == ClassSchedule.class_id)
            .join(Tenant, Tenant.id == ClassSchedule.tenant_id)
            .where(ClassSchedule.id == occurrence_id)
        )
    ).first()
    if row is None:
        raise exc.ScheduleNotFound()
    occ, template, settings, currency = row
    booking_hours = effective_window(
        occ.booking_window_hours,
        template.booking_window_hours,
        settings,
        "booking_window_hours",
        DEFAULT_BOOKING_WINDOW_HOURS,
    )
    cancel_hours = effective_window(
        occ.cancellation_window_hours,
        template.cancellation_window_hours,
        settings,
        "cancellation_window_hours",
        DEFAULT_CANCELLATION_WINDOW_HOURS,
    )
    return OccurrenceFacts(
        id=occ.id,
        tenant_id=occ.tenant_id,
        class_id=template.id,
        class_name=template.name,
        class_type=template.class_type,
        credits_required=template.credits_required,
        requires_membership=template.requires_membership,
        price=template.price,
        currency=currency,
        start_time=occ.start_time,
        end_time=occ.end_time,
        status=occ.status,
        capacity=occ.capacity,
        booked_count=occ.booked_count,
        booking_window=timedelta(hours=booking_hours),
        cancellation_window=timedelta(hours=cancel_hours),
        tenant_settings=settings,
    )


async def take_seat(session: AsyncSession, occurrence_id: uuid.UUID) -> bool:
    """Take one seat if one is free; the single statement is the capacity guard."""
    taken = await session.scalar(
        update(ClassSchedule)
        .where(
            ClassSchedule.id == occurrence_id,
            ClassSchedule.booked_count < ClassSchedule.capacity,
            ClassSchedule.status == "scheduled",
        )
        .values(booked_count=ClassSchedule.booked_count + 1)
        .returning(ClassSchedule.booked_count)
    )
    return taken is not None


async def release_seat(session: AsyncSession, occurrence_id: uuid.UUID) -> None:
    await session.execute(
        update(ClassSchedule)
        .where(ClassSchedule.id == occurrence_id, ClassSchedule.booked_count > 0)
        .values(booked_count=ClassSchedule.booked_count - 1)
    )


async def change_waitlist(session: AsyncSession, occurrence_id: uuid.UUID, delta: int) -> None:
    await session.execute(
        update(ClassSchedule)
        .where(ClassSchedule.id == occurrence_id)
        .values(waitlist_count=text(f"greatest(waitlist_count + {int(delta)}, 0)"))
    )


async def clear_counts(session: AsyncSession, occurrence_id: uuid.UUID) -> None:
    """After an occurrence is cancelled and all its bookings with it."""
    await session.execute(
        update(ClassSchedule)
        .where(ClassSchedule.id == occurrence_id)
        .values(booked_count=0, waitlist_count=0)
    )
