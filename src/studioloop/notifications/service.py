"""`notify()`: one call per business event, inside the transaction that caused it.

It picks the channel from the member's preferences and the studio's settings, renders the
message, records a `notifications` row and defers the delivery job on the same connection:
a committed booking always gets its message, a rolled-back one never does. A `dedup_key`
makes a second report of the same event (a retried job, a webhook delivered twice) a no-op.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from html import escape
from typing import Any

from sqlalchemy import Select, func, select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from studioloop.accounts.models import User
from studioloop.config import get_settings
from studioloop.db.tenancy import set_platform_view
from studioloop.jobs.defer import defer_in_transaction
from studioloop.notifications import channels, job_names, preferences, rendering, repository
from studioloop.notifications.events import FALLBACK_ORDER, Event, get_event
from studioloop.notifications.models import (
    ChannelOptOut,
    EmailAttachment,
    Notification,
    NotificationTemplate,
    PushSubscription,
)
from studioloop.notifications.unsubscribe import Unsubscribe, url_for


@dataclass(frozen=True)
class Attachment:
    filename: str
    content_type: str  # e.g. application/pdf
    content: bytes
    # A document the message exists for (a receipt) sends it by email, the one channel
    # here that carries files; an extra (a booking's QR code) goes along only if it is email.
    required: bool = True


@dataclass(frozen=True)
class Person:
    user_id: uuid.UUID | None
    email: str | None
    phone: str | None  # E.164, or None when we have no international number
    locale: str
    has_push: bool
    active: bool = True


@dataclass(frozen=True)
class Studio:
    id: uuid.UUID
    name: str
    timezone: str
    settings: dict[str, Any]


async def notify(
    session: AsyncSession,
    event_name: str,
    *,
    context: dict[str, Any],
    tenant_id: uuid.UUID | None = None,
    user_id: uuid.UUID | None = None,
    email: str | None = None,
    attachments: Sequence[Attachment] = (),
    dedup_key: str | None = None,
    link: str | None = None,
    not_after: datetime | None = None,
) -> uuid.UUID | None:
    """Tell a member (`user_id`) or an address (`email`, for people with no account yet)
    about an event. Returns the delivery's id, or None when nothing is to be sent (switched
    off by the member, no usable channel, a duplicate, or too late to matter)."""
    event = get_event(event_name)
    person = await person_for(session, user_id, email)
    if person is None or (not person.active and event.category != "security"):
        return None
    studio = await studio_for(session, tenant_id)
    prefs = await preferences.effective(
        session, tenant_id, person.user_id, studio.settings if studio else {}
    )
    if not prefs.allows(event):
        return None
    refused = await opted_out(session, person)
    plan = plan_channels(
        event,
        prefs,
        lambda c: usable(c, person, refused),
        has_document=any(a.required for a in attachments),
    )
    if not plan:
        return None
    now = datetime.now(UTC)
    send_after = None
    if studio is not None and not event.critical and event.category != "account":
        send_after = prefs.quiet_until(now, studio.timezone)
    if not_after is not None and (send_after or now) >= not_after:
        return None
    message = Message(event, context, person, studio, link)
    fields = await message.compose(session, plan[0])
    if len(plan) > 1:
        # What a fallback needs to write the message again for the next channel.
        fields["payload"]["fallbacks"] = plan[1:]
        fields["payload"]["context"] = json.loads(json.dumps(context, default=str))
    row_id = await session.scalar(
        insert(Notification)
        .values(
            tenant_id=tenant_id,
            user_id=person.user_id,
            event=event.name,
            critical=event.critical,
            dedup_key=dedup_key,
            send_after=send_after,
            not_after=not_after,
            **fields,
        )
        .on_conflict_do_nothing(
            index_elements=["dedup_key"], index_where=text("dedup_key IS NOT NULL")
        )
        .returning(Notification.id)
    )
    if row_id is None:
        return None  # already reported
    assert isinstance(row_id, uuid.UUID)
    # Kept only where an email may carry them (this channel, or a fallback to email).
    for attachment in attachments if "email" in plan else ():
        session.add(
            EmailAttachment(
                email_id=row_id,
                filename=attachment.filename,
                content_type=attachment.content_type,
                content=attachment.content,
            )
        )
    await session.flush()
    await schedule_delivery(session, row_id, tenant_id, send_after)
    return row_id


def plan_channels(
    event: Event,
    prefs: preferences.Preferences,
    can_use: Callable[[str], bool],
    *,
    has_document: bool = False,
) -> list[str]:
    """The channel to send on first, then the ones to fall back to: for a critical
    message, WhatsApp -> SMS -> email after the member's own choices; otherwise the rest of
    the member's channels, used only when one turns out not to work (a browser that
    dropped its push subscription). A message carrying a document (a receipt's PDF) goes
    by email, the one channel here that can hold it."""
    if event.email_only or has_document:
        return ["email"] if can_use("email") else []
    if not event.critical:
        chosen = [c for c in prefs.channels if can_use(c)]
        return chosen or (["email"] if can_use("email") else [])
    # Push is left out of a critical chain: a push service accepting the message says
    # nothing about the member seeing it, so it could never trigger the fallback.
    # The member's own first choice leads; then WhatsApp -> SMS -> email.
    allowed = (*prefs.studio_channels, "email")
    usable_here = [c for c in (*prefs.channels, *FALLBACK_ORDER) if c in allowed and can_use(c)]
    first = [c for c in usable_here if c != "push"][:1]
    return list(dict.fromkeys([*first, *(c for c in FALLBACK_ORDER if c in usable_here)]))


def usable(channel: str, person: Person, opted_out: set[tuple[str, str]]) -> bool:
    if not channels.configured(get_settings(), channel):
        return False
    if channel == "email":
        return person.email is not None and ("email", person.email) not in opted_out
    if channel in ("whatsapp", "sms"):
        return person.phone is not None and (channel, person.phone) not in opted_out
    return channel == "push" and person.has_push


async def schedule_delivery(
    session: AsyncSession,
    notification_id: uuid.UUID,
    tenant_id: uuid.UUID | None,
    send_after: datetime | None = None,
) -> None:
    await defer_in_transaction(
        session,
        job_names.DELIVER_NOTIFICATION,
        schedule_at=send_after,
        notification_id=str(notification_id),
        tenant_id=str(tenant_id) if tenant_id else None,
    )


class Message:
    """One event's message, written for whichever channel it goes out on."""

    def __init__(
        self,
        event: Event,
        context: dict[str, Any],
        person: Person,
        studio: Studio | None,
        link: str | None,
    ) -> None:
        self.event, self.context, self.person = event, context, person
        self.studio, self.link = studio, link

    async def compose(self, session: AsyncSession, channel: str) -> dict[str, Any]:
        locale = self.person.locale
        payload: dict[str, Any] = {"locale": locale}
        if self.link:
            payload["url"] = self.link
        if channel == "email":
            assert self.person.email is not None
            email = rendering.render_email(
                self.event.name,
                self.context,
                locale=locale,
                override=await self._override(session, "email"),
            )
            text, html = email.text, email.html
            page = self._page_url()
            if page and page not in text:
                # Every email leads somewhere: the booking, the bookings, the membership.
                text += f"\nOpen it in StudioLoop: {page}\n"
                html += (
                    f'\n<p><a href="{escape(page)}" style="display:inline-block;'
                    "padding:10px 18px;background:#0f766e;color:#ffffff;border-radius:8px;"
                    'text-decoration:none;font-weight:bold">Open in StudioLoop</a></p>\n'
                )
            unsubscribe = self._unsubscribe_url()
            if unsubscribe:
                payload["unsubscribe_url"] = unsubscribe
                text += f"\n--\nTo stop these emails: {unsubscribe}\n"
                html += (
                    '\n<p style="color:#666;font-size:12px">'
                    f'<a href="{unsubscribe}">Stop these emails</a></p>\n'
                )
            return {
                "channel": "email",
                "recipient": self.person.email,
                "subject": email.subject[:255],
                "body_text": text,
                "body_html": html,
                "payload": payload,
            }
        short = rendering.render_text(
            self.event.name,
            self.context,
            locale=locale,
            override=await self._override(session, "text"),
        )
        if channel == "whatsapp":
            payload["whatsapp"] = {
                "name": self.event.name,
                "language": locale,
                "parameters": rendering.whatsapp_parameters(self.event.name, self.context),
            }
        subject = self.studio.name if self.studio else "StudioLoop"
        recipient = "push" if channel == "push" else self.person.phone
        assert recipient is not None
        return {
            "channel": channel,
            "recipient": recipient,
            "subject": subject[:255],
            "body_text": short,
            "body_html": None,
            "payload": payload,
        }

    def _page_url(self) -> str | None:
        """The message's page as an address to click: app paths on our own site."""
        if not self.link:
            return None
        if self.link.startswith("/"):
            return f"{get_settings().base_url}{self.link}"
        return self.link

    def _unsubscribe_url(self) -> str | None:
        if self.studio is None or self.person.user_id is None:
            return None
        if self.event.category not in ("booking", "reminder", "marketing"):
            return None
        return url_for(
            get_settings(), Unsubscribe(self.person.user_id, self.studio.id, self.event.category)
        )

    async def _override(self, session: AsyncSession, kind: str) -> rendering.Override | None:
        if self.studio is None:
            return None
        rows = await session.scalars(
            select(NotificationTemplate).where(
                NotificationTemplate.tenant_id == self.studio.id,
                NotificationTemplate.event == self.event.name,
                NotificationTemplate.kind == kind,
                NotificationTemplate.locale.in_((self.person.locale, "en")),
            )
        )
        found = {row.locale: row for row in rows}
        row = found.get(self.person.locale) or found.get("en")
        if row is None:
            return None
        return rendering.Override(row.subject, row.body_text, row.body_html)


async def person_for(
    session: AsyncSession, user_id: uuid.UUID | None, email: str | None = None
) -> Person | None:
    if user_id is None:
        if not email:
            return None
        return Person(None, email.strip().lower(), None, "en", has_push=False)
    user = await session.get(User, user_id)
    if user is None:
        return None
    has_push = await session.scalar(
        select(func.count())
        .select_from(PushSubscription)
        .where(PushSubscription.user_id == user_id)
    )
    locale = str((user.preferences or {}).get("locale") or "en")
    return Person(
        user.id,
        user.email,
        channels.e164(user.phone),
        locale,
        bool(has_push),
        active=user.status == "active",
    )


async def studio_for(session: AsyncSession, tenant_id: uuid.UUID | None) -> Studio | None:
    if tenant_id is None:
        return None
    row = await repository.studio_row(session, tenant_id)
    if row is None:
        return None
    return Studio(row.id, row.name, row.timezone, row.settings or {})


async def opted_out(session: AsyncSession, person: Person) -> set[tuple[str, str]]:
    addresses = [a for a in (person.email, person.phone) if a]
    if not addresses:
        return set()
    rows = await session.execute(
        select(ChannelOptOut.channel, ChannelOptOut.address).where(
            ChannelOptOut.address.in_(addresses)
        )
    )
    return {(channel, address) for channel, address in rows}


async def already_sent(session: AsyncSession, dedup_keys: Sequence[str]) -> set[str]:
    """Which of these events have been notified already: periodic jobs check before they
    build a message, so running every few minutes costs one query, not a render each."""
    if not dedup_keys:
        return set()
    rows = await session.scalars(
        select(Notification.dedup_key).where(Notification.dedup_key.in_(list(dedup_keys)))
    )
    return {key for key in rows if key is not None}


async def recent_messages(
    session: AsyncSession, *, to: str | None = None, limit: int = 50
) -> list[Notification]:
    """Every studio's latest messages, for the platform operator's development outbox."""
    await set_platform_view(session)
    query = select(Notification)
    if to:
        query = query.where(Notification.recipient == to.strip().lower())
    result = await session.scalars(query.order_by(Notification.created_at.desc()).limit(limit))
    return list(result)


async def get_message(session: AsyncSession, message_id: uuid.UUID) -> Notification | None:
    await set_platform_view(session)
    return await session.get(Notification, message_id)


def select_email_count() -> Select[Any]:
    return select(func.count()).select_from(Notification)
