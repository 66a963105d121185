"""Usage metering over HTTP: meters (staff), a member's own usage, and what a creator's
app calls server to server with an API key (events, limit checks, a customer's usage)."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, status

from studioloop.accounts.dependencies import CurrentUser, require_role
from studioloop.accounts.members import Membership
from studioloop.api_keys.dependencies import ApiKeyCaller, require_scope
from studioloop.api_keys.scopes import USAGE_READ, USAGE_WRITE
from studioloop.core.openapi import API_PREFIX, errors
from studioloop.db.session import DbSession
from studioloop.tenants import service as tenants_service
from studioloop.tenants.cache import TenantRef
from studioloop.tenants.dependencies import CurrentTenant, resolve
from studioloop.usage import exceptions as exc, forwarding, ingestion, schemas, service

router = APIRouter(prefix=API_PREFIX, tags=["usage"])
Admin = Annotated[Membership, Depends(require_role("admin"))]
Member = Annotated[Membership, Depends(require_role("member"))]
Writer = Annotated[ApiKeyCaller, Depends(require_scope(USAGE_WRITE))]
Reader = Annotated[ApiKeyCaller, Depends(require_scope(USAGE_READ))]


async def _key_studio(request: Request, session: DbSession, caller: ApiKeyCaller) -> TenantRef:
    """The studio of the calling key (its time zone places events in months)."""
    return await resolve(session, request.app.state.tenant_cache, ("id", str(caller.tenant_id)))


# --- a creator's app, server to server, with an API key ---------------------------------------


async def report_events(
    body: schemas.EventBatchIn, request: Request, caller: Writer, session: DbSession
) -> schemas.BatchResult:
    """Report up to 1,000 usage events (API key with `usage:write`). Each event is checked
    on its own: the answer counts those accepted and those already received (a retried
    batch changes nothing), and lists each refused one with its index and a code
    (docs/usage.md). A refused event never sinks the batch."""
    studio = await _key_studio(request, session, caller)
    forward_to = forwarding.destination(
        request.app.state.settings, await tenants_service.settings_of(session, caller.tenant_id)
    )
    return await ingestion.ingest(
        session, caller.tenant_id, studio.timezone, body.events, forward_to=forward_to
    )


async def check_with_key(
    request: Request,
    caller: Reader,
    session: DbSession,
    customer: Annotated[str, Query(min_length=1, max_length=320)],
    meter: Annotated[str | None, Query(max_length=63)] = None,
    feature: Annotated[str | None, Query(max_length=80)] = None,
    amount: Annotated[Decimal, Query(gt=0, le=1_000_000_000)] = Decimal(1),
) -> schemas.CheckOut:
    """May this customer (user id or email) use a feature, or `amount` more of a meter,
    now? Answered from the customer's running total and tier (API key with `usage:read`)."""
    studio = await _key_studio(request, session, caller)
    return await check(session, caller.tenant_id, studio.timezone, customer, meter, feature, amount)


async def usage_with_key(
    request: Request,
    caller: Reader,
    session: DbSession,
    customer: Annotated[str, Query(min_length=1, max_length=320)],
) -> list[schemas.UsageLineOut]:
    """A customer's use of each meter this period, against their tier's caps (API key with
    `usage:read`)."""
    studio = await _key_studio(request, session, caller)
    user_id = await service.customer_id(session, caller.tenant_id, customer)
    return await service.usage_of(session, studio.timezone, user_id)


# --- staff and members ---------------------------------------------------------------------


async def list_meters(
    tenant: CurrentTenant,
    admin: Admin,
    session: DbSession,
    include_archived: Annotated[bool, Query(description="Also meters that stopped")] = False,
) -> list[schemas.MeterOut]:
    """The studio's meters (admins and owners)."""
    meters = await service.list_meters(session, include_archived=include_archived)
    return [schemas.MeterOut.model_validate(meter) for meter in meters]


async def create_meter(
    body: schemas.MeterIn, tenant: CurrentTenant, admin: Admin, session: DbSession
) -> schemas.MeterOut:
    """Start counting an event (admins and owners). A meter counts events received after
    it was made."""
    return schemas.MeterOut.model_validate(await service.create_meter(session, tenant.id, body))


