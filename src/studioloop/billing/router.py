from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response, status
from fastapi.encoders import jsonable_encoder

from studioloop.accounts.dependencies import CurrentUser, OptionalUser, require_role
from studioloop.accounts.members import Membership, membership_of
from studioloop.accounts.models import User
from studioloop.billing import schemas, service
from studioloop.billing.exceptions import SubscriptionNotFound
from studioloop.billing.models import Subscription
from studioloop.core import http
from studioloop.core.errors import Forbidden
from studioloop.core.http import IdempotencyKey, app_settings
from studioloop.core.openapi import API_PREFIX, errors
from studioloop.db.session import DbSession
from studioloop.payments.models import Payment
from studioloop.payments.schemas import PaymentOut
from studioloop.tenants.cache import TenantRef
from studioloop.tenants.dependencies import CurrentTenant

router = APIRouter(prefix=API_PREFIX, tags=["memberships"])
Member = Annotated[Membership, Depends(require_role("member"))]
Admin = Annotated[Membership, Depends(require_role("admin"))]


def _out(subscription: Subscription) -> schemas.SubscriptionOut:
    return schemas.SubscriptionOut(
        **{
            name: getattr(subscription, name)
            for name in schemas.SubscriptionOut.model_fields
            if name != "renews_automatically"
        },
        renews_automatically=(
            subscription.payment_method_ref is not None
            and not subscription.cancel_at_period_end
            and subscription.status in ("active", "past_due")
        ),
    )


def _checkout_out(
    subscription: Subscription, payment: Payment | None
) -> schemas.SubscriptionCheckoutOut:
    return schemas.SubscriptionCheckoutOut(
        subscription=_out(subscription),
        payment=PaymentOut.model_validate(payment) if payment else None,
        checkout_url=payment.checkout_url if payment else None,
    )


async def _is_admin(session: DbSession, tenant: TenantRef, user: User) -> bool:
    membership = await membership_of(session, tenant.id, user.id)
    return membership is not None and membership.allows("admin")


async def _visible(
    session: DbSession,
    tenant: TenantRef,
    user: User,
    subscription_id: uuid.UUID,
    *,
    lock: bool = True,
) -> tuple[Subscription, bool]:
    """A subscription the caller may act on: their own, or any for admins (and whether
    the caller is staff)."""
    subscription = await service.get_subscription(session, subscription_id, lock=lock)
    is_admin = await _is_admin(session, tenant, user)
    if subscription.user_id != user.id and not is_admin:
        raise SubscriptionNotFound()
    return subscription, is_admin


# --- plans ---------------------------------------------------------------------------------


async def create_plan(
    body: schemas.PlanIn, tenant: CurrentTenant, admin: Admin, session: DbSession
) -> schemas.PlanOut:
    """Put a membership plan (or tier) on sale (admins and owners)."""
    return schemas.PlanOut.model_validate(await service.create_plan(session, tenant.id, body))


async def list_plans(
    tenant: CurrentTenant,
    user: OptionalUser,
    session: DbSession,
    include_inactive: Annotated[bool, Query(description="Staff: also plans off sale")] = False,
) -> list[schemas.PlanOut]:
    """The studio's membership plans on sale, cheapest first (public, like its credit
    packs)."""
    if include_inactive and (user is None or not await _is_admin(session, tenant, user)):
        include_inactive = False
    plans = await service.list_plans(session, include_inactive=include_inactive)
    return [schemas.PlanOut.model_validate(plan) for plan in plans]


async def update_plan(
    plan_id: uuid.UUID,
    body: schemas.PlanUpdate,
    tenant: CurrentTenant,
    admin: Admin,
    session: DbSession,
) -> schemas.PlanOut:
    """Change a plan; a new price applies from each member's next renewal."""
    return schemas.PlanOut.model_validate(await service.update_plan(session, plan_id, body))


# --- subscriptions -----------------------------------------------------------------------


