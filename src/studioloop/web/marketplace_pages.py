"""The marketplace's public pages: find a class near you across studios, and book it with
universal credits.

The search is a plain GET form, so it works without JavaScript and every result page has
an address to share; "Use my location" (static/js/app.js) fills in the coordinates from
the browser. A place name is looked up only when the operator has set up a geocoder.
Results are a list (no map tiles: nothing here calls a third party).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any
from urllib.parse import quote, urlencode
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from studioloop.accounts.models import User
from studioloop.booking import flows, reading as booking_reading
from studioloop.core.errors import AppError
from studioloop.core.money import format_money
from studioloop.credits import universal
from studioloop.db.session import DbSession
from studioloop.marketplace import search, service as marketplace
from studioloop.marketplace.schemas import ListingOut, MarketplaceBookingOut
from studioloop.scheduling import geocoding
from studioloop.tenants import content
from studioloop.web.csrf import CSRF_FIELD, check_csrf
from studioloop.web.forms import attempt
from studioloop.web.routes import render
from studioloop.web.session import web_user
from studioloop.web.structured_data import class_event, json_ld, place

router = APIRouter(include_in_schema=False)
RADII = (2, 5, 10, 25, 50)
WHEN = {"today": 1, "week": 7, "fortnight": 14}
SORTS = {"distance": "Nearest", "start": "Soonest", "price": "Fewest credits"}
PAGE_SIZE = 20


@dataclass(frozen=True)
class Result:
    """A listing as a person reads it, on the studio's wall clock."""

    item: ListingOut
    day: str
    time: str
    ends: str
    distance: str | None
    spots: str
    price: str

    @property
    def card_only(self) -> bool:
        """Sold by card only: no credits buy it (the booking decision refuses them)."""
        return self.item.credits == 0 and self.item.price is not None


def _result(item: ListingOut) -> Result:
    zone = ZoneInfo(item.timezone)
    start, end = item.start_time.astimezone(zone), item.end_time.astimezone(zone)
    distance = None
    if item.distance_km is not None:
        distance = (
            f"{round(item.distance_km * 1000)} m"
            if item.distance_km < 1
            else f"{item.distance_km:.1f} km"
        )
    spots = (
        "Full"
        if item.spots_available <= 0
        else f"{item.spots_available} spot{'s' if item.spots_available != 1 else ''} left"
    )
    price = f"{item.credits} credit{'s' if item.credits != 1 else ''}"
    if item.credits == 0:
        price = "Free"
    return Result(
        item,
        start.strftime("%a %d %b"),
        start.strftime("%H:%M"),
        end.strftime("%H:%M"),
        distance,
        spots,
        price,
    )


def _event(item: ListingOut, base_url: str) -> dict[str, Any]:
    studio_url = f"{base_url}/s/{item.studio.slug}"
    return class_event(
        name=item.class_name,
        description=item.description,
        start=item.start_time,
        end=item.end_time,
        url=f"{studio_url}/classes/{item.class_schedule_id}",
        location=place(
            item.location.name,
            item.location.address,
            item.location.latitude,
            item.location.longitude,
        ),
        organizer_name=item.studio.name,
        organizer_url=studio_url,
        price=item.price,
        currency=item.currency,
        spots=item.spots_available,
    )


@dataclass
class SearchForm:
    """The search form as submitted (strings, as a person typed them)."""

    q: str = ""
    near: str = ""
    lat: str = ""
    lng: str = ""
    radius: int = 10
    type: str = ""
    when: str = "week"
    spots: bool = False
    sort: str = ""

    def link(self, **changes: Any) -> str:
        values = {**self.__dict__, **changes}
        values["spots"] = "1" if values["spots"] else ""
        return "/marketplace?" + urlencode({k: v for k, v in values.items() if v not in ("", None)})


def _coordinate(text: str, low: float, high: float) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if low <= value <= high else None


async def _wallet(session: DbSession, user: User | None) -> dict[str, Any] | None:
    """The member's universal credits and when each lot runs out."""
    if user is None:
        return None
    account, lots, _ = await universal.universal_statement(session, user.id, limit=1)
    return {"balance": account.balance if account else 0, "lots": lots}


async def _page(
    request: Request,
    session: DbSession,
    form: SearchForm,
    *,
    cursor: str | None = None,
    problem: AppError | None = None,
    status_code: int = 200,
) -> Response:
    settings = request.app.state.settings
    user = await web_user(request, session)
    notice: str | None = None
    lat = _coordinate(form.lat, -90, 90)
    lng = _coordinate(form.lng, -180, 180)
    if (lat is None or lng is None) and form.near.strip():
        found, refused = await attempt(
            session, lambda: geocoding.locate(settings, form.near.strip())
        )
        if refused is not None:
            notice = refused.message
        elif found is not None:
            lat, lng = found.latitude, found.longitude
            form.lat, form.lng = f"{lat:.5f}", f"{lng:.5f}"
    if lat is None or lng is None:
        lat = lng = None
    now = datetime.now(UTC)
    sort = form.sort if form.sort in SORTS else ""
    if sort == "distance" and lat is None:
        sort = ""
    filters = search.Filters(
        lat=lat,
        lng=lng,
        radius_km=float(form.radius if form.radius in RADII else 10),
        class_type=form.type or None,
        q=form.q or None,
        start_from=now,
        start_to=now + timedelta(days=WHEN.get(form.when, 7)),
        has_spots=form.spots,
        sort=sort or ("distance" if lat is not None else "start"),
    )
    page, refused = await attempt(
        session,
        lambda: search.search(session, settings, filters, cursor=cursor, limit=PAGE_SIZE),
    )
    if refused is not None:  # a mangled cursor: start again from the first page
        page = await search.search(session, settings, filters, cursor=None, limit=PAGE_SIZE)
    assert page is not None
    base_url = str(request.base_url).rstrip("/")
    booked = (
        await booking_reading.booked_among(
            session, user.id, [item.class_schedule_id for item in page.items]
        )
        if user
        else set()
    )
    context = {
        "booked": booked,
        "user": user,
        "form": form,
        "located": lat is not None,
        "results": [_result(item) for item in page.items],
        "photos": await content.listing_photos(
            session, [(item.studio.id, item.class_id) for item in page.items]
        ),
        "next_link": form.link(cursor=page.next_cursor) if page.next_cursor else None,
        "events": json_ld([_event(item, base_url) for item in page.items]),
        "wallet": await _wallet(session, user),
        "radii": RADII,
        "sorts": SORTS,
        "notice": notice,
        "problem": problem,
        "here": form.link(),
        "money": format_money,
    }
    return render(request, "marketplace/search.html", context, status_code=status_code)


