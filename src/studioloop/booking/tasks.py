"""Booking's periodic work: unpaid seat holds lapse; after classes end, attended bookings
complete and the rest are no-shows."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from studioloop.booking import checkin, holds, job_names, notices, reminders, repository
from studioloop.config import get_settings
from studioloop.core.logging import get_logger
from studioloop.db.engine import get_database
from studioloop.db.tenancy import enter_tenant_for_transaction
from studioloop.jobs.app import DEFAULT_RETRY, job_app
from studioloop.jobs.per_tenant import for_each_tenant

logger = get_logger(__name__)
DEFAULT_NO_SHOW_GRACE_MINUTES = 15


async def _close(session: AsyncSession, tenant_id: uuid.UUID, settings: dict[str, Any]) -> int:
    grace = timedelta(
        minutes=int(settings.get("no_show_grace_minutes", DEFAULT_NO_SHOW_GRACE_MINUTES))
    )
    return (await checkin.close_finished(session, grace=grace))["occurrences"]


@job_app.periodic(cron="*/10 * * * *", periodic_id="close_finished_classes")
@job_app.task(
    name="close_finished_classes",
    queue="booking",
    retry=DEFAULT_RETRY,
    queueing_lock="close_finished_classes",
    pass_context=False,
)
async def close_finished_classes(timestamp: int) -> int:
    """Every 10 minutes; safe to run twice (only still-scheduled classes are touched)."""
    closed = await for_each_tenant(_close)
    logger.info("finished classes closed", occurrences=closed)
    return closed


async def _expire_holds(
    session: AsyncSession, tenant_id: uuid.UUID, settings: dict[str, Any]
) -> int:
    return await holds.expire_lapsed(session, get_settings())


@job_app.periodic(cron="* * * * *", periodic_id="expire_seat_holds")
@job_app.task(
    name="expire_seat_holds",
    queue="booking",
    retry=DEFAULT_RETRY,
    queueing_lock="expire_seat_holds",
    pass_context=False,
)
async def expire_seat_holds(timestamp: int) -> int:
    """Every minute: seats held for a payment that did not come go back on sale (and to
    the waitlist). Safe to run twice: only still-held bookings are touched."""
    expired = await for_each_tenant(_expire_holds)
    if expired:
        logger.info("seat holds expired", bookings=expired)
    return expired


@job_app.task(
    name=job_names.ANNOUNCE_BOOKING, queue="notifications", retry=DEFAULT_RETRY, pass_context=False
)
async def announce_booking(booking_id: str, event: str, tenant_id: str) -> bool:
    """Tell the member about their booking (see booking/notices.py). Safe to run twice: the
    message's dedup key is the event and the booking."""
    async with get_database().sessionmaker() as session:
        await enter_tenant_for_transaction(session, uuid.UUID(tenant_id))
        written = await notices.announce(session, uuid.UUID(booking_id), event)
        await session.commit()
    return written


async def _remind(session: AsyncSession, tenant_id: uuid.UUID, settings: dict[str, Any]) -> int:
    timezone = await repository.studio_timezone(session, tenant_id)
    return await reminders.send_due(session, tenant_id, settings, timezone)


@job_app.periodic(cron="*/5 * * * *", periodic_id="send_class_reminders")
@job_app.task(
    name="send_class_reminders",
    queue="notifications",
    retry=DEFAULT_RETRY,
    queueing_lock="send_class_reminders",
    pass_context=False,
)
async def send_class_reminders(timestamp: int) -> int:
    """Every 5 minutes; safe to run twice (each reminder has its dedup key)."""
    sent = await for_each_tenant(_remind)
    if sent:
        logger.info("class reminders sent", reminders=sent)
    return sent