async def start_subscription(
    body: schemas.SubscriptionIn,
    request: Request,
    tenant: CurrentTenant,
    member: Member,
    user: CurrentUser,
    session: DbSession,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """Become a member on a plan: the membership starts when its first payment succeeds
    (send the member to `checkout_url`)."""
    endpoint = "POST /payments/subscriptions"
    earlier = await http.replay(session, user.id, idempotency_key, endpoint, body)
    if earlier is not None:
        return earlier
    subscription, payment = await service.start(
        session,
        app_settings(request),
        tenant,
        user,
        body.plan_id,
        str(request.base_url).rstrip("/"),
    )
    payload = jsonable_encoder(_checkout_out(subscription, payment))
    return await http.answer(session, user.id, idempotency_key, status.HTTP_201_CREATED, payload)


async def list_subscriptions(
    tenant: CurrentTenant,
    user: CurrentUser,
    session: DbSession,
    status_filter: Annotated[schemas.SubscriptionStatus | None, Query(alias="status")] = None,
    user_id: Annotated[uuid.UUID | None, Query(description="Admins: one member's")] = None,
) -> list[schemas.SubscriptionOut]:
    """Memberships at this studio: your own, or (admins and owners) everyone's."""
    if not await _is_admin(session, tenant, user):
        user_id = user.id
    rows = await service.list_subscriptions(session, user_id=user_id, status=status_filter)
    return [_out(row) for row in rows]


async def get_subscription(
    subscription_id: uuid.UUID, tenant: CurrentTenant, user: CurrentUser, session: DbSession
) -> schemas.SubscriptionOut:
    subscription, _ = await _visible(session, tenant, user, subscription_id, lock=False)
    return _out(subscription)


async def cancel_subscription(
    subscription_id: uuid.UUID,
    tenant: CurrentTenant,
    user: CurrentUser,
    session: DbSession,
    body: schemas.CancelIn | None = None,
) -> schemas.SubscriptionOut:
    """End a membership at the end of its paid period (staff may end it at once)."""
    subscription, is_admin = await _visible(session, tenant, user, subscription_id)
    immediately = body is not None and body.immediately
    if immediately and not is_admin:
        raise Forbidden("Only the studio can end a membership before its period is over.")
    return _out(await service.cancel(session, subscription, immediately=immediately))


async def undo_cancel_subscription(
    subscription_id: uuid.UUID, tenant: CurrentTenant, user: CurrentUser, session: DbSession
) -> schemas.SubscriptionOut:
    """Take back a cancellation at the period's end while that period still runs: the
    membership renews again as before. A membership not set to end, or whose period is
    over, answers 409 SUBSCRIPTION_NOT_CHANGEABLE."""
    subscription, _ = await _visible(session, tenant, user, subscription_id)
    return _out(await service.keep(session, subscription))


async def pause_subscription(
    subscription_id: uuid.UUID,
    body: schemas.PauseIn,
    tenant: CurrentTenant,
    user: CurrentUser,
    session: DbSession,
) -> schemas.SubscriptionOut:
    """Freeze a membership for up to 90 days; its period (and renewal) moves on by as much."""
    subscription, _ = await _visible(session, tenant, user, subscription_id)
    return _out(await service.pause(session, subscription, body.start, body.end))


async def change_plan(
    subscription_id: uuid.UUID,
    body: schemas.ChangePlanIn,
    request: Request,
    tenant: CurrentTenant,
    user: CurrentUser,
    session: DbSession,
) -> schemas.SubscriptionCheckoutOut:
    """Upgrade (the difference for the rest of the period is charged now, prorated; the
    new plan applies once paid) or downgrade (from the next renewal)."""
    subscription, _ = await _visible(session, tenant, user, subscription_id)
    payment, _due = await service.change_plan(
        session,
        app_settings(request),
        subscription,
        body.plan_id,
        str(request.base_url).rstrip("/"),
    )
    await session.refresh(subscription)
    return _checkout_out(subscription, payment)


for prefix in ("/tenants/{slug}", ""):
    router.add_api_route(
        f"{prefix}/membership-plans",
        create_plan,
        methods=["POST"],
        status_code=status.HTTP_201_CREATED,
        response_model=schemas.PlanOut,
        responses=errors(400, 401, 403, 404, 409, 422),
    )
    router.add_api_route(
        f"{prefix}/membership-plans",
        list_plans,
        methods=["GET"],
        response_model=list[schemas.PlanOut],
        responses=errors(400, 401, 404),
    )
    router.add_api_route(
        f"{prefix}/membership-plans/{{plan_id}}",
        update_plan,
        methods=["PATCH"],
        response_model=schemas.PlanOut,
        responses=errors(400, 401, 403, 404, 409, 422),
    )
    router.add_api_route(
        f"{prefix}/payments/subscriptions",
        start_subscription,
        methods=["POST"],
        status_code=status.HTTP_201_CREATED,
        response_model=schemas.SubscriptionCheckoutOut,
        responses=errors(400, 401, 403, 404, 409, 422, 502),
    )
    router.add_api_route(
        f"{prefix}/subscriptions",
        list_subscriptions,
        methods=["GET"],
        response_model=list[schemas.SubscriptionOut],
        responses=errors(400, 401, 404, 422),
    )
    router.add_api_route(
        f"{prefix}/subscriptions/{{subscription_id}}",
        get_subscription,
        methods=["GET"],
        response_model=schemas.SubscriptionOut,
        responses=errors(400, 401, 404, 422),
    )
    for action, endpoint, extra in (
        ("cancel", cancel_subscription, (403,)),
        ("undo-cancel", undo_cancel_subscription, ()),
        ("pause", pause_subscription, ()),
        ("change-plan", change_plan, (502,)),
    ):
        router.add_api_route(
            f"{prefix}/subscriptions/{{subscription_id}}/{action}",
            endpoint,
            methods=["POST"],
            response_model=(
                schemas.SubscriptionCheckoutOut
                if action == "change-plan"
                else schemas.SubscriptionOut
            ),
            responses=errors(400, 401, 404, 409, 422, *extra),
        )
