from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response, status
from fastapi.encoders import jsonable_encoder

from studioloop.accounts.dependencies import CurrentUser, require_role
from studioloop.accounts.members import Membership, membership_of
from studioloop.accounts.models import User
from studioloop.core import http
from studioloop.core.http import IdempotencyKey, app_settings
from studioloop.core.openapi import API_PREFIX, errors
from studioloop.core.pagination import Page
from studioloop.db.session import DbSession
from studioloop.payments import (
    credentials,
    payouts,
    receipts,
    refunds,
    schemas,
    service,
    stripe_connect,
)
from studioloop.payments.exceptions import (
    PaymentNotFound,
    ProviderInUse,
    ProviderNotConfigured,
    ReceiptNotFound,
)
from studioloop.payments.models import Payment, ProviderCredential
from studioloop.tenants import service as tenants_service
from studioloop.tenants.cache import TenantRef
from studioloop.tenants.dependencies import CurrentTenant

router = APIRouter(prefix=API_PREFIX, tags=["payments"])
# Providers' webhooks come from a few addresses in bursts, so the per-address limit for
# anonymous callers would turn a busy hour into 429s and delayed payments; they are
# authenticated by their signature instead (api.py mounts this router without the limit).
webhook_router = APIRouter(prefix=API_PREFIX, tags=["webhooks"])
Member = Annotated[Membership, Depends(require_role("member"))]
Admin = Annotated[Membership, Depends(require_role("admin"))]
Owner = Annotated[Membership, Depends(require_role("owner"))]


