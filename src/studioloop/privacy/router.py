"""Erasure over HTTP: a person erasing their own account, and the platform operator
erasing one on request."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, status

from studioloop.accounts.dependencies import CurrentUser, PlatformOwner
from studioloop.config import Settings
from studioloop.core.openapi import API_PREFIX, errors
from studioloop.core.ratelimit import SensitiveRateLimit
from studioloop.db.session import DbSession
from studioloop.privacy import schemas, service

router = APIRouter(prefix=API_PREFIX)


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


SettingsDep = Annotated[Settings, Depends(_settings)]


@router.get(
    "/users/profile/erasure",
    response_model=schemas.ErasurePlan,
    tags=["users"],
    responses=errors(401, 422),
)
async def my_erasure_plan(user: CurrentUser, session: DbSession) -> schemas.ErasurePlan:
    """What deleting your account would erase, what is kept (why, and until when), and what
    must be resolved first (`blockers`)."""
    return await service.erasure_plan(session, user)


@router.post(
    "/users/profile/erasure",
    status_code=status.HTTP_201_CREATED,
    response_model=schemas.ErasureRecordOut,
    tags=["users"],
    responses=errors(400, 401, 409, 422, 429),
)
async def erase_my_account(
    body: schemas.ErasureConfirm,
    user: CurrentUser,
    session: DbSession,
    settings: SettingsDep,
    _: SensitiveRateLimit,
) -> schemas.ErasureRecordOut:
    """Delete your account, proving your password. Wrong password: 400 `WRONG_PASSWORD`;
    blockers: 409 `ERASURE_BLOCKED` listing them in `details.blockers`; either way nothing
    changes. Afterwards no token of the account works."""
    return await service.erase_self(session, settings, user, body.password)


@router.get(
    "/admin/users",
    response_model=list[schemas.UserFound],
    tags=["operations"],
    responses=errors(401, 403, 422),
)
async def find_users(
    _owner: PlatformOwner,
    session: DbSession,
    email: Annotated[str, Query(min_length=3, max_length=320, description="Part of an email")],
) -> list[schemas.UserFound]:
    """Accounts whose email contains this text (platform operator)."""
    return await service.find_users(session, email)


@router.get(
    "/admin/users/{user_id}/erasure",
    response_model=schemas.ErasurePlan,
    tags=["operations"],
    responses=errors(401, 403, 404, 422),
)
async def erasure_plan_for(
    user_id: uuid.UUID, _owner: PlatformOwner, session: DbSession
) -> schemas.ErasurePlan:
    """The erasure plan of any account (platform operator)."""
    return await service.erasure_plan(session, await service.user_for_operator(session, user_id))


@router.post(
    "/admin/users/{user_id}/erasure",
    status_code=status.HTTP_201_CREATED,
    response_model=schemas.ErasureRecordOut,
    tags=["operations"],
    responses=errors(401, 403, 404, 409, 422),
)
async def erase_user(
    user_id: uuid.UUID,
    body: schemas.OperatorErasure,
    operator: PlatformOwner,
    session: DbSession,
    settings: SettingsDep,
) -> schemas.ErasureRecordOut:
    """Erase an account on the person's request (platform operator), with the reason (a
    ticket's reference). Blockers: 409 `ERASURE_BLOCKED`, nothing changed."""
    user = await service.user_for_operator(session, user_id)
    return await service.erase_user(
        session, settings, user, requested_by=f"operator:{operator.id}", reason=body.reason
    )
