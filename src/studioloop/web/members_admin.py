"""Admins find and invite the studio's people from the web, filter them (active, lapsed,
with a membership, low on credits) and export the filtered list as CSV. One person's page
is web/member_admin.py.

Each filter asks the domain that knows (booking: who booked lately; billing: whose
membership runs; credits: who holds more than a few credits); accounts lists the people.
"""

from __future__ import annotations

import csv
import io
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from studioloop.accounts import invitations, members
from studioloop.accounts.models import User
from studioloop.accounts.schemas import InviteRequest, MemberOut
from studioloop.billing import service as billing
from studioloop.booking import reading as booking_reading
from studioloop.core.errors import AppError
from studioloop.core.pagination import cursor_uuid, decode_cursor, encode_cursor
from studioloop.credits import service as credits
from studioloop.db.session import DbSession
from studioloop.tenants.cache import TenantRef
from studioloop.tenants.dependencies import CurrentTenant
from studioloop.web.forms import attempt, parse
from studioloop.web.owner_pages import admin_form, admin_of
from studioloop.web.routes import local_time, render
from studioloop.web.studio_pages import studio_context

router = APIRouter(include_in_schema=False)
ROLES = ("member", "instructor", "admin", "owner")
PAGE = 50
# "Lapsed": no class booked that started in this many days, and none coming.
LAPSED_DAYS = 30


@dataclass(frozen=True)
class Filters:
    """What the list is narrowed to: a search and the four tick boxes."""

    q: str = ""
    active: bool = False
    lapsed: bool = False
    plan: bool = False
    low: bool = False

    def query(self, **more: str) -> str:
        kept = {k: "1" for k in TICKS if getattr(self, k)}
        if self.q:
            kept["q"] = self.q
        return urlencode({**kept, **more})


TICKS = ("active", "lapsed", "plan", "low")
TICK_WORDS = {
    "active": "Active",
    "lapsed": f"Lapsed (no class in {LAPSED_DAYS} days)",
    "plan": "Has a membership",
    "low": f"Credits low ({credits.LOW_BALANCE} or fewer)",
}


def read_filters(request: Request) -> tuple[Filters, str | None]:
    """The filters from the address; a tick box is on with `1`, off when absent or empty."""
    params = request.query_params
    values = {k: params.get(k, "") for k in TICKS}
    if any(v not in ("", "1") for v in values.values()):
        return Filters(q=params.get("q", "")[:100]), "Unknown filter: tick the boxes to filter."
    return Filters(
        q=params.get("q", "").strip()[:100], **{k: v == "1" for k, v in values.items()}
    ), None


async def filtered(
    session: DbSession,
    tenant: TenantRef,
    filters: Filters,
    *,
    limit: int | None,
    after: tuple[str, uuid.UUID] | None = None,
) -> list[MemberOut]:
    only: set[uuid.UUID] | None = None
    excluding: set[uuid.UUID] = set()
    if filters.lapsed:
        since = datetime.now(UTC) - timedelta(days=LAPSED_DAYS)
        excluding |= await booking_reading.booked_since(session, since)
    if filters.plan:
        only = await billing.members_with_a_plan(session)
    if filters.low:
        excluding |= await credits.balance_above(session, credits.LOW_BALANCE)
    return await members.list_members(
        session,
        tenant.id,
        role=None,
        status="active" if filters.active else None,
        q=filters.q or None,
        limit=limit,
        offset_after=after,
        only=only,
        excluding=excluding,
    )