@router.get("/marketplace", response_class=HTMLResponse)
async def marketplace_search(
    request: Request,
    session: DbSession,
    q: Annotated[str, Query(max_length=100)] = "",
    near: Annotated[str, Query(max_length=200)] = "",
    lat: Annotated[str, Query(max_length=20)] = "",
    lng: Annotated[str, Query(max_length=20)] = "",
    radius: Annotated[str, Query(max_length=5)] = "10",
    type: Annotated[str, Query(max_length=40)] = "",
    when: Annotated[str, Query(max_length=20)] = "week",
    spots: Annotated[str, Query(max_length=5)] = "",
    sort: Annotated[str, Query(max_length=20)] = "",
    cursor: Annotated[str | None, Query(max_length=500)] = None,
) -> Response:
    # A hand-edited address gets the default radius, not an error page.
    km = int(radius) if radius.isdigit() else 10
    form = SearchForm(q, near, lat, lng, km, type, when, bool(spots), sort)
    return await _page(request, session, form, cursor=cursor)


@router.post("/marketplace/book", response_class=HTMLResponse)
async def marketplace_book(
    request: Request,
    session: DbSession,
    occurrence_id: Annotated[uuid.UUID, Form()],
    pay_with: Annotated[str, Form(max_length=10)] = "credits",
    back: Annotated[str, Form(max_length=1000)] = "/marketplace",
    confirmed: Annotated[str | None, Form(max_length=1)] = None,
    csrf: Annotated[str | None, Form(alias=CSRF_FIELD)] = None,
) -> Response:
    check_csrf(request, csrf)
    back = back if back.startswith("/marketplace") else "/marketplace"
    user = await web_user(request, session)
    if user is None:
        return RedirectResponse(f"/login?next={quote(back)}", status_code=303)
    settings = request.app.state.settings
    if pay_with != "card" and not confirmed:
        # Universal credits are spent only after the member has seen what and how many
        # (a card payment's checkout is its own confirmation).
        found, refused = await attempt(
            session, lambda: marketplace.quote(session, settings, user, occurrence_id)
        )
        if refused is not None or found is None:
            status_code = refused.status_code if refused else 409
            return await _page(
                request, session, _form_from(back), problem=refused, status_code=status_code
            )
        context = {
            "user": user,
            "quote": found,
            "wallet": await _wallet(session, user),
            "occurrence_id": occurrence_id,
            "back": back,
            "money": format_money,
        }
        return render(request, "marketplace/confirm.html", context)

    async def book() -> MarketplaceBookingOut | flows.Checkout:
        outcome = await marketplace.book(
            session,
            settings,
            user,
            occurrence_id,
            credits_to_use=None,
            pay_with="card" if pay_with == "card" else "credits",
        )
        return await flows.finish(session, settings, str(request.base_url).rstrip("/"), outcome)

    booking, refused = await attempt(session, book)
    if refused is not None or booking is None:
        form = _form_from(back)
        status_code = refused.status_code if refused else 409
        return await _page(request, session, form, problem=refused, status_code=status_code)
    if isinstance(booking, flows.Checkout):  # the seat is held: off to pay for it
        return RedirectResponse(booking.checkout_url or back, status_code=303)
    return RedirectResponse(f"/my/bookings/{booking.id}?new=1", status_code=303)


def _form_from(link: str) -> SearchForm:
    """The search a booking was made from, to show it again with the refusal."""
    from urllib.parse import parse_qs, urlsplit

    values = {k: v[0] for k, v in parse_qs(urlsplit(link).query).items()}
    try:
        radius = int(values.get("radius", "10"))
    except ValueError:
        radius = 10
    return SearchForm(
        q=values.get("q", "")[:100],
        near=values.get("near", "")[:200],
        lat=values.get("lat", "")[:20],
        lng=values.get("lng", "")[:20],
        radius=radius,
        type=values.get("type", "")[:40],
        when=values.get("when", "week")[:20],
        spots=bool(values.get("spots")),
        sort=values.get("sort", "")[:20],
    )


@router.get("/my/credits/universal", response_class=HTMLResponse)
async def universal_history(request: Request, session: DbSession) -> Response:
    """The member's universal credits: what they are, what is left and until when, and
    every grant, spend, refund and expiry."""
    user = await web_user(request, session)
    if user is None:
        return RedirectResponse("/login?next=/my/credits/universal", status_code=303)
    account, lots, history = await universal.universal_statement(session, user.id, limit=100)
    context = {
        "user": user,
        "balance": account.balance if account else 0,
        "lots": lots,
        "history": history,
    }
    return render(request, "my/universal_credits.html", context)
