"""Process stored webhook events, once each."""

from __future__ import annotations

import uuid

from studioloop.config import get_settings
from studioloop.core.logging import get_logger
from studioloop.db.engine import get_database
from studioloop.jobs.app import DEFAULT_RETRY, job_app
from studioloop.payments import service

logger = get_logger(__name__)


@job_app.task(
    name="process_webhook_event", queue="payments", retry=DEFAULT_RETRY, pass_context=False
)
async def process_webhook_event(webhook_event_id: str) -> str:
    async with get_database().sessionmaker() as session:
        outcome = await service.process_webhook(
            session, get_settings(), uuid.UUID(webhook_event_id)
        )
        await session.commit()
    logger.info("webhook processed", webhook_event_id=webhook_event_id, outcome=outcome)
    return outcome
