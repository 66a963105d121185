from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response, status
from fastapi.encoders import jsonable_encoder

from studioloop.accounts import members
from studioloop.accounts.dependencies import CurrentUser
from studioloop.accounts.exceptions import InsufficientRole
from studioloop.accounts.models import User
from studioloop.booking import flows
from studioloop.booking.router import answer_seat_held
from studioloop.core import http
from studioloop.core.http import IdempotencyKey, app_settings
from studioloop.core.openapi import API_PREFIX, errors
from studioloop.db.session import DbSession, ReadSession
from studioloop.marketplace import schemas, search, service, statement
from studioloop.tenants.cache import TenantRef
from studioloop.tenants.dependencies import CurrentTenant

router = APIRouter(prefix=API_PREFIX, tags=["marketplace"])


async def search_classes(
    request: Request,
    session: ReadSession,
    lat: Annotated[float | None, Query(ge=-90, le=90)] = None,
    lng: Annotated[float | None, Query(ge=-180, le=180)] = None,
    radius_km: Annotated[float, Query(gt=0, le=search.MAX_RADIUS_KM)] = search.DEFAULT_RADIUS_KM,
    class_type: Annotated[str | None, Query(max_length=40)] = None,
    difficulty: schemas.Difficulty | None = None,
    q: Annotated[str | None, Query(max_length=100, description="Class or studio name")] = None,
    start_from: datetime | None = None,
    start_to: datetime | None = None,
    has_spots: bool = False,
    max_credits: Annotated[int | None, Query(ge=0, le=1000)] = None,
    sort: schemas.SortOrder | None = None,
    limit: Annotated[int, Query(ge=1, le=50)] = 20,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
) -> Response:
    """Upcoming classes across the studios on the marketplace (public; rate limited).

    Near a point (`lat`, `lng`, within `radius_km`), sorted by `distance` (the default
    near a point), `start` (the default otherwise) or `price` in universal credits. `q`
    matches class, type and studio names and forgives typos. Every result carries the
    studio, the distance, the places the marketplace can still fill and the price in
    universal credits (and by card, if the class has a drop-in price). May be read from the
    read replica, so up to REPLICA_MAX_LAG_SECONDS (+1 s) behind when one is configured."""
    filters = search.Filters(
        lat=lat,
        lng=lng,
        radius_km=radius_km,
        class_type=class_type,
        difficulty=difficulty,
        q=q,
        start_from=_aware(start_from),
        start_to=_aware(start_to),
        has_spots=has_spots,
        max_credits=max_credits,
        sort=sort or ("distance" if lat is not None else "start"),
    )
    page = await search.search(session, app_settings(request), filters, cursor=cursor, limit=limit)
    # Serialised here, once: returned as a model, FastAPI would validate every listing
    # again against the response model.
    return Response(page.model_dump_json(), media_type="application/json")


def _aware(moment: datetime | None) -> datetime | None:
    """A time without an offset is taken as UTC."""
    if moment is not None and moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment


