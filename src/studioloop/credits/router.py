from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, status

from studioloop.accounts.dependencies import CurrentUser, OptionalUser, PlatformOwner, require_role
from studioloop.accounts.members import Membership, membership_of
from studioloop.core.errors import NotFound
from studioloop.core.openapi import API_PREFIX, errors
from studioloop.core.patching import apply_changes
from studioloop.credits import schemas, service, universal
from studioloop.credits.models import CreditAccount, CreditLot, CreditPackage, CreditTransaction
from studioloop.db.session import DbSession
from studioloop.tenants.cache import TenantRef
from studioloop.tenants.dependencies import CurrentTenant

router = APIRouter(prefix=API_PREFIX, tags=["credits"])
Admin = Annotated[Membership, Depends(require_role("admin"))]


def _package_out(package: CreditPackage, tenant: TenantRef) -> schemas.PackageOut:
    return schemas.PackageOut.model_validate(package).model_copy(
        update={"currency": tenant.currency}
    )


async def _credits(session: DbSession, tenant: TenantRef, user_id: uuid.UUID) -> schemas.CreditsOut:
    return _credits_out(user_id, tenant.id, *await service.statement(session, tenant.id, user_id))


def _credits_out(
    user_id: uuid.UUID,
    tenant_id: uuid.UUID | None,
    account: CreditAccount | None,
    lots: list[CreditLot],
    history: list[CreditTransaction],
) -> schemas.CreditsOut:
    return schemas.CreditsOut(
        user_id=user_id,
        tenant_id=tenant_id,
        credits_balance=account.balance if account else 0,
        credits_total_purchased=account.total_purchased if account else 0,
        next_expiry=min((lot.expires_at for lot in lots if lot.expires_at), default=None),
        lots=[schemas.LotOut.model_validate(lot) for lot in lots],
        transactions=[schemas.TransactionOut.model_validate(t) for t in history],
    )


async def get_credits(
    user_id: uuid.UUID, tenant: CurrentTenant, user: CurrentUser, session: DbSession
) -> schemas.CreditsOut:
    """A member's credits at this studio: balance, lots with their expiry, recent ledger.
    Members see their own; instructors and above see anyone's in their studio."""
    if user_id != user.id:
        membership = await membership_of(session, tenant.id, user.id)
        if membership is None or not membership.allows("instructor"):
            raise NotFound("No credits to show for this person.")
    return await _credits(session, tenant, user_id)


async def adjust_credits(
    user_id: uuid.UUID,
    body: schemas.AdjustmentIn,
    tenant: CurrentTenant,
    actor: Admin,
    session: DbSession,
) -> schemas.CreditsOut:
    """Add or remove credits with a reason (admin+); written to the ledger as an adjustment."""
    if await membership_of(session, tenant.id, user_id) is None:
        raise NotFound("This person is not a member of this studio.", code="MEMBER_NOT_FOUND")
    await service.adjust(
        session,
        tenant.id,
        user_id,
        body.amount,
        reason=body.reason,
        actor_user_id=actor.user_id,
        valid_days=body.valid_days,
    )
    return await _credits(session, tenant, user_id)


async def list_packages(
    tenant: CurrentTenant, session: DbSession, user: OptionalUser
) -> list[schemas.PackageOut]:
    """Credit packs on sale (purchase arrives with payments)."""
    return [_package_out(p, tenant) for p in await service.list_packages(session)]


async def create_package(
    body: schemas.PackageIn, tenant: CurrentTenant, _admin: Admin, session: DbSession
) -> schemas.PackageOut:
    package = await service.save_package(
        session, CreditPackage(tenant_id=tenant.id, **body.model_dump())
    )
    return _package_out(package, tenant)


async def update_package(
    package_id: uuid.UUID,
    body: schemas.PackageUpdate,
    tenant: CurrentTenant,
    _admin: Admin,
    session: DbSession,
) -> schemas.PackageOut:
    package = await service.get_package(session, package_id)
    apply_changes(
        package, body.model_dump(exclude_unset=True), nullable={"description", "validity_days"}
    )
    return _package_out(await service.save_package(session, package), tenant)


async def get_universal_credits(
    user_id: uuid.UUID, user: CurrentUser, session: DbSession
) -> schemas.CreditsOut:
    """A member's universal marketplace credits (usable at any studio through the
    marketplace): balance, lots with their expiry, recent ledger. Your own; the platform
    operator sees anyone's. `tenant_id` is null."""
    if user_id != user.id and not user.is_platform_owner:
        raise NotFound("No credits to show for this person.")
    return _credits_out(user_id, None, *await universal.universal_statement(session, user_id))


async def adjust_universal_credits(
    user_id: uuid.UUID, body: schemas.AdjustmentIn, operator: PlatformOwner, session: DbSession
) -> schemas.CreditsOut:
    """Add or remove universal credits with a reason (platform operator only); written to
    the ledger as an adjustment."""
    await universal.adjust_universal(
        session,
        user_id,
        body.amount,
        reason=body.reason,
        actor_user_id=operator.id,
        valid_days=body.valid_days,
    )
    return _credits_out(user_id, None, *await universal.universal_statement(session, user_id))


ERRORS = errors(400, 401, 403, 404, 422)
router.add_api_route(
    "/users/{user_id}/credits/universal",
    get_universal_credits,
    methods=["GET"],
    response_model=schemas.CreditsOut,
    responses=errors(401, 404, 422),
)
router.add_api_route(
    "/users/{user_id}/credits/universal/adjustments",
    adjust_universal_credits,
    methods=["POST"],
    response_model=schemas.CreditsOut,
    responses={**errors(401, 403, 404, 422), **errors(402)},
    status_code=status.HTTP_201_CREATED,
)
for prefix in ("/tenants/{slug}", ""):
    router.add_api_route(
        f"{prefix}/users/{{user_id}}/credits",
        get_credits,
        methods=["GET"],
        response_model=schemas.CreditsOut,
        responses=ERRORS,
    )
    router.add_api_route(
        f"{prefix}/users/{{user_id}}/credits/adjustments",
        adjust_credits,
        methods=["POST"],
        response_model=schemas.CreditsOut,
        responses=ERRORS,
        status_code=status.HTTP_201_CREATED,
    )
    router.add_api_route(
        f"{prefix}/credit-packages",
        list_packages,
        methods=["GET"],
        response_model=list[schemas.PackageOut],
        responses=errors(400, 404),
    )
    router.add_api_route(
        f"{prefix}/credit-packages",
        create_package,
        methods=["POST"],
        response_model=schemas.PackageOut,
        responses={**ERRORS, **errors(409)},
        status_code=status.HTTP_201_CREATED,
    )
    router.add_api_route(
        f"{prefix}/credit-packages/{{package_id}}",
        update_package,
        methods=["PATCH"],
        response_model=schemas.PackageOut,
        responses={**ERRORS, **errors(409)},
    )
