from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

import segno
from fastapi import APIRouter, Depends, Query, Request, Response, status

from studioloop.accounts import service as accounts_service
from studioloop.accounts.dependencies import CurrentUser, TokenClaims
from studioloop.accounts.exceptions import InvalidToken
from studioloop.accounts.members import membership_of
from studioloop.accounts.models import User
from studioloop.api_keys.dependencies import staff_or_key
from studioloop.api_keys.scopes import BOOKINGS_READ
from studioloop.booking import calendar, flows, reading, schemas, service
from studioloop.booking.exceptions import BookingNotFound, PaymentRequired
from studioloop.core import http
from studioloop.core.error_handlers import error_body
from studioloop.core.errors import NotFound
from studioloop.core.http import IdempotencyKey, app_settings
from studioloop.core.openapi import API_PREFIX, errors
from studioloop.db import tenancy
from studioloop.db.session import DbSession
from studioloop.tenants.cache import TenantRef
from studioloop.tenants.dependencies import OptionalTenant

router = APIRouter(prefix=API_PREFIX, tags=["bookings"])
BOOKING_ERRORS = errors(401, 402, 403, 404, 409, 422)


async def create_booking(
    body: schemas.BookingIn,
    request: Request,
    tenant: OptionalTenant,
    caller: TokenClaims,
    session: DbSession,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """Book a class occurrence with credits (201 `confirmed` with a signed QR code), or join
    its waitlist when full and `join_waitlist` is true (201 `waitlisted`).

    A priced class booked without enough credits answers 402 `PAYMENT_REQUIRED` with a
    `checkout_url`: the seat is held for the member (`booking_id`, until
    `hold_expires_at`) and the booking is confirmed when the payment succeeds. Asking
    again while the seat is held answers the same checkout."""
    # The account is checked by the booking's first statement (service.book); a replay
    # answers before that, so it checks the account first itself.
    user_id = caller.user_id
    if idempotency_key:
        if await accounts_service.get_active_user(session, user_id) is None:
            raise InvalidToken()
        earlier = await http.replay(session, user_id, idempotency_key, "POST /bookings", body)
        if earlier is not None:
            return earlier
    outcome = await flows.book_at_studio(
        session,
        app_settings(request),
        str(request.base_url).rstrip("/"),
        user_id,
        body.class_schedule_id,
        join_waitlist=body.join_waitlist,
        credits_to_use=body.credits_to_use,
        find_studio=tenant is None,
    )
    if isinstance(outcome, flows.Checkout):
        return await answer_seat_held(session, outcome, user_id, idempotency_key)
    # Pydantic's own JSON mode: what jsonable_encoder gives, without its generic walk of
    # every field (a tenth of a millisecond on each booking).
    payload = outcome.model_dump(mode="json", by_alias=True)
    return await http.answer(session, user_id, idempotency_key, status.HTTP_201_CREATED, payload)


async def answer_seat_held(
    session: DbSession,
    checkout: flows.Checkout,
    user_id: uuid.UUID,
    idempotency_key: str | None,
) -> Response:
    """402 PAYMENT_REQUIRED with the checkout for a held seat. The hold and its payment are
    kept: the request commits as a success would (and a retry gets the same answer)."""
    payload = error_body(PaymentRequired.code, flows.SEAT_HELD_MESSAGE, checkout.details())
    return await http.answer(
        session, user_id, idempotency_key, status.HTTP_402_PAYMENT_REQUIRED, payload
    )


async def list_bookings(
    tenant: OptionalTenant,
    user: CurrentUser,
    session: DbSession,
    status_filter: Annotated[schemas.BookingStatus | None, Query(alias="status")] = None,
    start_from: Annotated[datetime | None, Query(alias="from")] = None,
    start_to: Annotated[datetime | None, Query(alias="to")] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> list[schemas.BookingOut]:
    """Your bookings: at the studio in context, or at every studio you belong to."""
    tenant_ids = (
        [tenant.id]
        if tenant
        else [
            role.tenant_id for role in (await accounts_service.profile(session, user)).tenant_roles
        ]
    )
    found: list[schemas.BookingOut] = []
    for tenant_id in tenant_ids:
        # The request's own studio, if any, is the only one and is in context already.
        async with tenancy.scope(session, tenant_id):
            found += await reading.list_bookings(
                session,
                user.id,
                status=status_filter,
                start_from=start_from,
                start_to=start_to,
                limit=limit,
            )
    return sorted(found, key=lambda b: b.start_time)[:limit]


async def _actor(session: DbSession, user: User, tenant_id: uuid.UUID) -> service.Actor:
    membership = await membership_of(session, tenant_id, user.id)
    return service.Actor(user=user, is_staff=bool(membership and membership.allows("admin")))


async def get_booking(
    booking_id: uuid.UUID, tenant: OptionalTenant, user: CurrentUser, session: DbSession
) -> schemas.BookingOut:
    """One booking: your own, or any in your studio for instructors and above (send the
    studio as path, X-Tenant-ID or host)."""
    booking = await reading.visible_booking(session, user.id, booking_id, staff="instructor")
    return await reading.booking_out(session, booking)


async def cancel_booking(
    booking_id: uuid.UUID,
    request: Request,
    tenant: OptionalTenant,
    user: CurrentUser,
    session: DbSession,
    reason: Annotated[str | None, Query(max_length=500)] = None,
) -> schemas.BookingOut:
    """Cancel. Inside the cancellation window your credits come back; later, the studio's
    late-cancel policy applies (credits forfeited by default). Staff may cancel anyone's
    booking with a reason, always with a refund. A freed seat goes to the waitlist."""
    booking = await reading.visible_booking(session, user.id, booking_id, staff="admin")
    actor = await _actor(session, user, booking.tenant_id)
    return await service.cancel(session, app_settings(request), booking_id, actor, reason)


async def booking_qr(
    booking_id: uuid.UUID, tenant: OptionalTenant, user: CurrentUser, session: DbSession
) -> Response:
    """The check-in code as an SVG QR image, large enough to scan from a phone."""
    booking = await reading.visible_booking(session, user.id, booking_id, staff="instructor")
    if not booking.qr_code:
        raise BookingNotFound(
            "This booking has no check-in code (not confirmed).", code="NO_CHECKIN_CODE"
        )
    svg = segno.make(booking.qr_code, error="m").svg_inline(scale=8, border=2)
    return Response(
        svg, media_type="image/svg+xml", headers={"Cache-Control": "private, max-age=300"}
    )


async def occurrence_roster(
    schedule_id: uuid.UUID,
    _tenant: Annotated[TenantRef, Depends(staff_or_key("instructor", BOOKINGS_READ))],
    session: DbSession,
) -> list[schemas.RosterEntry]:
    """Who is booked and waitlisted (instructors and above, or an API key with
    bookings:read)."""
    return [schemas.RosterEntry(**row) for row in await reading.roster(session, schedule_id)]


for prefix in ("/tenants/{slug}", ""):
    router.add_api_route(
        f"{prefix}/bookings",
        create_booking,
        methods=["POST"],
        status_code=201,
        response_model=schemas.BookingOut,
        responses=BOOKING_ERRORS,
    )
    router.add_api_route(
        f"{prefix}/bookings",
        list_bookings,
        methods=["GET"],
        response_model=list[schemas.BookingOut],
        responses=errors(401, 404, 422),
    )
    router.add_api_route(
        f"{prefix}/bookings/{{booking_id}}",
        get_booking,
        methods=["GET"],
        response_model=schemas.BookingOut,
        responses=errors(401, 404, 422),
    )
    router.add_api_route(
        f"{prefix}/bookings/{{booking_id}}",
        cancel_booking,
        methods=["DELETE"],
        response_model=schemas.BookingOut,
        responses=errors(401, 404, 409, 422),
    )
    router.add_api_route(
        f"{prefix}/bookings/{{booking_id}}/qr.svg",
        booking_qr,
        methods=["GET"],
        response_class=Response,
        responses=errors(401, 404, 422),
    )
router.add_api_route(
    "/tenants/{slug}/schedules/{schedule_id}/bookings",
    occurrence_roster,
    methods=["GET"],
    response_model=list[schemas.RosterEntry],
    responses=errors(401, 403, 404, 422),
    tags=["bookings"],
)


# --- a member's calendar feed -------------------------------------------------------------


def _feed(request: Request, user: User) -> schemas.CalendarFeed:
    url = calendar.feed_url(app_settings(request), user)
    return schemas.CalendarFeed(url=url, webcal_url="webcal://" + url.split("://", 1)[1])


@router.get("/users/profile/calendar", response_model=schemas.CalendarFeed, responses=errors(401))
async def my_calendar(user: CurrentUser, request: Request) -> schemas.CalendarFeed:
    """The secret address of your bookings feed, to add to Google or Apple Calendar."""
    return _feed(request, user)


@router.post(
    "/users/profile/calendar/reset", response_model=schemas.CalendarFeed, responses=errors(401)
)
async def reset_calendar(
    user: CurrentUser, session: DbSession, request: Request
) -> schemas.CalendarFeed:
    """A new secret address; the old one stops working (if it was shared by mistake)."""
    user.calendar_feed_version += 1
    await session.flush()
    return _feed(request, user)


@router.get(
    "/calendar/{token}.ics",
    response_class=Response,
    responses=errors(404),
    summary="A member's bookings as iCalendar (the URL is the secret)",
)
async def calendar_feed(token: str, session: DbSession, request: Request) -> Response:
    user = await calendar.user_for_token(session, app_settings(request), token)
    if user is None:
        raise NotFound("No calendar at this address; it may have been reset.")
    return Response(
        await calendar.feed(session, user),
        media_type="text/calendar; charset=utf-8",
        headers={"Cache-Control": "private, max-age=300"},
    )
