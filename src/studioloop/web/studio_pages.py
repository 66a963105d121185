"""A studio's public pages (home, weekly timetable, class) and booking a class from them.

They are branded with the studio's logo and colour, work without JavaScript, and call the
domain services directly. The studio comes from the path (`/s/{slug}`), which also puts
its row-level security context on the request's transaction.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from markupsafe import Markup
from sqlalchemy import select

from studioloop.accounts.members import grant_role, membership_of
from studioloop.accounts.models import User
from studioloop.booking import flows, reading as booking_reading
from studioloop.booking.eligibility import booking_opens_at
from studioloop.booking.models import ACTIVE_STATUSES, Booking
from studioloop.core.money import format_money
from studioloop.credits import service as credits
from studioloop.db.session import DbSession
from studioloop.scheduling import timetable as schedule
from studioloop.scheduling.schemas import OccurrenceOut
from studioloop.scheduling.timetable import OccurrenceFilter
from studioloop.tenants import content, service as tenants_service
from studioloop.tenants.cache import TenantRef
from studioloop.tenants.dependencies import CurrentTenant
from studioloop.web.csrf import CSRF_FIELD, check_csrf
from studioloop.web.forms import attempt, brand_colour, readable_on
from studioloop.web.routes import render
from studioloop.web.session import web_user
from studioloop.web.structured_data import class_event, json_ld, place
from studioloop.web.studio_content import public_content

router = APIRouter(include_in_schema=False)


@dataclass(frozen=True)
class Slot:
    """An occurrence as a member reads it, on the studio's wall clock."""

    item: OccurrenceOut
    day: str  # "Mon 30 Nov"
    time: str  # "06:30"
    ends: str
    spots: str
    bookable: bool
    price: str
    opens: str | None = None  # booking has not opened yet: when it does (studio's clock)


def slot(item: OccurrenceOut) -> Slot:
    local = datetime.fromisoformat(item.local_start)
    ends = item.end_time.astimezone(local.tzinfo)
    now = datetime.now(UTC)
    if item.status == "cancelled":
        spots = "Cancelled"
    elif item.end_time <= now:
        spots = "Finished"
    elif item.start_time <= now:
        spots = "Under way"
    elif item.available_spots <= 0:
        spots = "Full · waitlist open"
    else:
        spots = f"{item.available_spots} spot{'s' if item.available_spots != 1 else ''} left"
    cls = item.cls
    price = f"{cls.credits_required} credit{'s' if cls.credits_required != 1 else ''}"
    if cls.credits_required == 0 and cls.price is None:
        price = "Free"
    elif cls.price is not None:
        price += f" or {format_money(cls.price, cls.currency)}"
    bookable = item.status == "scheduled" and item.start_time > now
    opens_at = booking_opens_at(item.start_time, timedelta(hours=item.booking_window_hours))
    opens = opens_at.astimezone(local.tzinfo).strftime("%a %d %b %H:%M") if now < opens_at else None
    return Slot(
        item,
        local.strftime("%a %d %b"),
        local.strftime("%H:%M"),
        ends.strftime("%H:%M"),
        spots,
        bookable,
        price,
        opens if bookable else None,
    )


def slot_events(request: Request, studio: Any, slots: list[Slot]) -> Markup:
    """schema.org Events for the classes on a studio's page (JSON-LD, for search engines)."""
    base_url = str(request.base_url).rstrip("/")
    studio_url = f"{base_url}/s/{studio.slug}"
    address = studio.address or {}
    return json_ld(
        [
            class_event(
                name=s.item.cls.name,
                description=None,
                start=s.item.start_time,
                end=s.item.end_time,
                url=f"{studio_url}/classes/{s.item.id}",
                location=place(
                    s.item.location.name if s.item.location else studio.name,
                    address,
                    None,
                    None,
                ),
                organizer_name=studio.name,
                organizer_url=studio_url,
                price=s.item.cls.price,
                currency=s.item.cls.currency,
                spots=s.item.available_spots,
                cancelled=s.item.status == "cancelled",
            )
            for s in slots
        ]
    )


async def studio_context(session: DbSession, tenant: TenantRef) -> dict[str, Any]:
    row = await tenants_service.get_tenant(session, tenant.id)
    return {
        "studio": row,
        "logo_url": f"/api/v1/tenants/{row.slug}/logo" if row.logo_key else None,
        "brand": brand_colour(row.settings or {}),
    }


@router.get("/s/{slug}", response_class=HTMLResponse)
async def studio_home(request: Request, tenant: CurrentTenant, session: DbSession) -> Response:
    now = datetime.now(UTC)
    items, _ = await schedule.list_occurrences(
        session,
        OccurrenceFilter(now, now + timedelta(days=7), include_cancelled=False),
        limit=8,
        cursor=None,
    )
    user = await web_user(request, session)
    membership = await membership_of(session, tenant.id, user.id) if user else None
    shown = await studio_context(session, tenant)
    slots = [slot(i) for i in items]
    context = {
        **shown,
        **await public_content(session, shown["studio"]),
        "class_photos": await content.class_photos(session, [s.item.cls.id for s in slots]),
        "user": user,
        "slots": slots,
        "events": slot_events(request, shown["studio"], slots),
        "is_staff": bool(membership and membership.allows("instructor")),
        "is_admin": bool(membership and membership.allows("admin")),
    }
    return render(request, "studio/home.html", context)


