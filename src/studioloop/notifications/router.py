"""Notification preferences, message history, push devices, a studio's wording and
announcements; and the development outbox."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request, Response, status
from pydantic import BaseModel, ConfigDict

from studioloop.accounts.dependencies import CurrentUser, PlatformOwner, require_role
from studioloop.accounts.members import Membership
from studioloop.config import get_settings
from studioloop.core.errors import NotFound
from studioloop.core.openapi import API_PREFIX, errors
from studioloop.core.pagination import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, Page
from studioloop.db.session import DbSession
from studioloop.notifications import manage, rendering, schemas, service
from studioloop.notifications.channels import push
from studioloop.notifications.events import EVENTS
from studioloop.notifications.models import Notification
from studioloop.tenants.dependencies import CurrentTenant, OptionalTenant

router = APIRouter(prefix=API_PREFIX, tags=["notifications"])
Staff = Annotated[Membership, Depends(require_role("instructor"))]
Admin = Annotated[Membership, Depends(require_role("admin"))]
Kind = Literal["email", "text"]


async def get_preferences(
    tenant: CurrentTenant, user: CurrentUser, session: DbSession
) -> schemas.PreferencesOut:
    """Your notification choices at this studio (its defaults until you change them)."""
    return await manage.preferences_view(session, tenant.id, user)


async def put_preferences(
    body: schemas.PreferencesUpdate, tenant: CurrentTenant, user: CurrentUser, session: DbSession
) -> schemas.PreferencesOut:
    """Change how this studio reaches you: channel order, booking updates, reminders and
    their timing, marketing (off unless you opt in), quiet hours in the studio's time."""
    return await manage.update_preferences(session, tenant.id, user, body)


def _page(found: tuple[list[Notification], str | None]) -> Page[schemas.NotificationOut]:
    rows, next_cursor = found
    items = [schemas.NotificationOut.model_validate(r) for r in rows]
    return Page(items=items, next_cursor=next_cursor)


async def my_notifications(
    user: CurrentUser,
    session: DbSession,
    tenant: OptionalTenant,
    cursor: str | None = Query(default=None, max_length=500, description="next_cursor"),
    limit: int = Query(default=DEFAULT_PAGE_SIZE, ge=1, le=MAX_PAGE_SIZE),
) -> Page[schemas.NotificationOut]:
    """Messages sent to you, newest first: from this studio, or (with no studio) all."""
    tenant_id = tenant.id if tenant else None
    return _page(
        await manage.history(
            session, user_id=user.id, tenant_id=tenant_id, cursor=cursor, limit=limit
        )
    )


async def member_notifications(
    user_id: uuid.UUID,
    tenant: CurrentTenant,
    _staff: Staff,
    session: DbSession,
    cursor: str | None = Query(default=None, max_length=500, description="next_cursor"),
    limit: int = Query(default=DEFAULT_PAGE_SIZE, ge=1, le=MAX_PAGE_SIZE),
) -> Page[schemas.NotificationOut]:
    """Every message this studio sent to a member, with its delivery state (staff)."""
    return _page(
        await manage.history(
            session, user_id=user_id, tenant_id=tenant.id, cursor=cursor, limit=limit
        )
    )


@router.get("/notifications/push/public-key", response_model=schemas.PublicKeyOut)
async def push_public_key() -> schemas.PublicKeyOut:
    """The VAPID key a browser subscribes with."""
    return schemas.PublicKeyOut(public_key=push.application_server_key(get_settings()))


@router.post(
    "/notifications/push/subscriptions",
    response_model=schemas.PushSubscriptionOut,
    status_code=status.HTTP_201_CREATED,
    responses=errors(401, 422),
)
async def add_push_subscription(
    body: schemas.PushSubscriptionIn, request: Request, user: CurrentUser, session: DbSession
) -> schemas.PushSubscriptionOut:
    """Register this browser for push messages (the body of `PushSubscription.toJSON()`)."""
    found = await manage.subscribe_push(session, user, body, request.headers.get("user-agent"))
    return schemas.PushSubscriptionOut.model_validate(found)


@router.delete(
    "/notifications/push/subscriptions",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=errors(401, 404, 422),
)
async def remove_push_subscription(
    body: schemas.PushEndpoint, user: CurrentUser, session: DbSession
) -> Response:
    if not await manage.unsubscribe_push(session, user, body.endpoint):
        raise NotFound("This browser is not subscribed.")
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/notifications/events", response_model=list[schemas.EventOut])
async def list_events() -> list[schemas.EventOut]:
    """Every message the platform sends, with the WhatsApp template parameters in order."""
    return [
        schemas.EventOut(
            name=e.name,
            category=e.category,
            critical=e.critical,
            whatsapp_params=list(e.whatsapp_params),
            variables=list(rendering.variables(e.name)),
        )
        for e in EVENTS.values()
    ]


