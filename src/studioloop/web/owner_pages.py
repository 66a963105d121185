"""The owner's and admins' pages: the dashboard, and the members' message history."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from starlette.datastructures import FormData

from studioloop.accounts.members import membership_of
from studioloop.accounts.models import User
from studioloop.analytics import service as analytics
from studioloop.core.errors import NotFound
from studioloop.core.money import format_money
from studioloop.db.session import DbSession
from studioloop.notifications import manage as notification_history
from studioloop.tenants.cache import TenantRef
from studioloop.tenants.dependencies import CurrentTenant
from studioloop.web.charts import bar_chart
from studioloop.web.csrf import CSRF_FIELD, check_csrf
from studioloop.web.routes import render
from studioloop.web.staff_access import staff_of
from studioloop.web.studio_pages import studio_context

router = APIRouter(include_in_schema=False)


async def admin_of(
    request: Request, session: DbSession, tenant: TenantRef, minimum: str = "admin"
) -> tuple[User | None, Response | None]:
    """The studio's admin (or `minimum`) signed in, or the page to answer with instead."""
    return await staff_of(request, session, tenant, minimum)


async def admin_form(
    request: Request, session: DbSession, tenant: TenantRef
) -> tuple[FormData, User | None, Response | None]:
    """A form posted to an admin page: its fields, once the CSRF token and the admin are
    checked (user, or the page to answer with instead)."""
    form = await request.form()
    check_csrf(request, str(form.get(CSRF_FIELD) or ""))
    user, refused = await admin_of(request, session, tenant)
    return form, user, refused


@router.get("/s/{slug}/admin", response_class=HTMLResponse)
async def dashboard(request: Request, tenant: CurrentTenant, session: DbSession) -> Response:
    user, refused = await admin_of(request, session, tenant)
    if refused is not None or user is None:
        return refused or Response(status_code=401)
    figures = await analytics.dashboard(session, tenant.id, tenant.timezone, datetime.now(UTC))
    places = bar_chart(
        "Places booked in the next 7 days",
        [(day.strftime("%a"), booked, str(booked)) for day, booked, _ in figures.daily],
        maximum=max((capacity for _, _, capacity in figures.daily), default=0),
    )
    revenue = bar_chart(
        f"Revenue per week, {tenant.currency}",
        [(week.strftime("%d/%m"), net, str(net // 100)) for week, net in figures.revenue],
    )
    context = {
        **await studio_context(session, tenant),
        "user": user,
        "figures": figures,
        "places_chart": places,
        "revenue_chart": revenue,
        "week_revenue": format_money(figures.revenue[-1][1], tenant.currency),
    }
    return render(request, "owner/dashboard.html", context)


@router.get("/s/{slug}/admin/members/{user_id}/messages", response_class=HTMLResponse)
async def member_messages(
    request: Request, tenant: CurrentTenant, session: DbSession, user_id: uuid.UUID
) -> Response:
    """Every message the studio sent to a member, with how it went (staff)."""
    user, refused = await admin_of(request, session, tenant, minimum="instructor")
    if refused is not None or user is None:
        return refused or Response(status_code=401)
    member = await session.get(User, user_id)
    if member is None or await membership_of(session, tenant.id, user_id) is None:
        raise NotFound("This person is not one of the studio's people.")
    messages, _ = await notification_history.history(
        session, user_id=user_id, tenant_id=tenant.id, cursor=None, limit=100
    )
    context = {
        **await studio_context(session, tenant),
        "user": user,
        "member": member,
        "messages": messages,
    }
    return render(request, "owner/messages.html", context)
