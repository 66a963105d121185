"""A message that failed on its channel: counted once, and written again for the next
channel in its chain (from the delivery job, or a WhatsApp status webhook)."""

from __future__ import annotations

import uuid

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from studioloop.core import metrics
from studioloop.core.logging import get_logger
from studioloop.notifications import service
from studioloop.notifications.events import get_event
from studioloop.notifications.models import Notification

logger = get_logger(__name__)


def count_failure(session: AsyncSession, notification: Notification) -> None:
    """Counted for /metrics once the failure is committed (a retried job counts once)."""
    metrics.count_on_commit(session, metrics.NOTIFICATION_FAILURES.labels(notification.channel).inc)


async def fall_back(session: AsyncSession, failed: Notification) -> uuid.UUID | None:
    """Write the message again for the next channel in its chain, and send that."""
    remaining = list(failed.payload.get("fallbacks") or [])
    if not remaining:
        return None
    person = await service.person_for(session, failed.user_id)
    if person is None:
        return None
    studio = await service.studio_for(session, failed.tenant_id)
    message = service.Message(
        get_event(failed.event),
        dict(failed.payload.get("context") or {}),
        person,
        studio,
        failed.payload.get("url"),
    )
    fields = await message.compose(session, remaining[0])
    fields["payload"]["fallbacks"] = remaining[1:]
    fields["payload"]["context"] = failed.payload.get("context") or {}
    replacement = Notification(
        tenant_id=failed.tenant_id,
        user_id=failed.user_id,
        event=failed.event,
        critical=failed.critical,
        fallback_from_id=failed.id,
        not_after=failed.not_after,
        **fields,
    )
    session.add(replacement)
    await session.flush()
    if replacement.channel == "email":
        # The original's attachments (if any) travel with the message.
        await session.execute(
            text(
                "INSERT INTO email_attachments (email_id, filename, content_type, content) "
                "SELECT :new, filename, content_type, content FROM email_attachments "
                "WHERE email_id = :old"
            ),
            {"new": replacement.id, "old": failed.id},
        )
    await service.schedule_delivery(session, replacement.id, failed.tenant_id)
    logger.info(
        "notification falls back to another channel",
        notification_id=str(failed.id),
        from_channel=failed.channel,
        to_channel=replacement.channel,
    )
    return replacement.id
