"""The studio's places for its admins: locations (an address and a position on the map)
and their rooms, added, edited, retired and reopened from the web.

Every decision is the scheduling service's (`create_location`, `update_location`,
`create_room`, `update_room`), the same calls the API makes: it looks the coordinates up
from the address when the operator set up a geocoder and none were given, refuses a name
already used and a room too small for the classes already promised in it. These pages
read the form into the API's schemas, show a refusal beside the form, and change nothing
then. A place retired stays on the classes already there; class forms stop offering it
and the marketplace's distance search stops finding classes at it.
"""

from __future__ import annotations

import math
import uuid
from typing import Any, TypeVar

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.datastructures import FormData

from studioloop.accounts.models import User
from studioloop.core.errors import AppError
from studioloop.db.session import DbSession
from studioloop.scheduling import service as scheduling
from studioloop.scheduling.geocoding import address_line
from studioloop.scheduling.schemas import (
    LocationIn,
    LocationOut,
    LocationUpdate,
    RoomIn,
    RoomOut,
    RoomUpdate,
)
from studioloop.tenants.cache import TenantRef
from studioloop.tenants.dependencies import CurrentTenant
from studioloop.tenants.schemas import Address
from studioloop.web.forms import attempt, parse
from studioloop.web.owner_pages import admin_form, admin_of
from studioloop.web.routes import render
from studioloop.web.studio_pages import studio_context
from studioloop.web.timetable_admin import field_problem

router = APIRouter(include_in_schema=False)
ADDRESS_FIELDS = ("street", "city", "province", "postal_code", "country")
COORDINATES = ("latitude", "longitude")
LOCATION_FIELDS = ("name", *ADDRESS_FIELDS, *COORDINATES)
ROOM_FIELDS = ("name", "capacity")
RoomForm = TypeVar("RoomForm", RoomIn, RoomUpdate)
COORDINATE_HINTS = {
    "latitude": "A latitude is a number from -90 to 90, such as -33.9249.",
    "longitude": "A longitude is a number from -180 to 180, such as 18.4241.",
}
NUL_MESSAGE = "Remove the invisible NUL character from this text."
NO_LOCATION = "That place is not one of this studio's."
NO_ROOM = "That room is not one of this studio's."
ACTIVE = {"0": False, "1": True}
NOTICES = {
    "added": "The place is added. Add its rooms, then choose it on your classes.",
    "saved": "Saved.",
    "retired": (
        "The place is retired: class forms no longer offer it and the marketplace no longer "
        "finds classes there by distance. Classes already there keep it."
    ),
    "reopened": "The place is open again.",
    "room_added": "The room is added.",
    "room_saved": "The room is saved.",
    "room_retired": "The room is retired: class forms no longer offer it.",
    "room_reopened": "The room is open again.",
}


async def places_page(
    request: Request,
    session: DbSession,
    tenant: TenantRef,
    user: User,
    *,
    errors: dict[str, dict[str, str]] | None = None,
    typed: dict[str, dict[str, str]] | None = None,
    error: str | None = None,
    notice: str | None = None,
    status_code: int = 200,
) -> Response:
    """The Places page; after a refusal, the form's errors and what was typed, by form key
    (`new`, `place-{id}`, `new-room-{location id}`, `room-{id}`)."""
    locations = await scheduling.list_locations(session, include_inactive=True)
    context = {
        **await studio_context(session, tenant),
        "user": user,
        "locations": locations,
        "address_lines": {loc.id: address_line(loc.address) for loc in locations},
        "saved_values": {loc.id: _as_typed(loc) for loc in locations},
        "errors": errors or {},
        "typed": typed or {},
        "error": error,
        "notice": notice,
        "geocoder": bool(request.app.state.settings.geocoder_url),
    }
    return render(request, "owner/places.html", context, status_code=status_code)


