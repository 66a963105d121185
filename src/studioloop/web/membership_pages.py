"""A member's membership at a studio: what they have and what it costs, changing plan
(an upgrade is paid now, prorated; a downgrade waits for the renewal), pausing,
cancelling at the period's end and taking that back, and what was paid.

Every decision is billing's (`billing.service`): these pages ask it, say what it
answered, and act only on the signed-in member's own membership at the studio in the URL
(row-level security keeps every other studio's plans and memberships out of reach).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from studioloop.accounts.models import User
from studioloop.billing import service as billing
from studioloop.billing.models import MembershipPlan, Subscription
from studioloop.core.errors import AppError
from studioloop.core.money import format_money
from studioloop.credits import service as credits
from studioloop.db.session import DbSession
from studioloop.tenants.cache import TenantRef
from studioloop.tenants.dependencies import CurrentTenant
from studioloop.usage import service as usage
from studioloop.usage.report import figure
from studioloop.web.csrf import CSRF_FIELD, check_csrf
from studioloop.web.forms import attempt
from studioloop.web.member_pages import member_or_login
from studioloop.web.routes import render
from studioloop.web.studio_pages import studio_context

router = APIRouter(include_in_schema=False)
SHOWN = ("incomplete", "active", "past_due", "suspended")
DONE = {
    "changed": "Done: your new plan starts at your next renewal.",
    "kept": "Done: your plan stays as it is.",
    "cancelled": "Your membership is set to end; nothing more will be charged.",
    "resumed": "Your membership renews again as before.",
    "paused": "Your pause is planned; your renewal moves on by as long.",
}
STATUS_WORDS = {
    "incomplete": "Waiting for your first payment",
    "active": "Active",
    "past_due": "Renewal unpaid (still active while it is retried)",
    "suspended": "Suspended: the renewal was not paid",
    "canceled": "Ended",
}


@dataclass
class Mine:
    """The member's membership at the studio as pages show it."""

    subscription: Subscription
    plan: MembershipPlan
    next_plan: MembershipPlan | None

    @property
    def current(self) -> bool:
        """It is theirs now (paid, or a renewal being retried): change it, don't join."""
        return self.subscription.status in ("active", "past_due")


async def membership_of(session: DbSession, user: User | None) -> Mine | None:
    """The member's live (or most recent, not yet ended) membership at the studio."""
    if user is None:
        return None
    found = await billing.list_subscriptions(session, user_id=user.id, status=None)
    subscription = next((s for s in found if s.status in SHOWN), None)
    if subscription is None:
        return None
    plan = await billing.get_plan(session, subscription.plan_id)
    next_plan = None
    if subscription.next_plan_id is not None:
        next_plan = await billing.get_plan(session, subscription.next_plan_id)
    return Mine(subscription, plan, next_plan)


def local_day(moment: datetime | None, zone: str) -> str:
    """A date on the studio's clock, as the pages write it: "07 Jan 2027"."""
    return moment.astimezone(ZoneInfo(zone)).strftime("%d %b %Y") if moment else ""


def in_words(problem: AppError) -> str:
    """A refusal as the member reads it: a field's own message where there is one."""
    fields = problem.details.get("fields") if isinstance(problem.details, dict) else None
    if fields:
        message = str(fields[0].get("message") or problem.message)
        return message[:1].upper() + message[1:].rstrip(".") + "."
    return problem.message


def _plan_id(value: object) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value or "").strip())
    except ValueError:
        return None


NO_SUCH_PLAN = "Choose one of this studio's plans from the list."
NO_MEMBERSHIP = "You have no membership at this studio to change."


