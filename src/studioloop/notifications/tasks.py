"""Delivery of notifications. Safe to run twice: the row is locked while it is sent, and
one already sent (or failed, or skipped) is left alone."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from studioloop.config import get_settings
from studioloop.core import metrics
from studioloop.core.logging import get_logger
from studioloop.db.engine import get_database
from studioloop.db.tenancy import enter_tenant_for_transaction
from studioloop.jobs.app import DEFAULT_RETRY, MAX_ATTEMPTS, job_app
from studioloop.notifications import channels, job_names, manage
from studioloop.notifications.channels import ChannelError
from studioloop.notifications.fallback import count_failure, fall_back
from studioloop.notifications.models import FINISHED_STATUSES, ChannelOptOut, Notification

logger = get_logger(__name__)


@job_app.task(
    name=job_names.DELIVER_NOTIFICATION,
    queue="notifications",
    retry=DEFAULT_RETRY,
    pass_context=False,
)
async def deliver_notification(notification_id: str, tenant_id: str | None = None) -> None:
    async with get_database().sessionmaker() as session:
        if tenant_id:
            await enter_tenant_for_transaction(session, uuid.UUID(tenant_id))
        notification = await session.get(
            Notification, uuid.UUID(notification_id), with_for_update=True
        )
        if notification is None or notification.status in FINISHED_STATUSES:
            return
        error = await _deliver(session, notification)
        await session.commit()
    if error is not None:
        metrics.NOTIFICATION_ATTEMPT_FAILURES.labels(notification.channel).inc()
        logger.warning(
            "notification delivery failed, retrying",
            notification_id=notification_id,
            channel=notification.channel,
            error=str(error),
        )
        raise error  # procrastinate retries with backoff


@job_app.task(
    name=job_names.SEND_ANNOUNCEMENT, queue="notifications", retry=DEFAULT_RETRY, pass_context=False
)
async def send_announcement(announcement_id: str, tenant_id: str, title: str, message: str) -> int:
    async with get_database().sessionmaker() as session:
        await enter_tenant_for_transaction(session, uuid.UUID(tenant_id))
        sent = await manage.send_announcement(
            session, uuid.UUID(announcement_id), uuid.UUID(tenant_id), title, message
        )
        await session.commit()
    return sent


@job_app.task(name="deliver_email", queue="email", retry=DEFAULT_RETRY, pass_context=False)
async def deliver_email(email_id: str) -> None:
    """Jobs queued before notifications had channels (all platform email) still go out."""
    await deliver_notification(email_id, None)


async def _deliver(session: AsyncSession, notification: Notification) -> ChannelError | None:
    """Send once; returns the error when a retry is worth it."""
    now = datetime.now(UTC)
    if notification.not_after is not None and now >= notification.not_after:
        _finish(notification, "skipped", "too late to be useful")
        return None
    if await _opted_out(session, notification):
        _finish(
            notification, "skipped", f"{notification.recipient} opted out of {notification.channel}"
        )
        return None
    notification.attempts += 1
    try:
        provider_id = await channels.send(get_settings(), session, notification)
    except ChannelError as exc:
        notification.last_error = str(exc)[:2000]
        # A critical message moves on at once; any other only when this channel cannot
        # work at all (retrying later would not help, and the member has another).
        if notification.payload.get("fallbacks") and (notification.critical or exc.permanent):
            _fail(session, notification, str(exc))
            await fall_back(session, notification)
            return None
        if exc.permanent or notification.attempts >= MAX_ATTEMPTS:
            _fail(session, notification, str(exc))
            return None
        return exc
    notification.provider_message_id = provider_id
    notification.status = "recorded" if provider_id is None else "sent"
    notification.sent_at = now
    return None


def _finish(notification: Notification, status: str, reason: str) -> None:
    notification.status = status
    notification.last_error = reason[:2000]


def _fail(session: AsyncSession, notification: Notification, reason: str) -> None:
    _finish(notification, "failed", reason)
    count_failure(session, notification)


async def _opted_out(session: AsyncSession, notification: Notification) -> bool:
    found = await session.scalar(
        select(ChannelOptOut.reason).where(
            ChannelOptOut.channel == notification.channel,
            ChannelOptOut.address == notification.recipient,
        )
    )
    return found is not None