def _as_typed(location: LocationOut) -> dict[str, str]:
    """A location as its edit form shows it before anything is typed."""
    values = {name: str(location.address.get(name) or "") for name in ADDRESS_FIELDS}
    values["name"] = location.name
    for axis in COORDINATES:
        value = getattr(location, axis)
        values[axis] = "" if value is None else repr(value)
    return values


def _done(tenant: TenantRef, what: str, anchor: str = "") -> Response:
    target = f"/s/{tenant.slug}/admin/places?done={what}"
    return RedirectResponse(target + (f"#{anchor}" if anchor else ""), status_code=303)


def _uuid(raw: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(raw)
    except ValueError:
        return None


def _typed(form: FormData, names: tuple[str, ...]) -> tuple[dict[str, str], dict[str, str]]:
    """The fields as typed (trimmed), and a NUL character refused where it is: PostgreSQL
    cannot store one, and only JSON bodies are checked for it before a page sees them."""
    typed = {name: str(form.get(name) or "").strip() for name in names}
    return typed, {name: NUL_MESSAGE for name, value in typed.items() if "\x00" in value}


def _number(text: str) -> float | None:
    """A coordinate as typed: `-33.9249`, also with a decimal comma or a typographic minus."""
    cleaned = text.replace("\u2212", "-").replace(" ", "")
    if "," in cleaned and "." not in cleaned:
        cleaned = cleaned.replace(",", ".")
    try:
        value = float(cleaned)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def _location_values(
    typed: dict[str, str],
) -> tuple[Address | None, dict[str, float | None], dict[str, str]]:
    """The form's address (as the API's schema takes it) and coordinates, with what is
    wrong with them by field."""
    fields = {name: typed[name] or None for name in ADDRESS_FIELDS}
    if fields["country"]:
        fields["country"] = fields["country"].upper()
    address, errors = parse(Address, fields)
    coordinates: dict[str, float | None] = {}
    for axis in COORDINATES:
        coordinates[axis] = _number(typed[axis]) if typed[axis] else None
        if typed[axis] and coordinates[axis] is None:
            errors[axis] = COORDINATE_HINTS[axis]
    return address, coordinates, errors


def _in_words(errors: dict[str, str]) -> dict[str, str]:
    """The schema's refusals of a coordinate (out of range) in the form's words."""
    return {k: COORDINATE_HINTS.get(k, v) for k, v in errors.items()}


def _refused(problem: AppError, fallback: str) -> dict[str, str]:
    if problem.code == "NAME_TAKEN":
        return {"name": "Another one here already has this name.", "form": problem.message}
    return field_problem(problem, fallback)


async def _location(session: DbSession, location_id: uuid.UUID | None) -> LocationOut | None:
    """The studio's location (open or retired), or None: another studio's is not found."""
    if location_id is None:
        return None
    found = await scheduling.list_locations(session, include_inactive=True)
    return next((loc for loc in found if loc.id == location_id), None)


@router.get("/s/{slug}/admin/places", response_class=HTMLResponse)
async def places(
    request: Request, tenant: CurrentTenant, session: DbSession, done: str = ""
) -> Response:
    """The studio's locations with their rooms, and the forms to add and change them."""
    user, refused = await admin_of(request, session, tenant)
    if refused is not None or user is None:
        return refused or Response(status_code=401)
    return await places_page(request, session, tenant, user, notice=NOTICES.get(done))


@router.post("/s/{slug}/admin/places", response_class=HTMLResponse)
async def add_location(request: Request, tenant: CurrentTenant, session: DbSession) -> Response:
    form, user, refused = await admin_form(request, session, tenant)
    if refused is not None or user is None:
        return refused or Response(status_code=401)
    typed, errors = _typed(form, LOCATION_FIELDS)
    if not errors:
        address, coordinates, errors = _location_values(typed)
        parsed, problems = parse(
            LocationIn, {"name": typed["name"], "address": address or Address(), **coordinates}
        )
        if any(axis in errors for axis in COORDINATES):
            # An unreadable coordinate reached the schema as none: "give both" would mislead.
            problems.pop("form", None)
        errors = {**_in_words(problems), **errors}
        if parsed is not None and not errors:
            settings = request.app.state.settings
            made, problem = await attempt(
                session, lambda: scheduling.create_location(session, settings, tenant.id, parsed)
            )
            if made is not None:
                return _done(tenant, "added", f"place-{made.id}")
            if problem is not None:
                errors = _refused(problem, "The place could not be added.")
    errors.setdefault("form", "Nothing was saved: see the marked fields.")
    return await places_page(
        request,
        session,
        tenant,
        user,
        errors={"new": errors},
        typed={"new": typed},
        status_code=400,
    )


def _location_changes(
    current: LocationOut, typed: dict[str, str]
) -> tuple[LocationUpdate | None, dict[str, str]]:
    """The edit form as a PATCH: only what changed, so a new address without new
    coordinates is looked up again by the service (the old position may be miles off),
    and emptied coordinates are cleared."""
    address, coordinates, errors = _location_values(typed)
    data: dict[str, Any] = {"name": typed["name"]}
    if address is not None and address.model_dump(exclude_none=True) != current.address:
        data["address"] = address
    if (coordinates["latitude"], coordinates["longitude"]) != (
        current.latitude,
        current.longitude,
    ):
        data.update(coordinates)
    parsed, problems = parse(LocationUpdate, data)
    return (parsed if not errors else None), {**_in_words(problems), **errors}


@router.post("/s/{slug}/admin/places/{location_id}", response_class=HTMLResponse)
async def edit_location(
    request: Request, tenant: CurrentTenant, session: DbSession, location_id: str
) -> Response:
    """Save a place's name, address and map position."""
    form, user, refused = await admin_form(request, session, tenant)
    if refused is not None or user is None:
        return refused or Response(status_code=401)
    current = await _location(session, _uuid(location_id))
    if current is None:
        return await places_page(request, session, tenant, user, error=NO_LOCATION, status_code=404)
    key = f"place-{current.id}"
    typed, errors = _typed(form, LOCATION_FIELDS)
    if not errors:
        changes, errors = _location_changes(current, typed)
        if changes is not None and not errors:
            settings = request.app.state.settings
            _saved, problem = await attempt(
                session,
                lambda: scheduling.update_location(session, settings, current.id, changes),
            )
            if problem is None:
                return _done(tenant, "saved", key)
            errors = _refused(problem, "The place could not be saved.")
    errors.setdefault("form", "Nothing was saved: see the marked fields.")
    return await places_page(
        request, session, tenant, user, errors={key: errors}, typed={key: typed}, status_code=400
    )


@router.post("/s/{slug}/admin/places/{location_id}/active", response_class=HTMLResponse)
async def retire_location(
    request: Request, tenant: CurrentTenant, session: DbSession, location_id: str
) -> Response:
    """`active=0` retires a place, `1` opens it again."""
    form, user, refused = await admin_form(request, session, tenant)
    if refused is not None or user is None:
        return refused or Response(status_code=401)
    current = await _location(session, _uuid(location_id))
    if current is None:
        return await places_page(request, session, tenant, user, error=NO_LOCATION, status_code=404)
    active = ACTIVE.get(str(form.get("active") or ""))
    if active is None:
        return await places_page(
            request, session, tenant, user, error="Retire it or open it again.", status_code=400
        )
    settings = request.app.state.settings
    _saved, problem = await attempt(
        session,
        lambda: scheduling.update_location(
            session, settings, current.id, LocationUpdate(is_active=active)
        ),
    )
    if problem is not None:
        return await places_page(
            request, session, tenant, user, error=problem.message, status_code=problem.status_code
        )
    return _done(tenant, "reopened" if active else "retired", f"place-{current.id}")


def _room_data(
    typed: dict[str, str], model: type[RoomForm]
) -> tuple[RoomForm | None, dict[str, str]]:
    parsed, errors = parse(model, dict(typed))
    if "capacity" in errors:
        errors["capacity"] = "Enter how many people the room holds: a whole number from 1."
    return parsed, errors


@router.post("/s/{slug}/admin/places/{location_id}/rooms", response_class=HTMLResponse)
async def add_room(
    request: Request, tenant: CurrentTenant, session: DbSession, location_id: str
) -> Response:
    form, user, refused = await admin_form(request, session, tenant)
    if refused is not None or user is None:
        return refused or Response(status_code=401)
    current = await _location(session, _uuid(location_id))
    if current is None:
        return await places_page(request, session, tenant, user, error=NO_LOCATION, status_code=404)
    key = f"new-room-{current.id}"
    typed, errors = _typed(form, ROOM_FIELDS)
    if not errors:
        parsed, errors = _room_data(typed, RoomIn)
        if parsed is not None:
            _room, problem = await attempt(
                session, lambda: scheduling.create_room(session, tenant.id, current.id, parsed)
            )
            if problem is None:
                return _done(tenant, "room_added", f"place-{current.id}")
            errors = _refused(problem, "The room could not be added.")
    errors.setdefault("form", "Nothing was saved: see the marked fields.")
    return await places_page(
        request, session, tenant, user, errors={key: errors}, typed={key: typed}, status_code=400
    )


async def _room(session: DbSession, room_id: str) -> RoomOut | None:
    """The studio's room (open or retired), or None: another studio's, like a malformed
    id, is not found."""
    ident = _uuid(room_id)
    found = await scheduling.list_locations(session, include_inactive=True)
    return next((r for loc in found for r in loc.rooms if r.id == ident), None)


@router.post("/s/{slug}/admin/rooms/{room_id}", response_class=HTMLResponse)
async def edit_room(
    request: Request, tenant: CurrentTenant, session: DbSession, room_id: str
) -> Response:
    """Save a room's name and how many people it holds (the service refuses a capacity
    below the classes already promised in it)."""
    form, user, refused = await admin_form(request, session, tenant)
    if refused is not None or user is None:
        return refused or Response(status_code=401)
    room = await _room(session, room_id)
    if room is None:
        return await places_page(request, session, tenant, user, error=NO_ROOM, status_code=404)
    key = f"room-{room.id}"
    typed, errors = _typed(form, ROOM_FIELDS)
    if not errors:
        parsed, errors = _room_data(typed, RoomUpdate)
        if parsed is not None:
            _saved, problem = await attempt(
                session, lambda: scheduling.update_room(session, room.id, parsed)
            )
            if problem is None:
                return _done(tenant, "room_saved", key)
            errors = _refused(problem, "The room could not be saved.")
    errors.setdefault("form", "Nothing was saved: see the marked fields.")
    return await places_page(
        request, session, tenant, user, errors={key: errors}, typed={key: typed}, status_code=400
    )


@router.post("/s/{slug}/admin/rooms/{room_id}/active", response_class=HTMLResponse)
async def retire_room(
    request: Request, tenant: CurrentTenant, session: DbSession, room_id: str
) -> Response:
    """`active=0` retires a room, `1` opens it again."""
    form, user, refused = await admin_form(request, session, tenant)
    if refused is not None or user is None:
        return refused or Response(status_code=401)
    room = await _room(session, room_id)
    if room is None:
        return await places_page(request, session, tenant, user, error=NO_ROOM, status_code=404)
    active = ACTIVE.get(str(form.get("active") or ""))
    if active is None:
        return await places_page(
            request, session, tenant, user, error="Retire it or open it again.", status_code=400
        )
    changes = RoomUpdate(is_active=active)
    _saved, problem = await attempt(
        session, lambda: scheduling.update_room(session, room.id, changes)
    )
    if problem is not None:
        return await places_page(
            request, session, tenant, user, error=problem.message, status_code=problem.status_code
        )
    return _done(tenant, "room_reopened" if active else "room_retired", f"room-{room.id}")
