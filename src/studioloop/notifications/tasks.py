"""Email delivery job. Safe to run twice: a message already sent is left alone."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from email.message import EmailMessage as MimeMessage
from email.utils import make_msgid

import aiosmtplib
from sqlalchemy import select

from studioloop.config import Settings, get_settings
from studioloop.core.logging import get_logger
from studioloop.db.engine import get_database
from studioloop.jobs.app import DEFAULT_RETRY, MAX_ATTEMPTS, job_app
from studioloop.notifications.models import EmailAttachment, EmailMessage

logger = get_logger(__name__)


@job_app.task(name="deliver_email", queue="email", retry=DEFAULT_RETRY, pass_context=False)
async def deliver_email(email_id: str) -> None:
    settings = get_settings()
    async with get_database().sessionmaker() as session:
        message = await session.get(EmailMessage, uuid.UUID(email_id), with_for_update=True)
        if message is None or message.status in ("sent", "recorded"):
            return
        if not settings.smtp_host:
            message.status = "recorded"
            await session.commit()
            return
        message.attempts += 1
        attachments = list(
            await session.scalars(
                select(EmailAttachment)
                .where(EmailAttachment.email_id == message.id)
                .order_by(EmailAttachment.filename)
            )
        )
        try:
            message.provider_message_id = await _send_smtp(settings, message, attachments)
        except (aiosmtplib.SMTPException, OSError) as exc:
            message.last_error = str(exc)[:2000]
            if message.attempts >= MAX_ATTEMPTS:
                message.status = "failed"
            await session.commit()
            logger.warning("email delivery failed", email_id=email_id, error=str(exc))
            raise  # procrastinate retries with backoff
        message.status = "sent"
        message.sent_at = datetime.now(UTC)
        await session.commit()


async def _send_smtp(
    settings: Settings, message: EmailMessage, attachments: list[EmailAttachment]
) -> str:
    mime = MimeMessage()
    mime["From"] = settings.email_from
    mime["To"] = message.to_address
    mime["Subject"] = message.subject
    message_id = make_msgid(domain=settings.base_domain)
    mime["Message-ID"] = message_id
    mime.set_content(message.body_text)
    if message.body_html:
        mime.add_alternative(message.body_html, subtype="html")
    for attachment in attachments:
        maintype, _, subtype = attachment.content_type.partition("/")
        mime.add_attachment(
            attachment.content, maintype=maintype, subtype=subtype, filename=attachment.filename
        )
    await aiosmtplib.send(
        mime,
        hostname=settings.smtp_host,
        port=settings.smtp_port,
        username=settings.smtp_username,
        password=settings.smtp_password.get_secret_value() if settings.smtp_password else None,
        start_tls=settings.smtp_starttls and not settings.smtp_use_tls,
        use_tls=settings.smtp_use_tls,
        timeout=30,
    )
    return message_id