async def create_marketplace_booking(
    body: schemas.MarketplaceBookingIn,
    request: Request,
    user: CurrentUser,
    session: DbSession,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """Book a class at any studio on the marketplace with your universal credits: 201
    `confirmed` with a signed QR code, like a direct booking (`booking_type`
    `marketplace`). 402 INSUFFICIENT_CREDITS when your universal credits fall short,
    409 CLASS_FULL when the class (or the places its studio gives the marketplace) is
    full, 404 NOT_ON_MARKETPLACE when its studio does not offer it there.

    With `pay_with: card` the seat is held and the answer is 402 PAYMENT_REQUIRED with a
    `checkout_url` (as for `POST /bookings`); paying confirms the booking. 409
    CARD_NOT_AVAILABLE when the class is sold for credits only.
    Cancel it with `DELETE /bookings/{id}`: credits or money come back under the studio's
    cancellation policy."""
    earlier = await http.replay(
        session, user.id, idempotency_key, "POST /marketplace/bookings", body
    )
    if earlier is not None:
        return earlier
    settings = app_settings(request)
    booking = await service.book(
        session,
        settings,
        user,
        body.class_schedule_id,
        credits_to_use=body.credits_to_use,
        pay_with=body.pay_with,
    )
    outcome = await flows.finish(session, settings, str(request.base_url).rstrip("/"), booking)
    if isinstance(outcome, flows.Checkout):
        return await answer_seat_held(session, outcome, user.id, idempotency_key)
    payload = jsonable_encoder(outcome)
    return await http.answer(session, user.id, idempotency_key, status.HTTP_201_CREATED, payload)


async def _admin_or_operator(session: DbSession, tenant: TenantRef, user: User) -> bool:
    """True for the platform operator; a studio admin gets False; anyone else 403."""
    if user.is_platform_owner:
        return True
    membership = await members.membership_of(session, tenant.id, user.id)
    if membership is None or not membership.allows("admin"):
        raise InsufficientRole(details={"required_role": "admin"})
    return False


async def get_terms(
    request: Request, tenant: CurrentTenant, user: CurrentUser, session: DbSession
) -> schemas.TermsOut:
    """How the studio sells on the marketplace: what a universal credit pays it, the
    platform's commission, and its floor price (admins and the platform operator)."""
    await _admin_or_operator(session, tenant, user)
    return await service.terms_of(session, app_settings(request), tenant.id)


async def change_terms(
    body: schemas.TermsIn,
    request: Request,
    tenant: CurrentTenant,
    user: CurrentUser,
    session: DbSession,
) -> schemas.TermsOut:
    """Admins set the studio's floor price; only the platform operator sets its payout
    rate and commission (403 for anyone else). Whether the studio is on the marketplace
    at all is `marketplace_enabled` on `PATCH /tenants/{slug}`; which classes and how
    many of their seats, `is_private` and `marketplace_seats` on each class."""
    by_operator = await _admin_or_operator(session, tenant, user)
    return await service.change_terms(
        session, app_settings(request), tenant.id, body, by_operator=by_operator
    )


def _next_month(day: date) -> date:
    return date(day.year + day.month // 12, day.month % 12 + 1, 1)


def _period(start: date | None, end: date | None) -> tuple[date, date]:
    """This month by default; `from` alone: that day to the end of its month; `to`
    alone: from the start of the month of the day before it."""
    if start is None:
        last_day = end - timedelta(days=1) if end else datetime.now(UTC).date()
        start = last_day.replace(day=1)
    return start, end or _next_month(start)


async def get_statement(
    tenant: CurrentTenant,
    user: CurrentUser,
    session: DbSession,
    start: Annotated[date | None, Query(alias="from", description="First day")] = None,
    end: Annotated[date | None, Query(alias="to", description="Day after the last")] = None,
) -> schemas.StatementOut:
    """What the marketplace owes the studio for a period (default: this month, in the
    studio's time zone), per booking: credits, their worth, commission, net. Cancelled
    bookings whose credits went back appear as negative lines in the period they were
    cancelled. Admins and the platform operator."""
    await _admin_or_operator(session, tenant, user)
    return await statement.statement(session, tenant.id, *_period(start, end))


async def get_statement_csv(
    tenant: CurrentTenant,
    user: CurrentUser,
    session: DbSession,
    start: Annotated[date | None, Query(alias="from")] = None,
    end: Annotated[date | None, Query(alias="to")] = None,
) -> Response:
    """The same statement as CSV (amounts in major units), for the studio's accounts."""
    await _admin_or_operator(session, tenant, user)
    period = _period(start, end)
    found = await statement.statement(session, tenant.id, *period)
    filename = f"marketplace-{tenant.slug}-{period[0]}-{period[1]}.csv"
    return Response(
        statement.as_csv(found, tenant.timezone),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


router.add_api_route(
    "/marketplace/search",
    search_classes,
    methods=["GET"],
    response_model=schemas.SearchPage,
    responses=errors(422, 429),
)
router.add_api_route(
    "/marketplace/bookings",
    create_marketplace_booking,
    methods=["POST"],
    status_code=status.HTTP_201_CREATED,
    response_model=schemas.MarketplaceBookingOut,
    responses=errors(401, 402, 403, 404, 409, 422),
)
for prefix in ("/tenants/{slug}", ""):
    router.add_api_route(
        f"{prefix}/marketplace/terms",
        get_terms,
        methods=["GET"],
        response_model=schemas.TermsOut,
        responses=errors(400, 401, 403, 404),
    )
    router.add_api_route(
        f"{prefix}/marketplace/terms",
        change_terms,
        methods=["PATCH"],
        response_model=schemas.TermsOut,
        responses=errors(400, 401, 403, 404, 422),
    )
    router.add_api_route(
        f"{prefix}/marketplace/statement",
        get_statement,
        methods=["GET"],
        response_model=schemas.StatementOut,
        responses=errors(400, 401, 403, 404, 422),
    )
    router.add_api_route(
        f"{prefix}/marketplace/statement.csv",
        get_statement_csv,
        methods=["GET"],
        response_class=Response,
        responses={**errors(400, 401, 403, 404, 422), 200: {"content": {"text/csv": {}}}},
    )