async def _list_page(
    request: Request,
    session: DbSession,
    tenant: TenantRef,
    user: User,
    *,
    filters: Filters | None = None,
    cursor: str | None = None,
    form: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    notice: str | None = None,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    filters = filters or Filters()
    after = None
    if cursor:
        try:
            email, raw_id = decode_cursor(cursor, 2)
            after = (str(email), cursor_uuid(raw_id))
        except AppError:
            error, status_code = "That page of people is not there any more.", 400
    people = await filtered(session, tenant, filters, limit=PAGE + 1, after=after)
    more = None
    if len(people) > PAGE:
        people = people[:PAGE]
        more = filters.query(
            cursor=encode_cursor([people[-1].email, str(people[-1].membership_id)])
        )
    context = {
        **await studio_context(session, tenant),
        "user": user,
        "people": people,
        "more": more,
        "filters": filters,
        "ticks": TICK_WORDS,
        "export": filters.query(),
        "error": error,
        "roles": ROLES,
        "form": form or {"role": "member"},
        "errors": errors or {},
        "notice": notice,
    }
    return render(request, "owner/members.html", context, status_code=status_code)


@router.get("/s/{slug}/admin/members", response_class=HTMLResponse)
async def members_page(
    request: Request,
    tenant: CurrentTenant,
    session: DbSession,
    invited: str = Query(default="", max_length=320),
    cursor: str | None = Query(default=None, max_length=500),
) -> Response:
    user, refused = await admin_of(request, session, tenant)
    if refused is not None or user is None:
        return refused or Response(status_code=401)
    notice = f"Invitation sent to {invited}." if invited else None
    filters, problem = read_filters(request)
    return await _list_page(
        request,
        session,
        tenant,
        user,
        filters=filters,
        cursor=cursor,
        notice=notice,
        error=problem,
        status_code=400 if problem else 200,
    )


CSV_COLUMNS = ("first_name", "last_name", "email", "phone", "role", "status", "joined", "credits")


@router.get("/s/{slug}/admin/members.csv", response_model=None)
async def members_csv(request: Request, tenant: CurrentTenant, session: DbSession) -> Response:
    """Everyone the filters on the page show (all pages of them), as a spreadsheet."""
    user, refused = await admin_of(request, session, tenant)
    if refused is not None or user is None:
        return refused or Response(status_code=401)
    filters, problem = read_filters(request)
    if problem:
        return await _list_page(
            request, session, tenant, user, filters=filters, error=problem, status_code=400
        )
    people = await filtered(session, tenant, filters, limit=None)
    balances = await credits.balances(session)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    for p in people:
        joined = local_time(p.joined_at, tenant.timezone, "%Y-%m-%d") if p.joined_at else ""
        writer.writerow(
            [
                *(safe_cell(v or "") for v in (p.first_name, p.last_name, p.email, p.phone)),
                p.role,
                p.status,
                joined,
                balances.get(p.user_id, 0) if p.user_id else "",
            ]
        )
    return Response(
        out.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{tenant.slug}-people.csv"'},
    )


def safe_cell(value: str) -> str:
    """A cell a spreadsheet will not run as a formula (=, +, -, @ at the start)."""
    return f"'{value}" if value[:1] in ("=", "+", "-", "@") else value


@router.post("/s/{slug}/admin/members/invite", response_class=HTMLResponse)
async def invite(request: Request, tenant: CurrentTenant, session: DbSession) -> Response:
    form, user, refused = await admin_form(request, session, tenant)
    if refused is not None or user is None:
        return refused or Response(status_code=401)
    fields = {
        k: str(form.get(k) or "").strip()
        for k in (
            "email",
            "first_name",
            "last_name",
            "phone",
            "role",
        )
    }
    data: dict[str, Any] = {k: v for k, v in fields.items() if v}
    parsed, errors = parse(InviteRequest, data)
    if parsed is not None:
        actor = await members.membership_of(session, tenant.id, user.id)
        assert actor is not None
        settings = request.app.state.settings
        sent, problem = await attempt(
            session, lambda: invitations.invite_member(session, settings, tenant.id, actor, parsed)
        )
        if problem is None and sent is not None:
            target = f"/s/{tenant.slug}/admin/members?invited={parsed.email}"
            return RedirectResponse(target, status_code=303)
        errors["form"] = problem.message if problem else "The invitation was not sent."
    return await _list_page(
        request, session, tenant, user, form=fields, errors=errors, status_code=400
    )
