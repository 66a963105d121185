"""Small pieces every router uses: the app's settings, and the Idempotency-Key header of
unsafe endpoints with the replay of a first answer."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import Depends, Header, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from studioloop.config import Settings
from studioloop.db import idempotency


def app_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


AppSettings = Annotated[Settings, Depends(app_settings)]

IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key", max_length=255, description="Retry safely: same key, same result"
    ),
]


async def replay(
    session: AsyncSession, user_id: uuid.UUID, key: str | None, endpoint: str, body: BaseModel
) -> JSONResponse | None:
    """The first answer to this key, when the request is a retry; None when it is the
    first (the key is then claimed: a second request with another body is refused)."""
    if not key:
        return None
    fingerprint = idempotency.request_fingerprint(endpoint, body.model_dump(mode="json"))
    earlier = await idempotency.claim(session, user_id, key, endpoint, fingerprint)
    if earlier is None:
        return None
    return JSONResponse(earlier[1], status_code=earlier[0], headers={"Idempotent-Replayed": "true"})


async def answer(
    session: AsyncSession, user_id: uuid.UUID, key: str | None, status_code: int, payload: Any
) -> JSONResponse:
    """The response, remembered under the key (if any) for retries."""
    if key:
        await idempotency.remember(session, user_id, key, status_code, payload)
    return JSONResponse(payload, status_code=status_code)
