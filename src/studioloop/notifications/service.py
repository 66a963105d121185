"""Email: render, record, and hand to the delivery job in the caller's transaction."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from studioloop.jobs.defer import defer_in_transaction
from studioloop.notifications.models import EmailAttachment, EmailMessage

TEMPLATES = Path(__file__).resolve().parent / "templates"

SUBJECTS = {
    "verify_email": "Your StudioLoop verification code: {code}",
    "password_reset": "Reset your StudioLoop password",
    "invitation": "You're invited to join {studio_name} on StudioLoop",
    "waitlist_promoted": "You're in: {class_name} on {start}",
    "waitlist_skipped": "A place opened in {class_name}, but you need credits",
    "class_cancelled": "Cancelled: {class_name} on {start}",
    "payment_receipt": "Receipt {receipt_number}: {description}",
    "class_paid": "Booked and paid: {description}",
    "class_payment_refunded": "Refund: no place left in {description}",
    "membership_active": "Your {plan} membership is active",
    "membership_renewal_due": "Renew your {plan} membership",
    "membership_payment_failed": "We could not renew your {plan} membership",
    "membership_suspended": "Your {plan} membership is suspended",
    "membership_ended": "Your membership has ended",
    "membership_upgraded": "Your membership is now {plan}",
    "membership_payment_refunded": "Refund: {plan} membership",
}

_environment = Environment(
    loader=FileSystemLoader(TEMPLATES),
    autoescape=select_autoescape(["html"]),
    undefined=StrictUndefined,
    keep_trailing_newline=True,
)


def render_email(template: str, context: dict[str, Any]) -> tuple[str, str, str]:
    """Return (subject, text body, HTML body) for a template name."""
    subject = SUBJECTS[template].format(**context)
    text = _environment.get_template(f"email/{template}.txt").render(**context)
    html = _environment.get_template(f"email/{template}.html").render(**context)
    return subject, text, html


@dataclass(frozen=True)
class Attachment:
    filename: str
    content_type: str  # e.g. application/pdf
    content: bytes


async def send_email(
    session: AsyncSession,
    *,
    to: str,
    template: str,
    context: dict[str, Any],
    attachments: Sequence[Attachment] = (),
) -> EmailMessage:
    subject, text, html = render_email(template, context)
    message = EmailMessage(
        to_address=to, subject=subject, body_text=text, body_html=html, category=template
    )
    session.add(message)
    await session.flush()
    for attachment in attachments:
        session.add(
            EmailAttachment(
                email_id=message.id,
                filename=attachment.filename,
                content_type=attachment.content_type,
                content=attachment.content,
            )
        )
    if attachments:
        await session.flush()
    from studioloop.notifications.tasks import deliver_email  # the task imports this module

    await defer_in_transaction(session, deliver_email, email_id=str(message.id))
    return message


async def recent_emails(
    session: AsyncSession, *, to: str | None = None, limit: int = 50
) -> list[EmailMessage]:
    query = select(EmailMessage)
    if to:
        query = query.where(EmailMessage.to_address == to.strip().lower())
    result = await session.scalars(query.order_by(EmailMessage.created_at.desc()).limit(limit))
    return list(result)


async def get_email(session: AsyncSession, email_id: uuid.UUID) -> EmailMessage | None:
    return await session.get(EmailMessage, email_id)


def select_email_count() -> Select[Any]:
    return select(func.count()).select_from(EmailMessage)