async def update_meter(
    meter_id: uuid.UUID,
    body: schemas.MeterUpdate,
    tenant: CurrentTenant,
    admin: Admin,
    session: DbSession,
) -> schemas.MeterOut:
    """Rename a meter, change its unit, or archive it. What it counts (event, filter,
    aggregation, property, reset) changes only while it has counted nothing: 409
    `METER_IN_USE` after."""
    meter = await service.get_meter(session, meter_id)
    return schemas.MeterOut.model_validate(await service.update_meter(session, meter, body))


async def my_usage(
    tenant: CurrentTenant, member: Member, user: CurrentUser, session: DbSession
) -> list[schemas.UsageLineOut]:
    """The signed-in member's use of each meter this period, against their tier's caps."""
    return await service.usage_of(session, tenant.timezone, user.id)


async def customer_usage(
    user_id: uuid.UUID, tenant: CurrentTenant, admin: Admin, session: DbSession
) -> list[schemas.UsageLineOut]:
    """One member's use of each meter this period (admins and owners)."""
    customer = await service.customer_id(session, tenant.id, str(user_id))
    return await service.usage_of(session, tenant.timezone, customer)


async def check_for_member(
    tenant: CurrentTenant,
    admin: Admin,
    session: DbSession,
    customer: Annotated[str, Query(min_length=1, max_length=320)],
    meter: Annotated[str | None, Query(max_length=63)] = None,
    feature: Annotated[str | None, Query(max_length=80)] = None,
    amount: Annotated[Decimal, Query(gt=0, le=1_000_000_000)] = Decimal(1),
) -> schemas.CheckOut:
    """May this customer use a feature, or `amount` more of a meter? (Staff; a creator's
    app asks the same with an API key at `GET /usage/check`.)"""
    return await check(session, tenant.id, tenant.timezone, customer, meter, feature, amount)


async def check(
    session: DbSession,
    tenant_id: uuid.UUID,
    timezone: str,
    customer: str,
    meter: str | None,
    feature: str | None,
    amount: Decimal,
) -> schemas.CheckOut:
    if (meter is None) == (feature is None):
        raise exc.CheckQueryInvalid()
    if feature is not None:
        return await service.check_feature(session, tenant_id, customer, feature)
    assert meter is not None
    return await service.check_meter(session, tenant_id, timezone, customer, meter, amount)


router.add_api_route(
    "/tenants/{slug}/usage/meters",
    list_meters,
    methods=["GET"],
    response_model=list[schemas.MeterOut],
    responses=errors(400, 401, 403, 404),
)
router.add_api_route(
    "/tenants/{slug}/usage/meters",
    create_meter,
    methods=["POST"],
    status_code=status.HTTP_201_CREATED,
    response_model=schemas.MeterOut,
    responses=errors(400, 401, 403, 404, 409, 422),
)
router.add_api_route(
    "/tenants/{slug}/usage/meters/{meter_id}",
    update_meter,
    methods=["PATCH"],
    response_model=schemas.MeterOut,
    responses=errors(400, 401, 403, 404, 409, 422),
)
router.add_api_route(
    "/tenants/{slug}/usage/mine",
    my_usage,
    methods=["GET"],
    response_model=list[schemas.UsageLineOut],
    responses=errors(400, 401, 403, 404),
)
router.add_api_route(
    "/tenants/{slug}/usage/customers/{user_id}",
    customer_usage,
    methods=["GET"],
    response_model=list[schemas.UsageLineOut],
    responses=errors(400, 401, 403, 404, 422),
)
router.add_api_route(
    "/tenants/{slug}/usage/check",
    check_for_member,
    methods=["GET"],
    response_model=schemas.CheckOut,
    responses=errors(400, 401, 403, 404, 422),
)
router.add_api_route(
    "/usage/events",
    report_events,
    methods=["POST"],
    response_model=schemas.BatchResult,
    responses=errors(400, 401, 403, 422, 429),
)
router.add_api_route(
    "/usage/check",
    check_with_key,
    methods=["GET"],
    response_model=schemas.CheckOut,
    responses=errors(400, 401, 403, 404, 422, 429),
)
router.add_api_route(
    "/usage/customers",
    usage_with_key,
    methods=["GET"],
    response_model=list[schemas.UsageLineOut],
    responses=errors(400, 401, 403, 404, 422, 429),
)
