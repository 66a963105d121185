"""What members and staff do with notifications: preferences, history, push devices,
a studio's own wording, announcements."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from jinja2 import TemplateError
from sqlalchemy import Select, delete, func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from studioloop.accounts.models import User, UserTenantRole
from studioloop.core.pagination import newest_first
from studioloop.db.tenancy import enter_user_for_transaction
from studioloop.jobs.defer import defer_in_transaction
from studioloop.notifications import job_names, preferences, rendering, schemas, service
from studioloop.notifications.events import EVENTS, get_event
from studioloop.notifications.exceptions import TemplateInvalid, UnknownEvent
from studioloop.notifications.models import (
    Notification,
    NotificationPreference,
    NotificationTemplate,
    PushSubscription,
)

# A sample context for checking a studio's template before it is saved: every variable
# any event offers, with a plausible value.
SAMPLE_CONTEXT: dict[str, Any] = {
    "first_name": "Naledi",
    "meter": "ai-reviews",
    "used": "160",
    "included": "200",
    "hard": True,
    "class_name": "Morning Yoga",
    "start": "Sat 05 Dec 09:00",
    "studio_name": "Sunrise Studio",
    "credits": 1,
    "position": 2,
    "instructor_name": "Thabo",
    "late": False,
    "plan": "Unlimited",
    "amount": "ZAR 450.00",
    "renews_on": "01 Jan 2027",
    "expires_on": "12 Dec 2026",
    "description": "10-class pack",
    "receipt_number": "R-000123",
    "title": "New timetable",
    "message": "Our December timetable is out.",
    "code": "123456",
    "minutes": 15,
    "link": "https://example.com",
    "period_end": "01 Jan 2027",
    "checkout_url": "https://example.com/pay",
    "retry": "Tue 01 Dec",
    "reason": "the class was full",
    "saved_card": True,
    "days": 7,
    "price": "ZAR 120.00",
    "hold_until": "08:45",
    "role": "member",
    "role_phrase": "a member",
    "inviter_name": "Thabo",
    "payment_id": "0b8e",
    "expires": None,
    "hours": 2,
    "from_name": "Thabo",
    "subject": "Is there parking?",
    "room_id": "0b8e",
    "reply": "Yes, behind the building.",
}


async def preferences_view(
    session: AsyncSession, tenant_id: uuid.UUID, user: User
) -> schemas.PreferencesOut:
    studio = await service.studio_for(session, tenant_id)
    assert studio is not None
    row = await preferences.load_row(session, tenant_id, user.id)
    prefs = preferences.merge(row, studio.settings)
    person = await service.person_for(session, user.id)
    assert person is not None
    opted_out = await service.opted_out(session, person)
    usable = [c for c in prefs.studio_channels if service.usable(c, person, opted_out)]
    return schemas.PreferencesOut(
        channels=list(prefs.channels),
        studio_channels=list(prefs.studio_channels),
        usable_channels=usable,
        booking_updates=prefs.booking_updates,
        reminders=prefs.reminders,
        reminder_hours=list(prefs.reminder_hours),
        marketing=prefs.marketing,
        quiet_hours_start=prefs.quiet_hours_start,
        quiet_hours_end=prefs.quiet_hours_end,
        timezone=studio.timezone,
        customised=prefs.customised,
    )


async def update_preferences(
    session: AsyncSession, tenant_id: uuid.UUID, user: User, update: schemas.PreferencesUpdate
) -> schemas.PreferencesOut:
    await preferences.save(session, tenant_id, user.id, update.model_dump(exclude_unset=True))
    return await preferences_view(session, tenant_id, user)


async def history(
    session: AsyncSession,
    *,
    user_id: uuid.UUID,
    tenant_id: uuid.UUID | None,
    cursor: str | None,
    limit: int,
) -> tuple[list[Notification], str | None]:
    """Messages to one person, newest first, and the cursor of the next page. Without a
    studio: theirs from every studio (row-level security lets a member read their own
    rows, and only those)."""
    if tenant_id is None:
        await enter_user_for_transaction(session, user_id)
    query = select(Notification).where(Notification.user_id == user_id)
    if tenant_id is not None:
        query = query.where(Notification.tenant_id == tenant_id)
    return await newest_first(
        session, query, Notification.created_at, Notification.id, cursor=cursor, limit=limit
    )


async def subscribe_push(
    session: AsyncSession, user: User, body: schemas.PushSubscriptionIn, user_agent: str | None
) -> PushSubscription:
    """Add (or move to this user) a browser's push subscription. An endpoint belongs to one
    browser profile: when someone else signs in there, it follows them."""
    values = {
        "user_id": user.id,
        "p256dh": body.keys.p256dh,
        "auth": body.keys.auth,
        "user_agent": (user_agent or "")[:300] or None,
    }
    await session.execute(
        insert(PushSubscription)
        .values(endpoint=body.endpoint, **values)
        .on_conflict_do_update(index_elements=["endpoint"], set_=values)
    )
    found = await session.scalar(
        select(PushSubscription).where(PushSubscription.endpoint == body.endpoint)
    )
    assert found is not None
    return found


async def unsubscribe_push(session: AsyncSession, user: User, endpoint: str) -> bool:
    result = await session.execute(
        delete(PushSubscription)
        .where(PushSubscription.user_id == user.id, PushSubscription.endpoint == endpoint)
        .returning(PushSubscription.id)
    )
    return result.first() is not None


async def list_templates(session: AsyncSession, tenant_id: uuid.UUID) -> list[NotificationTemplate]:
    rows = await session.scalars(
        select(NotificationTemplate)
        .where(NotificationTemplate.tenant_id == tenant_id)
        .order_by(
            NotificationTemplate.event, NotificationTemplate.kind, NotificationTemplate.locale
        )
    )
    return list(rows)


async def save_template(
    session: AsyncSession, tenant_id: uuid.UUID, event: str, kind: str, body: schemas.TemplateIn
) -> NotificationTemplate:
    if event not in EVENTS:
        raise UnknownEvent(details={"event": event, "known": sorted(EVENTS)})
    if get_event(event).email_only and kind == "text":
        raise TemplateInvalid(f"{event} is only ever sent by email.")
    _check_renders(event, kind, body)
    values = {
        "subject": body.subject,
        "body_text": body.body_text,
        "body_html": body.body_html if kind == "email" else None,
    }
    await session.execute(
        insert(NotificationTemplate)
        .values(tenant_id=tenant_id, event=event, kind=kind, locale=body.locale, **values)
        .on_conflict_do_update(
            index_elements=["tenant_id", "event", "kind", "locale"],
            set_={**values, "updated_at": datetime.now().astimezone()},
        )
    )
    row = await session.scalar(
        select(NotificationTemplate).where(
            NotificationTemplate.tenant_id == tenant_id,
            NotificationTemplate.event == event,
            NotificationTemplate.kind == kind,
            NotificationTemplate.locale == body.locale,
        )
    )
    assert row is not None
    await session.refresh(row)
    return row


def _check_renders(event: str, kind: str, body: schemas.TemplateIn) -> None:
    override = rendering.Override(body.subject, body.body_text, body.body_html)
    try:
        text = rendering.check_override(event, kind, override, SAMPLE_CONTEXT)
        if kind == "text" and len(text) > 2 * rendering.SMS_LIMIT:
            raise TemplateInvalid(
                "A text message should stay short: this one would be "
                f"{len(text)} characters (aim for {rendering.SMS_LIMIT}).",
                details={"length": len(text)},
            )
    except TemplateError as error:
        raise TemplateInvalid(str(error), details={"error": str(error)}) from error


async def delete_template(
    session: AsyncSession, tenant_id: uuid.UUID, event: str, kind: str, locale: str
) -> bool:
    result = await session.execute(
        delete(NotificationTemplate)
        .where(
            NotificationTemplate.tenant_id == tenant_id,
            NotificationTemplate.event == event,
            NotificationTemplate.kind == kind,
            NotificationTemplate.locale == locale,
        )
        .returning(NotificationTemplate.id)
    )
    return result.first() is not None


def _opted_in_members(tenant_id: uuid.UUID) -> Select[uuid.UUID, str]:
    return (
        select(User.id, User.first_name)
        .join(UserTenantRole, UserTenantRole.user_id == User.id)
        .join(
            NotificationPreference,
            (NotificationPreference.user_id == User.id)
            & (NotificationPreference.tenant_id == tenant_id),
        )
        .where(
            UserTenantRole.tenant_id == tenant_id,
            UserTenantRole.status == "active",
            User.status == "active",
            NotificationPreference.marketing.is_(True),
        )
    )


async def announce(
    session: AsyncSession, tenant_id: uuid.UUID, body: schemas.AnnouncementIn
) -> schemas.AnnouncementOut:
    """Queue a studio announcement for its members who opted in to marketing messages
    (marketing is off until a member opts in). A job writes the messages: a studio with
    thousands of members must not hold the request open."""
    announcement_id = uuid.uuid4()
    recipients = await session.scalar(
        select(func.count()).select_from(_opted_in_members(tenant_id).subquery())
    )
    await defer_in_transaction(
        session,
        job_names.SEND_ANNOUNCEMENT,
        announcement_id=str(announcement_id),
        tenant_id=str(tenant_id),
        title=body.title,
        message=body.message,
    )
    return schemas.AnnouncementOut(id=announcement_id, recipients=int(recipients or 0))


async def send_announcement(
    session: AsyncSession,
    announcement_id: uuid.UUID,
    tenant_id: uuid.UUID,
    title: str,
    message: str,
) -> int:
    """The job's work. Safe to run twice: each member's message has its dedup key."""
    studio = await service.studio_for(session, tenant_id)
    if studio is None:
        return 0
    sent = 0
    for user_id, first_name in await session.execute(_opted_in_members(tenant_id)):
        written = await service.notify(
            session,
            "studio_announcement",
            tenant_id=tenant_id,
            user_id=user_id,
            dedup_key=f"studio_announcement:{announcement_id}:{user_id}",
            context={
                "first_name": first_name,
                "studio_name": studio.name,
                "title": title,
                "message": message,
            },
        )
        sent += written is not None
    return sent
