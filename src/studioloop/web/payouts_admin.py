"""Payouts and payment connections for the studio's admins: what the platform owes the
studio and its latest movements, how members pay (Stripe Connect, Yoco keys, the sandbox),
Stripe's onboarding link, and sending a payout now (owners).

Every decision is the payments domain's (`payouts`, `stripe_connect`, `credentials`); the
page reads the state the studio's settings hold and asks Stripe only when told to.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from studioloop.accounts.models import User
from studioloop.core.money import format_money
from studioloop.db.session import DbSession
from studioloop.payments import credentials, payouts, service as payments, stripe_connect
from studioloop.tenants import service as tenants_service
from studioloop.tenants.cache import TenantRef
from studioloop.tenants.dependencies import CurrentTenant
from studioloop.web.forms import attempt
from studioloop.web.owner_pages import admin_form, admin_of
from studioloop.web.routes import render
from studioloop.web.studio_pages import studio_context

router = APIRouter(include_in_schema=False)
ENTRIES = 50
NOTICES = {
    "paid": "Payout sent to your Stripe account.",
    "checked": "Stripe's answer is shown below.",
}


async def _page(
    request: Request,
    session: DbSession,
    tenant: TenantRef,
    user: User,
    *,
    error: str | None = None,
    notice: str | None = None,
    checked: stripe_connect.ConnectState | None = None,
    status_code: int = 200,
) -> Response:
    settings = await tenants_service.settings_of(session, tenant.id)
    account = await payouts.account_of(session, tenant.id)
    currency = account.currency if account else tenant.currency
    connected = settings.get("stripe_account_id")
    pending = settings.get("stripe_account_pending")
    stripe = {
        "status": "connected" if connected else ("pending" if pending else "none"),
        "account": connected or pending,
    }
    context: dict[str, Any] = {
        **await studio_context(session, tenant),
        "user": user,
        "is_owner": request.state.staff_role == "owner",
        "balance": format_money(account.balance if account else 0, currency),
        "owed": (account.balance if account else 0) > 0,
        "entries": [
            (entry, format_money(entry.amount, currency))
            for entry in await payouts.entries(session, ENTRIES)
        ],
        "provider": payments.provider_for(settings),
        "keys": await credentials.listed(session),
        "stripe": stripe,
        "checked": checked,
        "error": error,
        "notice": notice,
    }
    return render(request, "owner/payouts.html", context, status_code=status_code)


@router.get("/s/{slug}/admin/payouts", response_class=HTMLResponse)
async def payouts_page(request: Request, tenant: CurrentTenant, session: DbSession) -> Response:
    user, refused = await admin_of(request, session, tenant)
    if refused is not None or user is None:
        return refused or Response(status_code=401)
    notice = NOTICES.get(request.query_params.get("done", ""))
    return await _page(request, session, tenant, user, notice=notice)


async def _owner(
    request: Request, session: DbSession, tenant: TenantRef
) -> tuple[User | None, Response | None]:
    _form, user, refused = await admin_form(request, session, tenant)
    if refused is None and user is not None and request.state.staff_role != "owner":
        refused = await _page(
            request,
            session,
            tenant,
            user,
            error="Only the studio's owner can do that.",
            status_code=403,
        )
    return user, refused


@router.post("/s/{slug}/admin/payouts/stripe/onboarding", response_class=HTMLResponse)
async def stripe_onboarding(
    request: Request, tenant: CurrentTenant, session: DbSession
) -> Response:
    """Off to Stripe's hosted onboarding (a fresh link each time: they expire)."""
    user, refused = await _owner(request, session, tenant)
    if refused is not None or user is None:
        return refused or Response(status_code=401)
    base = str(request.base_url).rstrip("/")
    state, problem = await attempt(
        session,
        lambda: stripe_connect.start_onboarding(
            session, request.app.state.settings, tenant.id, base
        ),
    )
    if problem is not None or state is None or not state.onboarding_url:
        message = problem.message if problem else "Stripe gave no onboarding link; try again."
        return await _page(request, session, tenant, user, error=message, status_code=409)
    return RedirectResponse(state.onboarding_url, status_code=303)


@router.post("/s/{slug}/admin/payouts/stripe/check", response_class=HTMLResponse)
async def stripe_check(request: Request, tenant: CurrentTenant, session: DbSession) -> Response:
    """Ask Stripe where onboarding stands (an accepted account is connected from now)."""
    _form, user, refused = await admin_form(request, session, tenant)
    if refused is not None or user is None:
        return refused or Response(status_code=401)
    state, problem = await attempt(
        session, lambda: stripe_connect.refresh(session, request.app.state.settings, tenant.id)
    )
    if problem is not None or state is None:
        message = problem.message if problem else "Stripe did not answer; try again."
        return await _page(request, session, tenant, user, error=message, status_code=409)
    return await _page(request, session, tenant, user, notice=NOTICES["checked"], checked=state)


@router.post("/s/{slug}/admin/payouts/send", response_class=HTMLResponse)
async def send_payout(request: Request, tenant: CurrentTenant, session: DbSession) -> Response:
    """Send the whole balance to the connected Stripe account now (owners)."""
    user, refused = await _owner(request, session, tenant)
    if refused is not None or user is None:
        return refused or Response(status_code=401)
    _entry, problem = await attempt(
        session, lambda: payouts.pay_out(session, request.app.state.settings, tenant.id)
    )
    if problem is not None:
        return await _page(request, session, tenant, user, error=problem.message, status_code=409)
    return RedirectResponse(f"/s/{tenant.slug}/admin/payouts?done=paid", status_code=303)
