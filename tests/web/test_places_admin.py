"""An owner's places from the web: locations (address, map position) and rooms added,
edited, retired and reopened through the scheduling service; every bad input answered in
the page (or 404) with nothing changed; staff below admin refused."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from studioloop.config import Settings
from studioloop.scheduling import geocoding
from tests.booking.conftest import BookingStudio
from tests.conftest import Api, Owner
from tests.fakes.nominatim import FakeNominatim
from tests.web.test_admin_pages import _as, studio  # noqa: F401  (fixtures)

HTML = {"accept": "text/html"}


@pytest.fixture
def nominatim(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeNominatim]:
    geocoding._answers.clear()
    with FakeNominatim() as fake:
        monkeypatch.setattr(settings, "geocoder_url", fake.url)
        yield fake
    geocoding._answers.clear()


def _place(**fields: str) -> dict[str, str]:
    empty = ("street", "city", "province", "postal_code", "country", "latitude", "longitude")
    return {**dict.fromkeys(empty, ""), **fields}


async def test_a_studio_without_places_adds_one_with_a_room_and_offers_it_on_classes(
    web: httpx.AsyncClient,
    api: Api,
    owner_db: Owner,
) -> None:
    owner = await api.signup(first_name="Owner")
    await api.create_tenant(owner, "bare-loop", name="Bare Loop")
    token = await _as(web, owner, "/s/bare-loop/admin/classes")
    classes = (await web.get("/s/bare-loop/admin/classes")).text
    assert 'href="/s/bare-loop/admin/places#add">Add a location</a>' in classes
    page = await web.get("/s/bare-loop/admin/places")
    assert page.status_code == 200 and "No places yet" in page.text
    assert 'href="/s/bare-loop/admin/places">Places</a>' in page.text  # in the menu

    good = _place(name="Sea Point", street="1 Beach Rd", city="Cape Town", country="za")
    good |= {"latitude": "-33,9153", "longitude": "18.3856", "csrf_token": token}
    refusals: list[tuple[dict[str, str], str, str]] = [
        ({"name": ""}, "new-name-error", "Fill this in."),
        ({"name": "Sea\x00Point"}, "new-name-error", "Remove the invisible NUL character"),
        ({"city": "Cape\x00Town"}, "new-city-error", "Remove the invisible NUL character"),
        ({"latitude": "north"}, "new-latitude-error", "A latitude is a number from -90 to 90"),
        ({"latitude": "95"}, "new-latitude-error", "A latitude is a number from -90 to 90"),
        ({"longitude": "inf"}, "new-longitude-error", "A longitude is a number from -180"),
        ({"longitude": ""}, "form-error", "Give both latitude and longitude, or neither."),
        ({"country": "ZAF"}, "new-country-error", "at most 2 characters"),
        ({"csrf_token": "forged"}, "", ""),
    ]
    for change, where, words in refusals:
        refused = await web.post("/s/bare-loop/admin/places", data={**good, **change})
        if not where:
            assert refused.status_code == 403, refused.text  # the CSRF check
            continue
        assert refused.status_code == 400, (change, refused.text)
        assert f'id="{where}"' in refused.text and words in refused.text, change
        assert 'value="1 Beach Rd"' in refused.text  # what was typed is kept
    assert owner_db.value("SELECT count(*) FROM locations") == 0

    added = await web.post("/s/bare-loop/admin/places", data=good)
    assert added.status_code == 303, added.text
    location_id, address, lat, lng = owner_db.rows(
        "SELECT id, address, latitude, longitude FROM locations"
    )[0]
    assert added.headers["location"] == f"/s/bare-loop/admin/places?done=added#place-{location_id}"
    assert address == {"street": "1 Beach Rd", "city": "Cape Town", "country": "ZA"}
    assert (lat, lng) == (-33.9153, 18.3856)
    shown = (await web.get(added.headers["location"])).text
    assert "The place is added." in shown and "1 Beach Rd, Cape Town, ZA" in shown
    assert "On the map at -33.91530, 18.38560" in shown
    again = await web.post("/s/bare-loop/admin/places", data=good)
    assert again.status_code == 400 and "Another one here already has this name." in again.text

    rooms = f"/s/bare-loop/admin/places/{location_id}/rooms"
    for capacity in ("0", "many", ""):
        bad = await web.post(
            rooms, data={"csrf_token": token, "name": "Deck", "capacity": capacity}
        )
        assert bad.status_code == 400
        assert f'id="new-room-{location_id}-capacity-error"' in bad.text
        assert "Enter how many people the room holds" in bad.text
    nul = await web.post(rooms, data={"csrf_token": token, "name": "De\x00ck", "capacity": "12"})
    assert nul.status_code == 400 and "Remove the invisible NUL character" in nul.text
    nameless = await web.post(rooms, data={"csrf_token": token, "name": " ", "capacity": "12"})
    assert (
        nameless.status_code == 400 and f'id="new-room-{location_id}-name-error"' in nameless.text
    )
    assert owner_db.value("SELECT count(*) FROM rooms") == 0
    room = await web.post(rooms, data={"csrf_token": token, "name": "Deck", "capacity": "15"})
    assert room.status_code == 303
    assert owner_db.rows("SELECT name, capacity FROM rooms") == [("Deck", 15)]

    classes = (await web.get("/s/bare-loop/admin/classes")).text
    assert "Sea Point · Deck (15 places)" in classes and "Add a location</a>" not in classes


async def test_editing_retiring_and_reopening_places_and_rooms(
    web: httpx.AsyncClient,
    studio: BookingStudio,  # noqa: F811
    owner_db: Owner,
) -> None:
    token = await _as(web, studio.owner, "/s/loop-yoga/admin/places")
    page = (await web.get("/s/loop-yoga/admin/places")).text
    assert "Main studio" in page and "Studio A" in page and "20 people" in page
    place = f"/s/loop-yoga/admin/places/{studio.location_id}"
    form = _place(name="Main studio", city="Cape Town", latitude="-33.92", longitude="18.42")
    form["csrf_token"] = token

    # A new name and street with the same position; then the position cleared.
    saved = await web.post(place, data={**form, "name": "Main hall", "street": "3 Long St"})
    assert saved.status_code == 303
    assert owner_db.rows(
        "SELECT name, address, latitude FROM locations WHERE id = %s", studio.location_id
    ) == [("Main hall", {"street": "3 Long St", "city": "Cape Town"}, -33.92)]
    half = await web.post(place, data={**form, "name": "Main hall", "longitude": ""})
    assert half.status_code == 400 and "Give both latitude and longitude" in half.text
    cleared = await web.post(
        place, data={**form, "name": "Main hall", "latitude": "", "longitude": ""}
    )
    assert cleared.status_code == 303
    assert (
        owner_db.value("SELECT latitude FROM locations WHERE id = %s", studio.location_id) is None
    )
    warned = (await web.get("/s/loop-yoga/admin/places")).text
    assert "No position on the map:" in warned

    # A room made smaller than a class already promised in it: the service refuses.
    promised = await studio.make_class()  # 12 places, in Studio A
    await studio.schedule_at(promised["id"], datetime.now(UTC) + timedelta(days=2))
    room = f"/s/loop-yoga/admin/rooms/{studio.room_id}"
    small = await web.post(room, data={"csrf_token": token, "name": "Studio A", "capacity": "5"})
    assert small.status_code == 400
    assert "Future classes in this room hold more people than the new capacity." in small.text
    renamed = await web.post(room, data={"csrf_token": token, "name": "Loft", "capacity": "25"})
    assert renamed.status_code == 303
    assert owner_db.rows("SELECT name, capacity FROM rooms WHERE id = %s", studio.room_id) == [
        ("Loft", 25)
    ]

    # Retired: off the class forms; open again: back.
    assert (
        await web.post(f"{room}/active", data={"csrf_token": token, "active": "0"})
    ).status_code == 303
    assert "Main hall · Loft" not in (await web.get("/s/loop-yoga/admin/classes")).text
    retire = await web.post(f"{place}/active", data={"csrf_token": token, "active": "0"})
    assert retire.status_code == 303 and retire.headers["location"].endswith(
        f"?done=retired#place-{studio.location_id}"
    )
    classes = (await web.get("/s/loop-yoga/admin/classes")).text
    assert f'<option value="{studio.location_id}"' not in classes
    listed = (await web.get(retire.headers["location"])).text
    assert "The place is retired" in listed and "Open this place again" in listed
    odd = await web.post(f"{place}/active", data={"csrf_token": token, "active": "maybe"})
    assert odd.status_code == 400 and "Retire it or open it again." in odd.text
    for target in (f"{place}/active", f"{room}/active"):
        assert (
            await web.post(target, data={"csrf_token": token, "active": "1"})
        ).status_code == 303
    assert owner_db.rows("SELECT bool_and(is_active) FROM locations") == [(True,)]
    assert "Main hall · Loft (25 places)" in (await web.get("/s/loop-yoga/admin/classes")).text


async def test_another_studios_places_and_bad_ids_are_not_found(
    web: httpx.AsyncClient,
    studio: BookingStudio,  # noqa: F811
    api: Api,
    owner_db: Owner,
) -> None:
    other_owner = await api.signup(first_name="Other")
    await api.create_tenant(other_owner, "far-loop")
    theirs = await api.client.post(
        "/api/v1/tenants/far-loop/locations",
        headers=other_owner["headers"],
        json={"name": "Far hall", "address": {"city": "Durban"}},
    )
    their_room = await api.client.post(
        f"/api/v1/tenants/far-loop/locations/{theirs.json()['id']}/rooms",
        headers=other_owner["headers"],
        json={"name": "Far room", "capacity": 9},
    )
    other_location, other_room = theirs.json()["id"], their_room.json()["id"]
    token = await _as(web, studio.owner, "/s/loop-yoga/admin/places")
    assert "Far hall" not in (await web.get("/s/loop-yoga/admin/places")).text
    place_form = {**_place(name="Mine now"), "csrf_token": token}
    room_form = {"csrf_token": token, "name": "Mine now", "capacity": "3"}
    for path, data, words in [
        (f"/s/loop-yoga/admin/places/{other_location}", place_form, "That place is not one"),
        (
            f"/s/loop-yoga/admin/places/{other_location}/active",
            {"csrf_token": token, "active": "0"},
            "That place is not one",
        ),
        (f"/s/loop-yoga/admin/places/{other_location}/rooms", room_form, "That place is not one"),
        ("/s/loop-yoga/admin/places/nope", place_form, "That place is not one"),
        (f"/s/loop-yoga/admin/places/{uuid.uuid4()}/rooms", room_form, "That place is not one"),
        (f"/s/loop-yoga/admin/rooms/{other_room}", room_form, "That room is not one"),
        (
            f"/s/loop-yoga/admin/rooms/{other_room}/active",
            {"csrf_token": token, "active": "0"},
            "That room is not one",
        ),
        ("/s/loop-yoga/admin/rooms/12345", room_form, "That room is not one"),
        (f"/s/loop-yoga/admin/rooms/{other_room}", {**room_form, "name": ""}, "That room is not"),
    ]:
        refused = await web.post(path, data=data)
        assert refused.status_code == 404, (path, refused.text)
        assert words in refused.text, path
    assert owner_db.rows("SELECT name, is_active FROM locations WHERE id = %s", other_location) == [
        ("Far hall", True)
    ]
    assert owner_db.rows(
        "SELECT name, capacity, is_active FROM rooms WHERE id = %s", other_room
    ) == [("Far room", 9, True)]
    assert owner_db.value("SELECT count(*) FROM rooms WHERE name = 'Mine now'") == 0


async def test_an_address_alone_is_looked_up_by_the_services_geocoder(
    nominatim: FakeNominatim,
    web: httpx.AsyncClient,
    api: Api,
    owner_db: Owner,
) -> None:
    owner = await api.signup(first_name="Owner")
    await api.create_tenant(owner, "map-loop")
    token = await _as(web, owner, "/s/map-loop/admin/places")
    page = (await web.get("/s/map-loop/admin/places")).text
    assert "Leave both empty and we look it up from the address" in page
    address = _place(street="12 Main Road", city="Cape Town", province="Western Cape", country="ZA")
    added = await web.post(
        "/s/map-loop/admin/places", data={**address, "name": "City", "csrf_token": token}
    )
    assert added.status_code == 303
    location_id, lat, lng = owner_db.rows("SELECT id, latitude, longitude FROM locations")[0]
    assert (lat, lng) == (-33.9249, 18.4241)
    # A new address with the position left as it was is looked up again (the old one may be
    # miles off); one the geocoder does not know keeps what it had.
    moved = {
        **address,
        "name": "City",
        "street": "",
        "city": "Sea Point",
        "province": "",
        "country": "",
    }
    moved |= {"latitude": repr(lat), "longitude": repr(lng), "csrf_token": token}
    assert (
        await web.post(f"/s/map-loop/admin/places/{location_id}", data=moved)
    ).status_code == 303
    assert owner_db.rows("SELECT latitude, longitude FROM locations") == [(-33.9153, 18.3856)]
    assert nominatim.queries[-1]["q"] == "Sea Point"


async def test_instructors_and_members_cannot_open_or_change_places(
    web: httpx.AsyncClient,
    studio: BookingStudio,  # noqa: F811
    owner_db: Owner,
) -> None:
    instructor: dict[str, Any] = studio.instructor
    token = await _as(web, instructor, "/my/bookings")
    refused = await web.get("/s/loop-yoga/admin/places", headers=HTML)
    assert refused.status_code == 403 and "an instructor at" in refused.text
    posted = await web.post(
        "/s/loop-yoga/admin/places",
        data={**_place(name="Sneaky"), "csrf_token": token},
        headers=HTML,
    )
    assert posted.status_code == 403
    renamed = await web.post(
        f"/s/loop-yoga/admin/rooms/{studio.room_id}",
        data={"csrf_token": token, "name": "Sneaky", "capacity": "2"},
    )
    assert renamed.status_code == 403
    schedule = (await web.get("/s/loop-yoga/staff/schedule")).text
    assert "/s/loop-yoga/admin/places" not in schedule  # not in an instructor's menu
    web.cookies.clear()
    member_token = await _as(web, studio.member, "/my/bookings")
    posted = await web.post(
        "/s/loop-yoga/admin/places", data={**_place(name="Sneaky"), "csrf_token": member_token}
    )
    assert posted.status_code == 403
    assert owner_db.value("SELECT count(*) FROM locations WHERE name = 'Sneaky'") == 0
    assert owner_db.value("SELECT count(*) FROM rooms WHERE name = 'Sneaky'") == 0
