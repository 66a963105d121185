"""A studio's settings and look, from the web: name, colour, logo, policies, messages."""

from __future__ import annotations

import re
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.datastructures import UploadFile

from studioloop.accounts.models import User
from studioloop.chat import service as chat
from studioloop.db.session import DbSession
from studioloop.notifications import preferences as notification_defaults
from studioloop.tenants import logo, service as tenants_service
from studioloop.tenants.cache import TenantRef
from studioloop.tenants.dependencies import CurrentTenant
from studioloop.tenants.schemas import TenantUpdate
from studioloop.web.csrf import CSRF_FIELD, check_csrf
from studioloop.web.forms import attempt, parse
from studioloop.web.owner_pages import admin_form, admin_of
from studioloop.web.routes import render
from studioloop.web.studio_content import owner_content
from studioloop.web.studio_pages import studio_context

router = APIRouter(include_in_schema=False)
COLOUR = re.compile(r"^#[0-9a-fA-F]{6}$")
REMINDER_CHOICES = (48, 24, 12, 2, 1)
CHANNEL_NAMES = {"push": "Push", "whatsapp": "WhatsApp", "email": "Email", "sms": "SMS"}


async def settings_response(
    request: Request,
    session: DbSession,
    tenant: TenantRef,
    user: User,
    *,
    errors: dict[str, str] | None = None,
    saved: bool = False,
    status_code: int = 200,
    typed: dict[str, Any] | None = None,
) -> Response:
    """The Settings page; after a refused form, its errors and what was typed (`typed`)."""
    context = await studio_context(session, tenant)
    context.update(await owner_content(session, tenant, context["studio"]))
    settings = context["studio"].settings or {}
    context.update(
        user=user,
        errors=errors or {},
        saved=saved,
        policy=settings.get("late_cancel_policy", "forfeit"),
        window=settings.get("cancellation_window_hours", 12),
        reminder_hours=notification_defaults.studio_reminder_hours(settings),
        channels=notification_defaults.studio_channels(settings),
        reminder_choices=REMINDER_CHOICES,
        channel_names=CHANNEL_NAMES,
        reply_times=chat.REPLY_TIMES,
        reply_time=settings.get("chat_reply_time", chat.DEFAULT_REPLY_TIME),
        # The one tag a studio pastes into its own website for the chat button.
        embed_snippet=(
            f'<script src="{request.app.state.settings.base_url.rstrip("/")}/widget/chat.js" '
            f'data-studio="{tenant.slug}" async></script>'
        ),
        typed=typed,
    )
    return render(request, "owner/settings.html", context, status_code=status_code)


@router.get("/s/{slug}/admin/settings", response_class=HTMLResponse)
async def settings_page(
    request: Request, tenant: CurrentTenant, session: DbSession, saved: int = 0
) -> Response:
    user, refused = await admin_of(request, session, tenant)
    if refused is not None or user is None:
        return refused or Response(status_code=401)
    return await settings_response(request, session, tenant, user, saved=bool(saved))


@router.post("/s/{slug}/admin/settings", response_class=HTMLResponse)
async def save_settings(request: Request, tenant: CurrentTenant, session: DbSession) -> Response:
    form, user, refused = await admin_form(request, session, tenant)
    if refused is not None or user is None:
        return refused or Response(status_code=401)
    errors: dict[str, str] = {}
    colour = str(form.get("brand_color") or "").strip()
    if colour and not COLOUR.match(colour):
        errors["brand_color"] = "Use a colour such as #0f766e."
    window = str(form.get("cancellation_window_hours") or "").strip()
    if not window.isdigit() or int(window) > 720:
        errors["cancellation_window_hours"] = "Hours between 0 and 720."
    policy = str(form.get("late_cancel_policy") or "forfeit")
    channels = [c for c in CHANNEL_NAMES if form.get(f"channel_{c}")]
    if not channels:
        errors["channels"] = "Keep at least one way to reach members."
    reply_time = str(form.get("chat_reply_time") or "").strip()
    if "chat_reply_time" in form and reply_time not in chat.REPLY_TIMES:
        errors["chat_reply_time"] = "Choose one from the list."
    update, field_errors = parse(TenantUpdate, {"name": str(form.get("name") or "").strip()})
    errors.update(field_errors)
    if errors or update is None:
        return await settings_response(
            request, session, tenant, user, errors=errors, status_code=400
        )
    row = await tenants_service.get_tenant(session, tenant.id)
    await tenants_service.update_tenant(session, row, update, by_platform_owner=False)
    changes: dict[str, Any] = {
        "brand_color": colour or None,
        "late_cancel_policy": policy if policy in ("forfeit", "refund") else "forfeit",
        "cancellation_window_hours": int(window),
        "reminder_hours": sorted(
            {int(str(h)) for h in form.getlist("reminder_hours") if str(h).isdigit()}, reverse=True
        ),
        "notification_channels": channels,
    }
    if reply_time:  # a form without the field (an older page) leaves it as it was
        changes["chat_reply_time"] = reply_time
    await tenants_service.merge_settings(session, tenant.id, changes)
    return RedirectResponse(f"/s/{tenant.slug}/admin/settings?saved=1", status_code=303)


@router.post("/s/{slug}/admin/settings/logo", response_class=HTMLResponse)
async def upload_logo(request: Request, tenant: CurrentTenant, session: DbSession) -> Response:
    form = await request.form(max_part_size=logo.MAX_BYTES + 1024)
    check_csrf(request, str(form.get(CSRF_FIELD) or ""))
    user, refused = await admin_of(request, session, tenant)
    if refused is not None or user is None:
        return refused or Response(status_code=401)
    upload = form.get("logo")
    settings = request.app.state.settings
    if form.get("remove"):
        await logo.remove(session, settings, tenant.id)
        return RedirectResponse(f"/s/{tenant.slug}/admin/settings?saved=1", status_code=303)
    if not isinstance(upload, UploadFile):
        errors = {"logo": "Choose a PNG, JPEG or WebP image."}
        return await settings_response(
            request, session, tenant, user, errors=errors, status_code=400
        )
    data = await upload.read(logo.MAX_BYTES + 1)
    _done, problem = await attempt(session, lambda: logo.save(session, settings, tenant.id, data))
    if problem is not None:
        errors = {"logo": "That file is not an image we can use (PNG, JPEG or WebP up to 1 MB)."}
        return await settings_response(
            request, session, tenant, user, errors=errors, status_code=400
        )
    return RedirectResponse(f"/s/{tenant.slug}/admin/settings?saved=1", status_code=303)
