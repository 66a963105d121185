"""Email over SMTP (aiosmtplib). Without SMTP_HOST nothing is sent: the message is kept for
/dev/outbox (status `recorded`)."""

from __future__ import annotations

from email import policy
from email.message import EmailMessage as MimeMessage
from email.utils import make_msgid, parseaddr

import aiosmtplib
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from studioloop.config import Settings
from studioloop.notifications.channels.base import ChannelError
from studioloop.notifications.models import EmailAttachment, Notification

SMTP_POLICY = policy.SMTP.clone(max_line_length=998)


async def send(settings: Settings, session: AsyncSession, notification: Notification) -> str | None:
    if not settings.smtp_host:
        return None
    attachments = list(
        await session.scalars(
            select(EmailAttachment)
            .where(EmailAttachment.email_id == notification.id)
            .order_by(EmailAttachment.filename)
        )
    )
    mime = compose(settings, notification, attachments)
    try:
        # Flattened here: aiosmtplib would flatten with its own 78-column policy.
        await aiosmtplib.send(
            mime.as_bytes(policy=SMTP_POLICY),
            sender=parseaddr(settings.email_from)[1],
            recipients=[notification.recipient],
            hostname=settings.smtp_host,
            port=settings.smtp_port,
            username=settings.smtp_username,
            password=settings.smtp_password.get_secret_value() if settings.smtp_password else None,
            start_tls=settings.smtp_starttls and not settings.smtp_use_tls,
            use_tls=settings.smtp_use_tls,
            timeout=30,
        )
    except aiosmtplib.SMTPRecipientsRefused as exc:
        raise ChannelError(f"recipient refused: {exc}", permanent=True) from exc
    except (aiosmtplib.SMTPException, OSError) as exc:
        raise ChannelError(str(exc), permanent=False) from exc
    return str(mime["Message-ID"])


def compose(
    settings: Settings, notification: Notification, attachments: list[EmailAttachment]
) -> MimeMessage:
    # RFC 5322 allows 998-character lines; at the default 78, a long unsubscribe URL would
    # be folded into encoded words that mail clients no longer recognise as a link.
    mime = MimeMessage(policy=SMTP_POLICY)
    mime["From"] = settings.email_from
    mime["To"] = notification.recipient
    mime["Subject"] = notification.subject or ""
    mime["Message-ID"] = make_msgid(domain=settings.base_domain)
    unsubscribe = notification.payload.get("unsubscribe_url")
    if unsubscribe:
        # RFC 8058 one-click: mail clients show an "Unsubscribe" button that POSTs here.
        mime["List-Unsubscribe"] = f"<{unsubscribe}>"
        mime["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    mime.set_content(notification.body_text)
    if notification.body_html:
        mime.add_alternative(notification.body_html, subtype="html")
    for attachment in attachments:
        maintype, _, subtype = attachment.content_type.partition("/")
        mime.add_attachment(
            attachment.content, maintype=maintype, subtype=subtype, filename=attachment.filename
        )
    return mime