async def list_templates(
    tenant: CurrentTenant, _admin: Admin, session: DbSession
) -> list[schemas.TemplateOut]:
    """This studio's own wording (admins)."""
    rows = await manage.list_templates(session, tenant.id)
    return [schemas.TemplateOut.model_validate(r) for r in rows]


async def put_template(
    event: str,
    kind: Kind,
    body: schemas.TemplateIn,
    tenant: CurrentTenant,
    _admin: Admin,
    session: DbSession,
) -> schemas.TemplateOut:
    """Replace a message's wording for this studio: `email` (subject, text, optional HTML)
    or `text` (SMS and push). Jinja2 syntax with the event's variables; checked by
    rendering it before it is saved."""
    row = await manage.save_template(session, tenant.id, event, kind, body)
    return schemas.TemplateOut.model_validate(row)


async def delete_template(
    event: str,
    kind: Kind,
    tenant: CurrentTenant,
    _admin: Admin,
    session: DbSession,
    locale: str = Query(default="en", max_length=16),
) -> Response:
    """Go back to the built-in wording."""
    if not await manage.delete_template(session, tenant.id, event, kind, locale):
        raise NotFound("This studio has no own wording for that message.")
    return Response(status_code=status.HTTP_204_NO_CONTENT)


async def post_announcement(
    body: schemas.AnnouncementIn, tenant: CurrentTenant, _admin: Admin, session: DbSession
) -> schemas.AnnouncementOut:
    """Send news to the studio's members who opted in to marketing messages (admins); the
    messages are written by a job, and `recipients` says how many there will be."""
    return await manage.announce(session, tenant.id, body)


for prefix in ("/tenants/{slug}", ""):
    router.add_api_route(
        f"{prefix}/notifications/preferences",
        get_preferences,
        methods=["GET"],
        response_model=schemas.PreferencesOut,
        responses=errors(400, 401),
    )
    router.add_api_route(
        f"{prefix}/notifications/preferences",
        put_preferences,
        methods=["PUT"],
        response_model=schemas.PreferencesOut,
        responses=errors(400, 401, 422),
    )
    router.add_api_route(
        f"{prefix}/notifications",
        my_notifications,
        methods=["GET"],
        response_model=Page[schemas.NotificationOut],
        responses=errors(401, 422),
    )
    router.add_api_route(
        f"{prefix}/users/{{user_id}}/notifications",
        member_notifications,
        methods=["GET"],
        response_model=Page[schemas.NotificationOut],
        responses=errors(400, 401, 403, 422),
    )
    router.add_api_route(
        f"{prefix}/notifications/templates",
        list_templates,
        methods=["GET"],
        response_model=list[schemas.TemplateOut],
        responses=errors(400, 401, 403),
    )
    router.add_api_route(
        f"{prefix}/notifications/templates/{{event}}/{{kind}}",
        put_template,
        methods=["PUT"],
        response_model=schemas.TemplateOut,
        responses=errors(400, 401, 403, 404, 422),
    )
    router.add_api_route(
        f"{prefix}/notifications/templates/{{event}}/{{kind}}",
        delete_template,
        methods=["DELETE"],
        status_code=status.HTTP_204_NO_CONTENT,
        responses=errors(400, 401, 403, 404),
    )
    router.add_api_route(
        f"{prefix}/notifications/announcements",
        post_announcement,
        methods=["POST"],
        response_model=schemas.AnnouncementOut,
        status_code=status.HTTP_202_ACCEPTED,
        responses=errors(400, 401, 403, 422),
    )

# --- development outbox -------------------------------------------------------------------


class OutboxMessage(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    channel: str
    recipient: str
    subject: str | None
    body_text: str
    event: str
    status: str
    created_at: datetime


def _require_development(request: Request) -> None:
    if not request.app.state.settings.is_development:
        raise NotFound()


@router.get(
    "/dev/outbox",
    response_model=list[OutboxMessage],
    responses=errors(401, 403, 404),
    tags=["development"],
)
async def outbox(
    request: Request,
    _owner: PlatformOwner,
    session: DbSession,
    to: str | None = Query(default=None, max_length=320),
) -> list[OutboxMessage]:
    """Recent messages on every channel (development only; platform operator)."""
    _require_development(request)
    messages = await service.recent_messages(session, to=to)
    return [OutboxMessage.model_validate(m) for m in messages]
