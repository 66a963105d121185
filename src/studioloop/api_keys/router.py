"""Managing a studio's API keys: by its owner and admins, signed in (a key cannot manage
keys: these endpoints take only an access token)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Response, status

from studioloop.accounts.dependencies import CurrentUser, require_role
from studioloop.accounts.members import Membership
from studioloop.api_keys import schemas, service
from studioloop.core.openapi import API_PREFIX, errors
from studioloop.db.session import DbSession
from studioloop.tenants.dependencies import CurrentTenant

router = APIRouter(prefix=f"{API_PREFIX}/tenants/{{slug}}/api-keys", tags=["api-keys"])
Admin = Annotated[Membership, Depends(require_role("admin"))]


@router.get("", response_model=list[schemas.ApiKeyOut], responses=errors(401, 403, 404))
async def list_api_keys(
    tenant: CurrentTenant, _actor: Admin, session: DbSession
) -> list[schemas.ApiKeyOut]:
    """The studio's keys, revoked ones too (admin+). Never their secrets."""
    return await service.list_keys(session, tenant.id)


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=schemas.ApiKeyCreated,
    responses=errors(401, 403, 404, 422),
)
async def create_api_key(
    body: schemas.ApiKeyIn,
    response: Response,
    tenant: CurrentTenant,
    _actor: Admin,
    user: CurrentUser,
    session: DbSession,
) -> schemas.ApiKeyCreated:
    """A new key with its scopes (admin+). The answer holds the whole key in `secret`:
    the one time it is shown; only its hash is kept."""
    response.headers["Cache-Control"] = "no-store"
    return await service.create_key(session, tenant.id, user, body)


@router.delete(
    "/{key_id}", status_code=status.HTTP_204_NO_CONTENT, responses=errors(401, 403, 404, 422)
)
async def revoke_api_key(
    key_id: uuid.UUID, tenant: CurrentTenant, _actor: Admin, session: DbSession
) -> Response:
    """Revoke a key (admin+): it stops working at once. Revoking it again changes nothing."""
    await service.revoke_key(session, tenant.id, key_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
