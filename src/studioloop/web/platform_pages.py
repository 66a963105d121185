"""The platform operator's console: every studio with its status and figures, sign-ups,
totals; and suspending or reactivating a studio."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from studioloop.analytics import platform
from studioloop.core.money import format_money
from studioloop.db.session import DbSession
from studioloop.tenants import service as tenants_service
from studioloop.tenants.schemas import TenantUpdate
from studioloop.web.admin import operator
from studioloop.web.csrf import CSRF_FIELD, check_csrf
from studioloop.web.routes import render

router = APIRouter(include_in_schema=False)
STATUSES = ("active", "trial", "suspended", "cancelled")


@router.get("/admin/platform", response_class=HTMLResponse)
async def console(request: Request, session: DbSession, changed: str = "") -> Response:
    user, refused = await operator(request, session)
    if refused is not None:
        return refused
    figures = await platform.overview(session, datetime.now(UTC) - timedelta(days=30))
    context = {
        "user": user,
        "figures": figures,
        "statuses": STATUSES,
        "money": format_money,
        "changed": changed[:100],
    }
    return render(request, "admin/platform.html", context)


@router.post("/admin/platform/tenants/{tenant_id}/status")
async def change_status(
    request: Request,
    session: DbSession,
    tenant_id: uuid.UUID,
    status: Annotated[str, Form()],
    csrf: Annotated[str | None, Form(alias=CSRF_FIELD)] = None,
) -> Response:
    check_csrf(request, csrf)
    _user, refused = await operator(request, session)
    if refused is not None:
        return refused
    tenant = await tenants_service.get_tenant(session, tenant_id)
    if status in STATUSES:
        update = TenantUpdate.model_validate({"status": status})
        await tenants_service.update_tenant(session, tenant, update, by_platform_owner=True)
    return RedirectResponse(f"/admin/platform?changed={tenant.slug}", status_code=303)
