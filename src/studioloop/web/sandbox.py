"""The sandbox provider's hosted checkout page (what Stripe Checkout is for Stripe), and the
page any provider's checkout returns the member to.

The member pays, declines or abandons here; the outcome goes back to StudioLoop the way a
real provider's does: as a signed webhook to `/api/v1/webhooks/sandbox`. The page posts it
to its own application in-process (httpx's ASGI transport), so it also works where the
server cannot reach its own public address, and the webhook endpoint checks it exactly as
it would check one from outside.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

import httpx
from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, Response

from studioloop.core.errors import AppError
from studioloop.core.money import format_money
from studioloop.db.session import DbSession
from studioloop.db.tenancy import enter_tenant_for_transaction
from studioloop.payments import providers, service as payments_service, stripe_connect
from studioloop.payments.exceptions import PaymentNotFound
from studioloop.payments.models import Payment
from studioloop.tenants import service as tenants_service
from studioloop.web import payment_results
from studioloop.web.csrf import CSRF_FIELD, check_csrf
from studioloop.web.routes import render
from studioloop.web.session import web_user

router = APIRouter(include_in_schema=False)
OUTCOME_EVENTS = {
    "pay": providers.SUCCEEDED,
    "pay_3ds": providers.REQUIRES_ACTION,  # the bank asks the member to confirm
    "authenticate": providers.SUCCEEDED,
    "fail_authentication": providers.FAILED,
    "decline": providers.FAILED,
    "abandon": providers.CANCELED,
}
Outcome = Literal["pay", "pay_3ds", "authenticate", "fail_authentication", "decline", "abandon"]


def _sandbox(request: Request) -> providers.SandboxProvider:
    return providers.SandboxProvider(request.app.state.settings)


async def _payment(
    request: Request, session: DbSession, tenant_id: uuid.UUID, payment_id: uuid.UUID, sig: str
) -> Payment | None:
    if not _sandbox(request).page_signature_valid(tenant_id, payment_id, sig):
        return None
    await enter_tenant_for_transaction(session, tenant_id)
    try:
        payment = await payments_service.get_payment(session, payment_id)
    except PaymentNotFound:
        return None
    return payment if payment.provider == "sandbox" else None


async def _page(
    request: Request, session: DbSession, payment: Payment | None, sig: str, **extra: object
) -> Response:
    user = await web_user(request, session)
    if payment is None:
        return render(
            request, "sandbox_checkout.html", {"payment": None, "user": user}, status_code=404
        )
    context = {
        "payment": payment,
        "amount": format_money(payment.amount, payment.currency),
        "sig": sig,
        "user": user,
        # Where the member goes on from here, as a real provider's return URL takes them.
        "done_url": f"/payments/done?payment={payment.id}&studio={payment.tenant_id}",
        **extra,
    }
    return render(request, "sandbox_checkout.html", context)


@router.get("/sandbox/checkout/{tenant_id}/{payment_id}", response_class=HTMLResponse)
async def checkout_page(
    request: Request,
    session: DbSession,
    tenant_id: uuid.UUID,
    payment_id: uuid.UUID,
    sig: Annotated[str, Query(max_length=64)] = "",
) -> Response:
    payment = await _payment(request, session, tenant_id, payment_id, sig)
    return await _page(request, session, payment, sig)


@router.post("/sandbox/checkout/{tenant_id}/{payment_id}", response_class=HTMLResponse)
async def checkout_submit(
    request: Request,
    session: DbSession,
    tenant_id: uuid.UUID,
    payment_id: uuid.UUID,
    outcome: Annotated[Outcome, Form()],
    sig: Annotated[str, Form(max_length=64)] = "",
    csrf_token_field: Annotated[str | None, Form(alias=CSRF_FIELD)] = None,
) -> Response:
    check_csrf(request, csrf_token_field)
    payment = await _payment(request, session, tenant_id, payment_id, sig)
    if payment is None or payment.status not in ("pending", "requires_action"):
        return await _page(request, session, payment, sig)
    sandbox = _sandbox(request)
    body = sandbox.event_body(
        OUTCOME_EVENTS[outcome],
        reference=payment.provider_reference or "",
        tenant_id=tenant_id,
        payment_id=payment_id,
    )
    transport = httpx.ASGITransport(app=request.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://sandbox.internal") as client:
        answer = await client.post(
            "/api/v1/webhooks/sandbox",
            content=body,
            headers={
                "Content-Type": "application/json",
                sandbox.SIGNATURE_HEADER: sandbox.sign(body),
            },
        )
    delivered = answer.status_code == 200
    return await _page(request, session, payment, sig, outcome=outcome, delivered=delivered)


@router.get("/payments/connected", response_class=HTMLResponse)
async def stripe_connected(
    request: Request,
    session: DbSession,
    studio: Annotated[str | None, Query(max_length=63)] = None,
) -> Response:
    """Where Stripe's onboarding sends a studio owner back to: the studio's account is
    checked with Stripe there and then (connected once Stripe accepts it). Anyone may open
    it: all it can do is bring the studio's state in line with Stripe's answer."""
    state = None
    if studio:
        try:
            tenant = await tenants_service.get_tenant_by_slug(session, studio)
            await enter_tenant_for_transaction(session, tenant.id)
            state = await stripe_connect.refresh(session, request.app.state.settings, tenant.id)
        except AppError:
            state = None  # unknown studio, or Stripe unreachable: the page says to check later
    return render(request, "stripe_connected.html", {"user": None, "state": state})


@router.get("/payments/done", response_class=HTMLResponse)
async def payment_done(
    request: Request,
    session: DbSession,
    payment: Annotated[uuid.UUID | None, Query()] = None,
    studio: Annotated[uuid.UUID | None, Query()] = None,
    canceled: Annotated[bool, Query()] = False,
) -> Response:
    """Where a provider's hosted checkout sends the member back to. What counts is the
    provider's webhook, which may arrive before or after this page is shown: the page
    shows the payment as it stands and the way back to what was bought."""
    user = await web_user(request, session)
    result = None
    if user is not None and payment is not None and studio is not None:
        result = await payment_results.result_for(session, user, studio, payment, canceled=canceled)
    context = {"canceled": canceled, "user": user, "result": result}
    return render(request, "payment_done.html", context)
