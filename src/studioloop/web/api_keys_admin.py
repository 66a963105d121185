"""A studio's API keys page for its owner and admins: the keys, a form for a new one (its
secret shown once, on the answer to the form), and revoking one after a confirmation."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError

from studioloop.accounts.models import User
from studioloop.api_keys import service as api_keys
from studioloop.api_keys.schemas import ApiKeyCreated, ApiKeyIn
from studioloop.api_keys.scopes import SCOPES
from studioloop.db.session import DbSession
from studioloop.tenants.cache import TenantRef
from studioloop.tenants.dependencies import CurrentTenant
from studioloop.web.owner_pages import admin_form, admin_of
from studioloop.web.routes import render
from studioloop.web.studio_pages import studio_context

router = APIRouter(include_in_schema=False)


async def _page(
    request: Request,
    session: DbSession,
    tenant: TenantRef,
    user: User,
    *,
    created: ApiKeyCreated | None = None,
    errors: dict[str, str] | None = None,
    typed: dict[str, Any] | None = None,
    revoked: bool = False,
    status_code: int = 200,
) -> Response:
    context: dict[str, Any] = await studio_context(session, tenant)
    context.update(
        user=user,
        keys=await api_keys.list_keys(session, tenant.id),
        scopes=SCOPES,
        created=created,
        errors=errors or {},
        typed=typed or {"name": "", "scopes": []},
        revoked=revoked,
    )
    response = render(request, "owner/api_keys.html", context, status_code=status_code)
    if created is not None:
        # The one page holding the secret: no cache keeps a copy.
        response.headers["Cache-Control"] = "no-store"
    return response


@router.get("/s/{slug}/admin/api-keys", response_class=HTMLResponse)
async def api_keys_page(
    request: Request, tenant: CurrentTenant, session: DbSession, revoked: int = 0
) -> Response:
    user, refused = await admin_of(request, session, tenant)
    if refused is not None or user is None:
        return refused or Response(status_code=401)
    return await _page(request, session, tenant, user, revoked=bool(revoked))


@router.post("/s/{slug}/admin/api-keys", response_class=HTMLResponse)
async def create_api_key(request: Request, tenant: CurrentTenant, session: DbSession) -> Response:
    form, user, refused = await admin_form(request, session, tenant)
    if refused is not None or user is None:
        return refused or Response(status_code=401)
    name = str(form.get("name") or "").strip()
    chosen = [str(scope) for scope in form.getlist("scopes")]
    errors: dict[str, str] = {}
    if not name:
        errors["name"] = "Give the key a name: what will use it?"
    elif len(name) > 100:
        errors["name"] = "Keep the name to 100 characters."
    if not chosen:
        errors["scopes"] = "Choose at least one thing the key may do."
    body = None
    if not errors:
        try:
            body = ApiKeyIn.model_validate({"name": name, "scopes": chosen})
        except ValidationError:
            errors["scopes"] = "Choose from the list."
    if body is None:
        typed = {"name": name, "scopes": chosen}
        return await _page(
            request, session, tenant, user, errors=errors, typed=typed, status_code=400
        )
    created = await api_keys.create_key(session, tenant.id, user, body)
    return await _page(request, session, tenant, user, created=created, status_code=201)


@router.get("/s/{slug}/admin/api-keys/{key_id}/revoke", response_class=HTMLResponse)
async def confirm_revoke(
    request: Request, tenant: CurrentTenant, session: DbSession, key_id: uuid.UUID
) -> Response:
    user, refused = await admin_of(request, session, tenant)
    if refused is not None or user is None:
        return refused or Response(status_code=401)
    context: dict[str, Any] = await studio_context(session, tenant)
    context.update(user=user, key=await api_keys.get_key(session, tenant.id, key_id))
    return render(request, "owner/api_key_revoke.html", context)


@router.post("/s/{slug}/admin/api-keys/{key_id}/revoke", response_class=HTMLResponse)
async def revoke_api_key(
    request: Request, tenant: CurrentTenant, session: DbSession, key_id: uuid.UUID
) -> Response:
    _form, user, refused = await admin_form(request, session, tenant)
    if refused is not None or user is None:
        return refused or Response(status_code=401)
    await api_keys.revoke_key(session, tenant.id, key_id)
    return RedirectResponse(f"/s/{tenant.slug}/admin/api-keys?revoked=1", status_code=303)