async def _class_page(
    request: Request,
    tenant: TenantRef,
    session: DbSession,
    occurrence_id: uuid.UUID,
    *,
    problem: dict[str, Any] | None = None,
    status_code: int = 200,
) -> Response:
    occurrence = await schedule.get_occurrence(session, occurrence_id)
    user = await web_user(request, session)
    mine = None
    if user is not None:
        mine = await session.scalar(
            select(Booking).where(
                Booking.user_id == user.id,
                Booking.class_schedule_id == occurrence_id,
                Booking.status.in_(ACTIVE_STATUSES),
            )
        )
    membership = await membership_of(session, tenant.id, user.id) if user else None
    teacher_id = occurrence.instructor.id if occurrence.instructor else None
    described = await content.teachers(session, tenant.id, described_only=True)
    context = {
        **await studio_context(session, tenant),
        "class_photo": (await content.class_photos(session, [occurrence.cls.id])).get(
            occurrence.cls.id
        ),
        "teacher": next((t for t in described if t.user_id == teacher_id), None),
        "user": user,
        "slot": slot(occurrence),
        "mine": mine,
        "problem": problem,
        "is_admin": bool(membership and membership.allows("admin")),
        "offer": await _offer(session, tenant, occurrence, user) if user else None,
    }
    return render(request, "studio/class.html", context, status_code=status_code)


@dataclass(frozen=True)
class Offer:
    """What booking costs this member, so the button says it before they press it."""

    cost: int  # credits
    balance: int
    card_price: str | None  # paid by card when the credits are not there
    hold_minutes: int  # how long a seat offered from the waitlist waits for the card
    card_only: bool = False  # no credits buy it: always paid by card

    @property
    def covered(self) -> bool:
        return not self.card_only and self.cost <= self.balance


async def _offer(
    session: DbSession, tenant: TenantRef, occurrence: OccurrenceOut, user: User
) -> Offer:
    facts, cost, card_only = await booking_reading.cost_for_member(session, occurrence.id, user.id)
    balance = await credits.balance_of(session, tenant.id, user.id)
    price = format_money(facts.price, facts.currency) if facts.price is not None else None
    hold = int(facts.seat_hold.total_seconds() // 60)
    return Offer(cost, balance, price, hold, card_only)


@router.get("/s/{slug}/classes/{occurrence_id}", response_class=HTMLResponse)
async def class_page(
    request: Request, tenant: CurrentTenant, session: DbSession, occurrence_id: uuid.UUID
) -> Response:
    return await _class_page(request, tenant, session, occurrence_id)


@router.post("/s/{slug}/classes/{occurrence_id}/book", response_class=HTMLResponse)
async def book_class(
    request: Request,
    tenant: CurrentTenant,
    session: DbSession,
    occurrence_id: uuid.UUID,
    csrf: Annotated[str | None, Form(alias=CSRF_FIELD)] = None,
    join_waitlist: Annotated[str | None, Form()] = None,
) -> Response:
    check_csrf(request, csrf)
    user = await web_user(request, session)
    here = f"/s/{tenant.slug}/classes/{occurrence_id}"
    if user is None:
        return RedirectResponse(f"/login?next={quote(here)}", status_code=303)
    if await membership_of(session, tenant.id, user.id) is None:
        # Booking makes you one of the studio's members (its staff see you, your bookings
        # are listed with the studio's).
        await grant_role(session, tenant.id, user.id, "member", actor_user_id=user.id)
    settings = request.app.state.settings
    outcome, refused = await attempt(
        session,
        lambda: flows.book_at_studio(
            session,
            settings,
            str(request.base_url).rstrip("/"),
            user.id,
            occurrence_id,
            join_waitlist=bool(join_waitlist),
        ),
    )
    if refused is not None:
        problem = {"code": refused.code, "message": refused.message, "details": refused.details}
        return await _class_page(
            request, tenant, session, occurrence_id, problem=problem, status_code=409
        )
    if isinstance(outcome, flows.Checkout):
        return RedirectResponse(outcome.checkout_url or here, status_code=303)
    assert outcome is not None
    return RedirectResponse(f"/my/bookings/{outcome.id}?new=1", status_code=303)


@router.get("/s/{slug}/brand.css")
async def brand_css(tenant: CurrentTenant, session: DbSession) -> Response:
    """The studio's colour as a stylesheet (the pages' security policy allows no inline
    styles), with text colour chosen to stay readable on it."""
    row = await tenants_service.get_tenant(session, tenant.id)
    colour = brand_colour(row.settings or {}) or "#0f766e"
    on = readable_on(colour)
    css = f":root {{ --brand: {colour}; --brand-dark: {colour}; --on-brand: {on}; }}\n"
    return Response(css, media_type="text/css", headers={"Cache-Control": "public, max-age=300"})