async def purchase_credits(
    body: schemas.CreditPurchaseIn,
    request: Request,
    tenant: CurrentTenant,
    member: Member,
    user: CurrentUser,
    session: DbSession,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """Buy a credit package: a pending payment and the checkout address to send the member
    to. The credits arrive when the provider reports the payment succeeded (webhook)."""
    earlier = await http.replay(
        session, user.id, idempotency_key, "POST /payments/credits/purchase", body
    )
    if earlier is not None:
        return earlier
    payment, url = await service.start_credit_purchase(
        session,
        app_settings(request),
        tenant,
        user,
        body.package_id,
        str(request.base_url).rstrip("/"),
    )
    payload = jsonable_encoder(
        schemas.CheckoutOut(payment=schemas.PaymentOut.model_validate(payment), checkout_url=url)
    )
    return await http.answer(session, user.id, idempotency_key, status.HTTP_201_CREATED, payload)


async def list_payments(
    tenant: CurrentTenant,
    user: CurrentUser,
    session: DbSession,
    status_filter: Annotated[schemas.PaymentStatus | None, Query(alias="status")] = None,
    user_id: Annotated[uuid.UUID | None, Query(description="Admins: one member's")] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
) -> Page[schemas.PaymentOut]:
    """Payments at this studio, newest first: your own, or (admins and owners) everyone's."""
    membership = await membership_of(session, tenant.id, user.id)
    is_admin = membership is not None and membership.allows("admin")
    if not is_admin:
        user_id = user.id
    rows, next_cursor = await service.list_payments(
        session, user_id=user_id, status=status_filter, limit=limit, cursor=cursor
    )
    return Page(items=[schemas.PaymentOut.model_validate(p) for p in rows], next_cursor=next_cursor)


async def get_payment(
    payment_id: uuid.UUID, tenant: CurrentTenant, user: CurrentUser, session: DbSession
) -> schemas.PaymentOut:
    """One payment: your own, or any at the studio for admins and owners."""
    payment = await _visible_payment(session, tenant, user, payment_id)
    return schemas.PaymentOut.model_validate(payment)


async def _visible_payment(
    session: DbSession, tenant: TenantRef, user: User, payment_id: uuid.UUID
) -> Payment:
    """A payment the caller may see: their own, or any at the studio for admins."""
    payment = await service.get_payment(session, payment_id)
    if payment.user_id != user.id:
        membership = await membership_of(session, tenant.id, user.id)
        if membership is None or not membership.allows("admin"):
            raise PaymentNotFound()
    return payment


async def get_receipt_pdf(
    payment_id: uuid.UUID,
    request: Request,
    tenant: CurrentTenant,
    user: CurrentUser,
    session: DbSession,
) -> Response:
    """The payment's receipt (a tax invoice when the studio charges VAT) as a PDF."""
    payment = await _visible_payment(session, tenant, user, payment_id)
    receipt = await receipts.receipt_of(session, payment)
    if receipt is None:
        raise ReceiptNotFound()
    pdf = await receipts.render_pdf(session, app_settings(request), payment, receipt)
    name = f"receipt-{receipts.display_number(receipt.number)}.pdf"
    return Response(
        pdf,
        media_type="application/pdf",
        headers={"Content-Disposition": f'inline; filename="{name}"'},
    )


async def refund_payment(
    payment_id: uuid.UUID,
    body: schemas.RefundIn,
    request: Request,
    tenant: CurrentTenant,
    admin: Admin,
    session: DbSession,
) -> schemas.RefundOut:
    """Refund all or part of a payment (admins and owners); several refunds may follow one
    another, never beyond what was paid. Credits bought with it are taken back in
    proportion, as far as the member has not spent them."""
    result = await refunds.refund(
        session,
        app_settings(request),
        payment_id,
        body.amount,
        reason=body.reason,
        actor_user_id=admin.user_id,
    )
    return schemas.RefundOut(
        id=result.refund.id,
        amount=result.refund.amount,
        reason=result.refund.reason,
        credits_revoked=result.refund.credits_revoked,
        credits_already_used=result.credits_already_used,
        created_at=result.refund.created_at,
        payment=schemas.PaymentOut.model_validate(result.payment),
    )


async def _keys_out(
    session: DbSession, request: Request, stored: ProviderCredential
) -> schemas.ProviderKeysOut:
    settings = await tenants_service.settings_of(session, stored.tenant_id)
    return schemas.ProviderKeysOut(
        provider=stored.provider,
        key_hint=stored.key_hint,
        is_test=stored.is_test,
        active=service.provider_for(settings) == stored.provider,
        webhook_url=f"{str(request.base_url).rstrip('/')}{API_PREFIX}/webhooks/{stored.provider}",
        updated_at=stored.updated_at,
    )


async def save_yoco_keys(
    body: schemas.YocoKeysIn,
    request: Request,
    tenant: CurrentTenant,
    owner: Owner,
    session: DbSession,
) -> schemas.ProviderKeysOut:
    """Connect the studio's own Yoco account (owners): its secret key and the webhook
    secret, stored encrypted and never shown again. With `activate`, members pay through
    Yoco from now on."""
    stored = await credentials.save(
        session,
        app_settings(request),
        tenant.id,
        "yoco",
        credentials.Keys(secret_key=body.secret_key, webhook_secret=body.webhook_secret),
    )
    if body.activate:
        await tenants_service.merge_settings(session, tenant.id, {"payment_provider": "yoco"})
    return await _keys_out(session, request, stored)


async def list_provider_keys(
    request: Request, tenant: CurrentTenant, owner: Owner, session: DbSession
) -> list[schemas.ProviderKeysOut]:
    """The payment provider accounts the studio has connected (key hints only)."""
    return [await _keys_out(session, request, row) for row in await credentials.listed(session)]


async def remove_yoco_keys(tenant: CurrentTenant, owner: Owner, session: DbSession) -> Response:
    """Forget the studio's Yoco keys; refused while Yoco takes its payments (choose
    another provider first, so no member is sent to a checkout that cannot work)."""
    settings = await tenants_service.settings_of(session, tenant.id)
    if service.provider_for(settings) == "yoco":
        raise ProviderInUse(details={"provider": "yoco"})
    if not await credentials.remove(session, "yoco"):
        raise ProviderNotConfigured(details={"provider": "yoco"})
    return Response(status_code=status.HTTP_204_NO_CONTENT)


async def get_payouts(
    tenant: CurrentTenant,
    admin: Admin,
    session: DbSession,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> schemas.PayoutsOut:
    """What the platform owes the studio for the money it collected (admins and owners),
    with the latest movements: payments in, fees, refunds, payouts sent."""
    account = await payouts.account_of(session, tenant.id)
    rows = await payouts.entries(session, limit)
    return schemas.PayoutsOut(
        currency=account.currency if account else tenant.currency,
        balance=account.balance if account else 0,
        entries=[schemas.PayoutEntryOut.model_validate(row) for row in rows],
    )


async def create_payout(
    request: Request, tenant: CurrentTenant, owner: Owner, session: DbSession
) -> schemas.PayoutEntryOut:
    """Send the whole balance to the studio's connected Stripe account now (owners).
    Payouts also go out by themselves every Monday."""
    entry = await payouts.pay_out(session, app_settings(request), tenant.id)
    return schemas.PayoutEntryOut.model_validate(entry)


def _connect_out(state: stripe_connect.ConnectState) -> schemas.StripeConnectOut:
    return schemas.StripeConnectOut(
        account_id=state.account_id,
        status=state.status,
        charges_enabled=state.charges_enabled,
        payouts_enabled=state.payouts_enabled,
        onboarding_url=state.onboarding_url,
    )


async def start_stripe_connect(
    request: Request, tenant: CurrentTenant, owner: Owner, session: DbSession
) -> schemas.StripeConnectOut:
    """Connect the studio's own Stripe account (owners): send the owner to
    `onboarding_url` (Stripe's hosted forms). Once Stripe accepts it, payments are paid
    straight to the studio. Ask again for a fresh link if one expired."""
    state = await stripe_connect.start_onboarding(
        session, app_settings(request), tenant.id, str(request.base_url).rstrip("/")
    )
    return _connect_out(state)


async def stripe_connect_status(
    request: Request, tenant: CurrentTenant, admin: Admin, session: DbSession
) -> schemas.StripeConnectOut:
    """Where the studio's Stripe onboarding stands; an account Stripe has accepted is
    connected from this moment."""
    return _connect_out(await stripe_connect.refresh(session, app_settings(request), tenant.id))


@webhook_router.post(
    "/webhooks/{provider}", response_model=schemas.WebhookAck, responses=errors(400, 404)
)
async def receive_webhook(
    provider: str, request: Request, session: DbSession
) -> schemas.WebhookAck:
    """A payment provider's event. The signature is checked against the raw body; the
    event is stored once and processed by a job (a replay is acknowledged and ignored)."""
    body = await request.body()
    duplicate = await service.receive_webhook(
        session, app_settings(request), provider, body, request.headers
    )
    return schemas.WebhookAck(duplicate=duplicate)


for prefix in ("/tenants/{slug}", ""):
    router.add_api_route(
        f"{prefix}/payments/credits/purchase",
        purchase_credits,
        methods=["POST"],
        status_code=status.HTTP_201_CREATED,
        response_model=schemas.CheckoutOut,
        responses=errors(400, 401, 403, 404, 409, 422),
    )
    router.add_api_route(
        f"{prefix}/payments",
        list_payments,
        methods=["GET"],
        response_model=Page[schemas.PaymentOut],
        responses=errors(400, 401, 404, 422),
    )
    router.add_api_route(
        f"{prefix}/payments/{{payment_id}}",
        get_payment,
        methods=["GET"],
        response_model=schemas.PaymentOut,
        responses=errors(400, 401, 404, 422),
    )
    router.add_api_route(
        f"{prefix}/payments/{{payment_id}}/receipt.pdf",
        get_receipt_pdf,
        methods=["GET"],
        response_class=Response,
        responses={
            200: {"content": {"application/pdf": {}}, "description": "The receipt"},
            **errors(400, 401, 404, 422),
        },
    )
    router.add_api_route(
        f"{prefix}/payments/{{payment_id}}/refunds",
        refund_payment,
        methods=["POST"],
        status_code=status.HTTP_201_CREATED,
        response_model=schemas.RefundOut,
        responses=errors(400, 401, 403, 404, 409, 422),
    )
    router.add_api_route(
        f"{prefix}/payment-providers",
        list_provider_keys,
        methods=["GET"],
        response_model=list[schemas.ProviderKeysOut],
        responses=errors(400, 401, 403, 404),
    )
    router.add_api_route(
        f"{prefix}/payment-providers/yoco",
        save_yoco_keys,
        methods=["PUT"],
        response_model=schemas.ProviderKeysOut,
        responses=errors(400, 401, 403, 404, 422),
    )
    router.add_api_route(
        f"{prefix}/payment-providers/yoco",
        remove_yoco_keys,
        methods=["DELETE"],
        status_code=status.HTTP_204_NO_CONTENT,
        response_class=Response,
        responses=errors(400, 401, 403, 404, 409),
    )
    router.add_api_route(
        f"{prefix}/payouts",
        get_payouts,
        methods=["GET"],
        response_model=schemas.PayoutsOut,
        responses=errors(400, 401, 403, 404, 422),
    )
    router.add_api_route(
        f"{prefix}/payouts",
        create_payout,
        methods=["POST"],
        status_code=status.HTTP_201_CREATED,
        response_model=schemas.PayoutEntryOut,
        responses=errors(400, 401, 403, 404, 409, 502),
    )
    router.add_api_route(
        f"{prefix}/payments/stripe/connect",
        start_stripe_connect,
        methods=["POST"],
        response_model=schemas.StripeConnectOut,
        responses=errors(400, 401, 403, 404, 409, 502),
    )
    router.add_api_route(
        f"{prefix}/payments/stripe/connect",
        stripe_connect_status,
        methods=["GET"],
        response_model=schemas.StripeConnectOut,
        responses=errors(400, 401, 403, 404, 502),
    )
