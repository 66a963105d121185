"""WhatsApp Cloud API webhooks: delivery statuses, and members replying STOP.

Meta signs each POST with the app secret (`X-Hub-Signature-256: sha256=<HMAC of the raw
body>`) and retries until it gets a 200, so everything here is safe to apply twice: a status
only ever moves forward, and an opt-out is stored once.
"""

from __future__ import annotations

import hashlib
import hmac
import uuid
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import PlainTextResponse
from pydantic import BaseModel
from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from studioloop.config import Settings, get_settings
from studioloop.core.errors import Forbidden, NotFound, Unauthorized
from studioloop.core.logging import get_logger
from studioloop.core.openapi import API_PREFIX, errors
from studioloop.db import tenancy
from studioloop.db.session import DbSession
from studioloop.notifications.fallback import count_failure, fall_back
from studioloop.notifications.models import ChannelOptOut, Notification

logger = get_logger(__name__)
webhook_router = APIRouter(prefix=f"{API_PREFIX}/messaging/webhooks", tags=["webhooks"])

# Replies that opt out of (or back in to) WhatsApp messages, as carriers and Meta suggest.
STOP_WORDS = frozenset({"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "OPT OUT"})
START_WORDS = frozenset({"START", "UNSTOP", "SUBSCRIBE", "OPT IN"})
# A status only moves forward: a late "sent" must not undo "read".
_RANK = {"queued": 0, "sent": 1, "delivered": 2, "read": 3}


class DeliveryStatusAck(BaseModel):
    statuses: int
    opt_outs: int


@webhook_router.get("/whatsapp", response_class=PlainTextResponse, responses=errors(403, 404))
async def verify_whatsapp(
    mode: str = Query(alias="hub.mode", default=""),
    token: str = Query(alias="hub.verify_token", default=""),
    challenge: str = Query(alias="hub.challenge", default=""),
) -> PlainTextResponse:
    """Meta's subscription check: echo the challenge when the verify token matches."""
    expected = get_settings().whatsapp_verify_token
    if expected is None:
        raise NotFound("WhatsApp is not set up.")
    if mode != "subscribe" or not hmac.compare_digest(token, expected.get_secret_value()):
        raise Forbidden("The verify token does not match.")
    return PlainTextResponse(challenge)


@webhook_router.post("/whatsapp", response_model=DeliveryStatusAck, responses=errors(401, 404))
async def receive_whatsapp(request: Request, session: DbSession) -> DeliveryStatusAck:
    settings = get_settings()
    body = await request.body()
    check_signature(settings, body, request.headers.get("x-hub-signature-256", ""))
    payload = await request.json()
    statuses = opt_outs = 0
    for value in _values(payload):
        for status in value.get("statuses") or []:
            statuses += await apply_status(session, status)
        for message in value.get("messages") or []:
            opt_outs += await apply_reply(session, message)
    return DeliveryStatusAck(statuses=statuses, opt_outs=opt_outs)


def check_signature(settings: Settings, body: bytes, header: str) -> None:
    if settings.whatsapp_app_secret is None:
        raise NotFound("WhatsApp is not set up.")
    expected = hmac.new(
        settings.whatsapp_app_secret.get_secret_value().encode(), body, hashlib.sha256
    ).hexdigest()
    if not hmac.compare_digest(header, f"sha256={expected}"):
        raise Unauthorized("The webhook signature does not match.")


def _values(payload: Any) -> list[dict[str, Any]]:
    if not isinstance(payload, dict):
        return []
    return [
        change.get("value") or {}
        for entry in payload.get("entry") or []
        for change in entry.get("changes") or []
        if change.get("field") == "messages"
    ]


async def apply_status(session: AsyncSession, status: dict[str, Any]) -> int:
    """Record one delivery status; a failure of a critical message falls back."""
    tenant_part, _, notification_part = str(status.get("biz_opaque_callback_data", "")).partition(
        ":"
    )
    try:
        notification_id = uuid.UUID(notification_part)
        tenant_id = uuid.UUID(tenant_part) if tenant_part else None
    except ValueError:
        return 0  # not one of ours (sent from Meta's own tools, say)
    # One delivery carries statuses of several studios (and platform messages, with no
    # studio), all in the request's one transaction: each is read and changed in its own.
    async with tenancy.scope(session, tenant_id):
        return await _apply_status(session, notification_id, status)


async def _apply_status(
    session: AsyncSession, notification_id: uuid.UUID, status: dict[str, Any]
) -> int:
    notification = await session.scalar(
        select(Notification)
        .where(
            Notification.id == notification_id,
            Notification.provider_message_id == str(status.get("id")),
        )
        .with_for_update()
    )
    if notification is None:
        return 0
    state = str(status.get("status"))
    at = _timestamp(status.get("timestamp"))
    if state == "failed":
        return await _failed(session, notification, status)
    if state not in _RANK or notification.status not in _RANK:
        return 0
    if _RANK[state] > _RANK[notification.status]:
        notification.status = state
    if state in ("delivered", "read") and notification.delivered_at is None:
        notification.delivered_at = at
    if state == "read" and notification.read_at is None:
        notification.read_at = at
    return 1


async def _failed(session: AsyncSession, notification: Notification, status: dict[str, Any]) -> int:
    if notification.status == "failed":
        return 0
    problems = status.get("errors") or [{}]
    notification.status = "failed"
    notification.last_error = (
        f"WhatsApp {problems[0].get('code', '')}: {problems[0].get('title', 'failed')}"
    )[:2000]
    count_failure(session, notification)
    if notification.payload.get("fallbacks"):  # undeliverable there: try the next
        await fall_back(session, notification)
    return 1


async def apply_reply(session: AsyncSession, message: dict[str, Any]) -> int:
    """A member's reply: STOP opts their number out of WhatsApp, START opts it back in."""
    text = ""
    if message.get("type") == "text":
        text = str((message.get("text") or {}).get("body", ""))
    elif message.get("type") == "button":
        text = str((message.get("button") or {}).get("text", ""))
    word = " ".join(text.upper().split())
    phone = "+" + str(message.get("from", "")).lstrip("+")
    if word in STOP_WORDS:
        await session.execute(
            insert(ChannelOptOut)
            .values(channel="whatsapp", address=phone, reason="replied STOP")
            .on_conflict_do_nothing()
        )
        logger.info("whatsapp opt-out", phone_suffix=phone[-4:])
        return 1
    if word in START_WORDS:
        await session.execute(
            delete(ChannelOptOut).where(
                ChannelOptOut.channel == "whatsapp", ChannelOptOut.address == phone
            )
        )
    return 0


def _timestamp(value: Any) -> datetime:
    try:
        return datetime.fromtimestamp(int(value), UTC)
    except (TypeError, ValueError):
        return datetime.now(UTC)
