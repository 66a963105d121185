"""The studio's payments for its admins: find them (status, purpose, dates on the studio's
clock, member), open a receipt, and refund all or part of one.

A refund is the payments service's (`refunds.refund`: it asks the provider, takes back
credits in proportion and keeps the payout ledger); this page only reads the amount typed
and shows what the service answered.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from studioloop.accounts import members
from studioloop.accounts.models import User
from studioloop.core.money import format_money
from studioloop.db.session import DbSession
from studioloop.payments import receipts, refunds, service as payments
from studioloop.payments.models import PAYMENT_PURPOSES, PAYMENT_STATUSES, Payment
from studioloop.tenants.cache import TenantRef
from studioloop.tenants.dependencies import CurrentTenant
from studioloop.web.forms import attempt
from studioloop.web.owner_pages import admin_form, admin_of
from studioloop.web.routes import render
from studioloop.web.studio_pages import studio_context
from studioloop.web.timetable_admin import AMOUNT_HINT, cents

router = APIRouter(include_in_schema=False)
PAGE = 50
FILTERS = ("status", "purpose", "from", "to", "member")
PURPOSE_WORDS = {
    "credit_pack": "credit pack",
    "class_booking": "class",
    "subscription": "membership",
    "subscription_upgrade": "membership upgrade",
}
REFUNDABLE = refunds.REFUNDABLE
NO_SUCH_PAYMENT = "That payment is not one of this studio's."


@dataclass
class Query:
    """The filters as typed, and what they mean once read."""

    typed: dict[str, str]
    status: str | None = None
    purpose: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    user_id: uuid.UUID | None = None


def _day(text: str) -> date | None:
    try:
        return date.fromisoformat(text)
    except ValueError:
        return None


async def _read(
    session: DbSession, tenant: TenantRef, typed: dict[str, str]
) -> tuple[Query, dict[str, str]]:
    """The filters, or a message beside each one that cannot be used."""
    query, errors = Query(typed), {}
    zone = ZoneInfo(tenant.timezone)
    if typed["status"]:
        if typed["status"] in PAYMENT_STATUSES:
            query.status = typed["status"]
        else:
            errors["status"] = "Choose a status from the list."
    if typed["purpose"]:
        if typed["purpose"] in PAYMENT_PURPOSES:
            query.purpose = typed["purpose"]
        else:
            errors["purpose"] = "Choose what it paid for from the list."
    first, last = _day(typed["from"]), _day(typed["to"])
    if typed["from"] and first is None:
        errors["from"] = "Enter a date."
    if typed["to"] and last is None:
        errors["to"] = "Enter a date."
    if first and last and last < first:
        errors["to"] = "The end comes before the start."
    if first:
        query.since = datetime.combine(first, time.min, zone).astimezone(UTC)
    if last:
        query.until = datetime.combine(last + timedelta(days=1), time.min, zone).astimezone(UTC)
    if typed["member"]:
        query.user_id, problem = await _member(session, tenant, typed["member"])
        if problem:
            errors["member"] = problem
    return query, errors


async def _member(
    session: DbSession, tenant: TenantRef, typed: str
) -> tuple[uuid.UUID | None, str | None]:
    """A member given by id (from their page) or by name, email or phone."""
    try:
        return uuid.UUID(typed), None
    except ValueError:
        pass
    found = await members.list_members(
        session, tenant.id, role=None, q=typed, limit=2, offset_after=None
    )
    people = [p for p in found if p.user_id is not None]
    if not people:
        return None, "Nobody here matches that name, email or phone."
    if len(people) > 1:
        return None, "More than one person matches: type their email."
    return people[0].user_id, None


def _typed(request: Request) -> dict[str, str]:
    return {name: request.query_params.get(name, "").strip()[:320] for name in FILTERS}


async def _page(
    request: Request,
    session: DbSession,
    tenant: TenantRef,
    user: User,
    *,
    typed: dict[str, str],
    cursor: str | None = None,
    error: str | None = None,
    notice: str | None = None,
    refund_errors: dict[str, dict[str, str]] | None = None,
    status_code: int = 200,
) -> Response:
    query, errors = await _read(session, tenant, typed)
    rows: list[Payment] = []
    more = None
    if not errors:
        listed, problem = await attempt(
            session,
            lambda: payments.list_payments(
                session,
                user_id=query.user_id,
                status=query.status,
                purpose=query.purpose,
                since=query.since,
                until=query.until,
                limit=PAGE,
                cursor=cursor,
            ),
        )
        if problem is not None or listed is None:
            error = "That page of payments is not there any more: start from the first."
            status_code = 400
        else:
            rows, more = listed
    elif status_code == 200:
        status_code = 400
    people = {
        p.user_id: p
        for p in await members.list_members(
            session,
            tenant.id,
            role=None,
            q=None,
            limit=None,
            offset_after=None,
            only={row.user_id for row in rows},
        )
    }
    with_receipts = await receipts.payments_with_receipts(session, [row.id for row in rows])
    kept = {k: v for k, v in typed.items() if v}
    context: dict[str, Any] = {
        **await studio_context(session, tenant),
        "user": user,
        "rows": [
            {
                "payment": row,
                "who": people.get(row.user_id),
                "amount": format_money(row.amount, row.currency),
                "refunded": format_money(row.amount_refunded, row.currency),
                "left": row.amount - row.amount_refunded,
                "left_text": "%.2f" % ((row.amount - row.amount_refunded) / 100),
                "refundable": row.status in REFUNDABLE and row.amount > row.amount_refunded,
                "receipt": row.id in with_receipts,
                "purpose": PURPOSE_WORDS.get(row.purpose, row.purpose),
            }
            for row in rows
        ],
        "more": f"?{urlencode({**kept, 'cursor': more})}" if more else None,
        "here": f"?{urlencode(kept)}" if kept else "",
        "typed": typed,
        "errors": errors,
        "statuses": PAYMENT_STATUSES,
        "purposes": PURPOSE_WORDS,
        "error": error,
        "notice": notice,
        "refund_errors": refund_errors or {},
    }
    return render(request, "owner/payments.html", context, status_code=status_code)


@router.get("/s/{slug}/admin/payments", response_class=HTMLResponse)
async def payments_page(request: Request, tenant: CurrentTenant, session: DbSession) -> Response:
    user, refused = await admin_of(request, session, tenant)
    if refused is not None or user is None:
        return refused or Response(status_code=401)
    cursor = request.query_params.get("cursor") or None
    notice = None
    if request.query_params.get("refunded"):
        notice = f"Refunded {request.query_params['refunded'][:40]}."
    return await _page(
        request, session, tenant, user, typed=_typed(request), cursor=cursor, notice=notice
    )


def _payment_id(raw: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(raw)
    except ValueError:
        return None


@router.post("/s/{slug}/admin/payments/{payment_id}/refund", response_class=HTMLResponse)
async def refund(
    request: Request, tenant: CurrentTenant, session: DbSession, payment_id: str
) -> Response:
    """Refund `amount` (typed like a price) of the payment, for `reason`."""
    form, user, refused = await admin_form(request, session, tenant)
    if refused is not None or user is None:
        return refused or Response(status_code=401)
    typed = _typed(request)
    ident = _payment_id(payment_id)
    if ident is None:
        return await _page(
            request, session, tenant, user, typed=typed, error=NO_SUCH_PAYMENT, status_code=404
        )
    amount_text = str(form.get("amount") or "").strip()
    reason = str(form.get("reason") or "").strip()
    errors: dict[str, str] = {}
    minor = cents(amount_text) if amount_text else None
    amount = int(minor) if minor is not None else 0
    if amount <= 0:
        errors["amount"] = AMOUNT_HINT if amount_text else "Enter the amount to refund."
    if len(reason) < 3 or len(reason) > 500:
        errors["reason"] = "Say why, in a few words (3 to 500 characters)."
    if not errors:
        done, problem = await attempt(
            session,
            lambda: refunds.refund(
                session,
                request.app.state.settings,
                ident,
                amount,
                reason=reason,
                actor_user_id=user.id,
            ),
        )
        if problem is None and done is not None:
            given = format_money(amount, done.payment.currency)
            kept = {k: v for k, v in typed.items() if v}
            target = f"/s/{tenant.slug}/admin/payments?{urlencode({**kept, 'refunded': given})}"
            return RedirectResponse(target, status_code=303)
        assert problem is not None
        if problem.code == "PAYMENT_NOT_FOUND":
            return await _page(
                request, session, tenant, user, typed=typed, error=NO_SUCH_PAYMENT, status_code=404
            )
        errors["form"] = problem.message
    return await _page(
        request,
        session,
        tenant,
        user,
        typed=typed,
        error=f"Nothing was refunded: {errors['form']}"
        if "form" in errors
        else "Nothing was refunded: see the payment below.",
        refund_errors={str(ident): {**errors, "amount_typed": amount_text, "reason_typed": reason}},
        status_code=400 if "form" not in errors else 409,
    )


@router.get("/s/{slug}/admin/payments/{payment_id}/receipt.pdf", response_model=None)
async def receipt_pdf(
    request: Request, tenant: CurrentTenant, session: DbSession, payment_id: str
) -> Response:
    """The payment's receipt as a PDF (a tax invoice when the studio charges VAT)."""
    user, refused = await admin_of(request, session, tenant)
    if refused is not None or user is None:
        return refused or Response(status_code=401)
    ident = _payment_id(payment_id)
    found, _problem = (
        (None, None)
        if ident is None
        else await attempt(session, lambda: payments.get_payment(session, ident))
    )
    receipt = await receipts.receipt_of(session, found) if found is not None else None
    if found is None or receipt is None:
        message = NO_SUCH_PAYMENT if found is None else "This payment has no receipt."
        return await _page(
            request, session, tenant, user, typed=_typed(request), error=message, status_code=404
        )
    pdf = await receipts.render_pdf(session, request.app.state.settings, found, receipt)
    name = f"receipt-{receipts.display_number(receipt.number)}.pdf"
    return Response(
        pdf,
        media_type="application/pdf",
        headers={"Content-Disposition": f'inline; filename="{name}"'},
    )
