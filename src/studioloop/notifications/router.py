"""The development outbox as JSON, for people trying the API without an SMTP server."""

from __future__ import annotations

import uuid
from datetime import datetime

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, ConfigDict

from studioloop.accounts.dependencies import PlatformOwner
from studioloop.core.errors import NotFound
from studioloop.core.openapi import API_PREFIX, errors
from studioloop.db.session import DbSession
from studioloop.notifications import service

router = APIRouter(prefix=f"{API_PREFIX}/dev", tags=["development"])


class EmailOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    to_address: str
    subject: str
    body_text: str
    category: str
    status: str
    created_at: datetime


def _require_development(request: Request) -> None:
    if not request.app.state.settings.is_development:
        raise NotFound()


@router.get("/outbox", response_model=list[EmailOut], responses=errors(401, 403, 404))
async def outbox(
    request: Request,
    _owner: PlatformOwner,
    session: DbSession,
    to: str | None = Query(default=None, max_length=320),
) -> list[EmailOut]:
    """Recent emails (development only; platform operator)."""
    _require_development(request)
    emails = await service.recent_emails(session, to=to)
    return [EmailOut.model_validate(e) for e in emails]