async def _page(
    request: Request,
    tenant: TenantRef,
    session: DbSession,
    user: User,
    *,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    shown = await studio_context(session, tenant)
    zone = shown["studio"].timezone
    mine = await membership_of(session, user)
    context: dict[str, Any] = {**shown, "user": user, "mine": mine, "error": error}
    context["done"] = DONE.get(request.query_params.get("done", ""))
    # A creator's tiers cap metered use: the member's bars, when the studio meters anything.
    context["usage"] = await usage.member_usage(session, zone, user.id)
    context["figure"] = figure
    context["money"] = lambda amount: format_money(amount, tenant.currency)
    context["local_day"] = lambda moment: local_day(moment, zone)
    if mine is not None:
        sub = mine.subscription
        renewing = mine.next_plan or mine.plan
        _, lots, _ = await credits.statement(session, tenant.id, user.id)
        now = datetime.now(UTC)
        granted = [
            lot
            for lot in lots
            if lot.source == "grant" and (lot.expires_at is None or lot.expires_at > now)
        ]
        payments = await billing.payments_of(session, sub)
        open_checkout = next(
            (p.checkout_url for p in payments if p.status == "pending" and p.checkout_url), None
        )
        context.update(
            status=STATUS_WORDS.get(sub.status, sub.status),
            price=format_money(mine.plan.price, tenant.currency),
            renewal_price=format_money(renewing.price, tenant.currency),
            period_start=local_day(sub.current_period_start, zone),
            period_end=local_day(sub.current_period_end, zone),
            paused_from=sub.paused_from.strftime("%d %b %Y") if sub.paused_from else None,
            paused_until=sub.paused_until.strftime("%d %b %Y") if sub.paused_until else None,
            pause_planned=bool(sub.paused_until and sub.paused_until > now),
            credits_left=sum(lot.remaining for lot in granted)
            if mine.plan.credits_per_period
            else None,
            open_checkout=open_checkout,
            history=[
                {
                    "when": local_day(p.created_at, zone),
                    "what": p.description,
                    "amount": format_money(p.amount, p.currency),
                    "status": p.status.replace("_", " "),
                    "refunded": format_money(p.amount_refunded, p.currency)
                    if p.amount_refunded
                    else None,
                }
                for p in payments
            ],
            today=now.date().isoformat(),  # billing takes pause days in UTC
            plans=[
                (p, format_money(p.price, tenant.currency))
                for p in await billing.list_plans(session, include_inactive=False)
                if p.id != mine.plan.id  # billing says which it may switch to
            ],
        )
    return render(request, "studio/membership.html", context, status_code=status_code)


@router.get("/s/{slug}/membership", response_class=HTMLResponse)
async def my_membership(request: Request, tenant: CurrentTenant, session: DbSession) -> Response:
    user, refused = await member_or_login(request, session)
    if refused is not None or user is None:
        return refused or Response(status_code=401)
    return await _page(request, tenant, session, user)


async def _change_page(
    request: Request,
    tenant: TenantRef,
    session: DbSession,
    user: User,
    raw_plan: object,
    *,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    """What switching to the plan would do, before it is done; or why it cannot be."""
    mine = await membership_of(session, user)
    plan_id = _plan_id(raw_plan)
    if mine is None or not mine.current:
        return await _page(request, tenant, session, user, error=NO_MEMBERSHIP, status_code=409)
    if plan_id is None:
        return await _page(request, tenant, session, user, error=NO_SUCH_PLAN, status_code=404)
    change, problem = await attempt(
        session, lambda: billing.quote_change(session, mine.subscription, plan_id)
    )
    if problem is not None or change is None:
        message = NO_SUCH_PLAN if problem and problem.status_code == 404 else None
        code = problem.status_code if problem else 409
        return await _page(
            request,
            tenant,
            session,
            user,
            error=message or (in_words(problem) if problem else NO_MEMBERSHIP),
            status_code=code,
        )
    shown = await studio_context(session, tenant)
    zone = shown["studio"].timezone
    context = {
        **shown,
        "user": user,
        "mine": mine,
        "change": change,
        "error": error,
        "due": format_money(change.due, tenant.currency),
        "new_price": format_money(change.plan.price, tenant.currency),
        "current_price": format_money(change.current.price, tenant.currency),
        "period_end": local_day(mine.subscription.current_period_end, zone),
    }
    return render(request, "studio/membership_change.html", context, status_code=status_code)


@router.get("/s/{slug}/membership/change", response_class=HTMLResponse)
async def change_page(
    request: Request, tenant: CurrentTenant, session: DbSession, plan: str = ""
) -> Response:
    user, refused = await member_or_login(request, session)
    if refused is not None or user is None:
        return refused or Response(status_code=401)
    return await _change_page(request, tenant, session, user, plan)


async def _posted(request: Request) -> dict[str, str]:
    form = await request.form()
    check_csrf(request, str(form.get(CSRF_FIELD) or ""))
    return {name: str(value) for name, value in form.items()}


@router.post("/s/{slug}/membership/change", response_class=HTMLResponse)
async def change_submit(request: Request, tenant: CurrentTenant, session: DbSession) -> Response:
    fields = await _posted(request)
    user, refused = await member_or_login(request, session)
    if refused is not None or user is None:
        return refused or Response(status_code=401)
    mine = await membership_of(session, user)
    plan_id = _plan_id(fields.get("plan_id"))
    if mine is None or plan_id is None:
        return await _change_page(request, tenant, session, user, fields.get("plan_id"))
    settings = request.app.state.settings
    base = str(request.base_url).rstrip("/")
    subscription = await billing.get_subscription(session, mine.subscription.id, lock=True)
    changed, problem = await attempt(
        session, lambda: billing.change_plan(session, settings, subscription, plan_id, base)
    )
    if problem is not None or changed is None:
        return await _change_page(
            request,
            tenant,
            session,
            user,
            plan_id,
            error=in_words(problem) if problem else None,
            status_code=problem.status_code if problem else 409,
        )
    payment, _due = changed
    if payment is not None:
        return RedirectResponse(payment.checkout_url or f"/s/{tenant.slug}/membership", 303)
    done = "changed" if subscription.next_plan_id else "kept"
    return RedirectResponse(f"/s/{tenant.slug}/membership?done={done}", status_code=303)


@router.get("/s/{slug}/membership/cancel", response_class=HTMLResponse)
async def cancel_page(request: Request, tenant: CurrentTenant, session: DbSession) -> Response:
    user, refused = await member_or_login(request, session)
    if refused is not None or user is None:
        return refused or Response(status_code=401)
    mine = await membership_of(session, user)
    if mine is None or not mine.current:
        return await _page(request, tenant, session, user, error=NO_MEMBERSHIP, status_code=409)
    shown = await studio_context(session, tenant)
    context = {
        **shown,
        "user": user,
        "mine": mine,
        "period_end": local_day(mine.subscription.current_period_end, shown["studio"].timezone),
    }
    return render(request, "studio/membership_cancel.html", context)


async def _act(
    request: Request,
    tenant: TenantRef,
    session: DbSession,
    action: str,
    fields: dict[str, str],
) -> Response:
    """Cancel, take the cancellation back, or pause: billing decides; a refusal is shown
    on the membership page and changes nothing."""
    user, refused = await member_or_login(request, session)
    if refused is not None or user is None:
        return refused or Response(status_code=401)
    mine = await membership_of(session, user)
    if mine is None:
        return await _page(request, tenant, session, user, error=NO_MEMBERSHIP, status_code=409)
    subscription = await billing.get_subscription(session, mine.subscription.id, lock=True)
    problem: AppError | None
    if action == "cancel":
        _, problem = await attempt(
            session, lambda: billing.cancel(session, subscription, immediately=False)
        )
    elif action == "resume":
        _, problem = await attempt(session, lambda: billing.keep(session, subscription))
    else:
        try:
            first_day = date.fromisoformat(fields.get("start", "").strip())
            back_on = date.fromisoformat(fields.get("end", "").strip())
        except ValueError:
            return await _page(
                request,
                tenant,
                session,
                user,
                error="Enter the first day of the pause and the day you are back.",
                status_code=422,
            )
        _, problem = await attempt(
            session, lambda: billing.pause(session, subscription, first_day, back_on)
        )
    if problem is not None:
        return await _page(
            request, tenant, session, user, error=in_words(problem), status_code=problem.status_code
        )
    done = {"cancel": "cancelled", "resume": "resumed", "pause": "paused"}[action]
    return RedirectResponse(f"/s/{tenant.slug}/membership?done={done}", status_code=303)


@router.post("/s/{slug}/membership/cancel", response_class=HTMLResponse)
async def cancel_submit(request: Request, tenant: CurrentTenant, session: DbSession) -> Response:
    return await _act(request, tenant, session, "cancel", await _posted(request))


@router.post("/s/{slug}/membership/resume", response_class=HTMLResponse)
async def resume_submit(request: Request, tenant: CurrentTenant, session: DbSession) -> Response:
    return await _act(request, tenant, session, "resume", await _posted(request))


@router.post("/s/{slug}/membership/pause", response_class=HTMLResponse)
async def pause_submit(request: Request, tenant: CurrentTenant, session: DbSession) -> Response:
    return await _act(request, tenant, session, "pause", await _posted(request))
