"""Marketplace search: distance, filters, typos, paging, and what never shows."""

from __future__ import annotations

import pytest

from studioloop.marketplace.search import KM_PER_DEGREE_LATITUDE, bounding_box, distance_km
from tests.conftest import Api, Owner, assert_error
from tests.marketplace.conftest import SEARCH, MarketStudio

ORIGIN = (-33.90, 18.40)


def north_of(origin: tuple[float, float], km: float) -> tuple[float, float]:
    return origin[0] + km / KM_PER_DEGREE_LATITUDE, origin[1]


async def _search(api: Api, **params: object) -> dict:
    response = await api.client.get(SEARCH, params={k: v for k, v in params.items()})
    assert response.status_code == 200, response.text
    return response.json()


def _ids(page: dict) -> list[str]:
    return [item["class_schedule_id"] for item in page["items"]]


async def test_radius_edge_keeps_what_is_inside_and_drops_what_is_outside(
    market: MarketStudio, api: Api
) -> None:
    inside = await market.listing(await market.place(*north_of(ORIGIN, 4.99), "Inside"))
    outside = await market.listing(await market.place(*north_of(ORIGIN, 5.01), "Outside"))
    page = await _search(api, lat=ORIGIN[0], lng=ORIGIN[1], radius_km=5)
    assert _ids(page) == [inside["id"]]
    found = page["items"][0]
    assert found["distance_km"] == pytest.approx(4.99, abs=0.01)
    assert found["studio"]["slug"] == "sea-point-yoga"
    assert found["location"]["name"] == "Inside"
    wider = await _search(api, lat=ORIGIN[0], lng=ORIGIN[1], radius_km=5.02)
    assert _ids(wider) == [inside["id"], outside["id"]]  # nearest first


async def test_east_west_distance_uses_the_great_circle(market: MarketStudio, api: Api) -> None:
    # 0.1° of longitude is ~9.2 km at 33.9°S, not the 11.1 km it is at the equator.
    there = await market.listing(await market.place(ORIGIN[0], ORIGIN[1] + 0.1, "East"))
    expected = distance_km(ORIGIN[0], ORIGIN[1], ORIGIN[0], ORIGIN[1] + 0.1)
    assert 9.0 < expected < 9.4
    page = await _search(api, lat=ORIGIN[0], lng=ORIGIN[1], radius_km=expected + 0.05)
    assert _ids(page) == [there["id"]]
    assert page["items"][0]["distance_km"] == pytest.approx(expected, abs=0.01)
    assert _ids(await _search(api, lat=ORIGIN[0], lng=ORIGIN[1], radius_km=expected - 0.05)) == []


@pytest.mark.parametrize(
    ("lat", "lng", "radius"),
    [(90, 0, 50), (-90, 180, 200), (89.999, -179.999, 200), (-89.9, 179.9, 0.1), (0, 180, 200)],
)
async def test_near_pole_and_edge_inputs_answer(
    api: Api, lat: float, lng: float, radius: float
) -> None:
    page = await _search(api, lat=lat, lng=lng, radius_km=radius)
    assert page["items"] == []


async def test_a_studio_near_the_pole_is_found_across_longitudes(
    market: MarketStudio, api: Api
) -> None:
    polar = await market.listing(await market.place(89.95, 10.0, "Polar station"))
    # The other side of the pole: 170° of longitude away, a few km across the ice.
    page = await _search(api, lat=89.95, lng=-170.0, radius_km=20)
    assert _ids(page) == [polar["id"]]
    assert page["items"][0]["distance_km"] < 12


def test_bounding_box_widens_to_every_longitude_at_the_pole() -> None:
    assert bounding_box(89.9, 0, 50) == bounding_box(89.9, 0, 50)
    box = bounding_box(89.9, 0, 50)
    assert (box.min_lng, box.max_lng, box.max_lat) == (-180, 180, 90)
    near_equator = bounding_box(0, 0, 111.195)
    assert near_equator.max_lat == pytest.approx(1, abs=1e-3)
    assert near_equator.max_lng == pytest.approx(1, abs=1e-3)


async def test_never_lists_inactive_studios_private_or_cancelled_classes(
    market: MarketStudio, api: Api, owner_db: Owner
) -> None:
    shown = await market.listing(name="Open Flow")
    await market.listing(name="Private Session", is_private=True)
    await market.listing(name="Members Only Seats", marketplace_seats=0)
    await market.listing(name="Retired Class", is_active=False)
    cancelled = await market.listing(name="Cancelled Flow")
    response = await api.client.post(
        f"{market.base}/schedules/{cancelled['id']}/cancel",
        headers=market.owner["headers"],
        json={"reason": "Teacher ill"},
    )
    assert response.status_code == 200, response.text
    near = {"lat": -33.92, "lng": 18.42, "radius_km": 2}
    assert _ids(await _search(api, **near)) == [shown["id"]]

    other = await MarketStudio(api, "opted-out").setup(marketplace_enabled=False)
    await other.listing(name="Opted Out Flow")
    suspended = await MarketStudio(api, "suspended-gym").setup()
    await suspended.listing(name="Suspended Flow")
    owner_db.rows("UPDATE tenants SET status = 'suspended' WHERE slug = 'suspended-gym'")
    assert _ids(await _search(api, **near)) == [shown["id"]]


async def test_filters_typos_price_and_paging(market: MarketStudio, api: Api) -> None:
    yoga = await market.listing(name="Vinyasa Flow", hours_ahead=30, credits_required=2)
    spin = await market.listing(
        name="Hill Climb", class_type="cycling", hours_ahead=31, difficulty_level="advanced"
    )
    full = await market.listing(name="Tiny Yoga", hours_ahead=32, capacity=1)
    person = await market.new_member(credits=1)
    assert (await market.book(person, full["id"])).status_code == 201
    near = {"lat": -33.92, "lng": 18.42, "radius_km": 3}

    assert _ids(await _search(api, **near, class_type="cycling")) == [spin["id"]]
    assert _ids(await _search(api, **near, difficulty="advanced")) == [spin["id"]]
    assert set(_ids(await _search(api, **near, q="vinyasaa"))) == {yoga["id"]}
    assert spin["id"] in _ids(await _search(api, **near, q="climb hil"))
    by_studio = _ids(await _search(api, **near, q="sea piont"))  # the studio's name
    assert set(by_studio) == {yoga["id"], spin["id"], full["id"]}
    assert full["id"] not in _ids(await _search(api, **near, has_spots="true"))
    assert _ids(await _search(api, **near, max_credits=1, sort="start")) == [spin["id"], full["id"]]
    by_price = _ids(await _search(api, **near, sort="price"))
    assert by_price[-1] == yoga["id"]  # 2 credits, the others 1

    first = await _search(api, **near, sort="start", limit=2)
    assert _ids(first) == [yoga["id"], spin["id"]]
    second = await _search(api, **near, sort="start", limit=2, cursor=first["next_cursor"])
    assert _ids(second) == [full["id"]]
    assert second["next_cursor"] is None
    everywhere = await _search(api, q="vinyasa")  # no point: by start time
    assert _ids(everywhere) == [yoga["id"]]
    assert everywhere["items"][0]["distance_km"] is None


async def test_bad_searches_are_refused(api: Api) -> None:
    for params, field in [
        ({"lat": 10}, "lat"),
        ({"sort": "distance"}, "sort"),
        ({"lat": 91, "lng": 0}, "lat"),
        ({"cursor": "not-a-cursor"}, "cursor"),
        ({"start_from": "2030-01-02T00:00:00Z", "start_to": "2030-01-01T00:00:00Z"}, "start_to"),
        ({"start_from": "2030-01-01T00:00:00Z", "start_to": "2030-12-01T00:00:00Z"}, "start_to"),
    ]:
        response = await api.client.get(SEARCH, params=params)
        error = assert_error(response, 422, "VALIDATION_ERROR")
        assert field in str(error["details"]), (params, error)


async def test_classes_at_the_same_place_come_soonest_first_and_page_in_order(
    market: MarketStudio, api: Api
) -> None:
    later = await market.listing(name="Late Flow", hours_ahead=50)
    sooner = await market.listing(name="Early Flow", hours_ahead=26)
    middle = await market.listing(name="Noon Flow", hours_ahead=38)
    near = {"lat": -33.92, "lng": 18.42, "radius_km": 1}
    assert _ids(await _search(api, **near)) == [sooner["id"], middle["id"], later["id"]]
    seen, cursor = [], None
    for _ in range(3):
        page = await _search(api, **near, limit=1, **({"cursor": cursor} if cursor else {}))
        seen += _ids(page)
        cursor = page["next_cursor"]
    assert seen == [sooner["id"], middle["id"], later["id"]]
    assert cursor is None


async def test_a_place_name_finds_the_classes_there(market: MarketStudio, api: Api) -> None:
    there = await market.listing(await market.place(-33.915, 18.386, "Sea Point Pavilion"))
    await market.listing(name="Elsewhere Flow")  # at the studio's main location
    assert _ids(await _search(api, q="pavilon")) == [there["id"]]


async def test_a_text_search_lists_class_name_matches_before_studio_name_matches(
    market: MarketStudio, api: Api
) -> None:
    """In "Sea Point Yoga", a spin class matches "yoga" only by its studio's name: the
    yoga class comes first although it starts later, and paging keeps that order."""
    spin = await market.listing(name="Hill Climb", class_type="cycling", hours_ahead=30)
    yoga = await market.listing(name="Morning Yoga", class_type="yoga", hours_ahead=40)
    stretch = await market.listing(name="Deep Stretch", class_type="stretch", hours_ahead=35)
    near = {"lat": -33.92, "lng": 18.42, "radius_km": 3}
    found = await _search(api, **near, q="yoga")  # near a point: by distance, all at 0 km
    assert _ids(found) == [yoga["id"], spin["id"], stretch["id"]]
    anywhere = await _search(api, q="yoga")  # no point: by start
    assert _ids(anywhere) == [yoga["id"], spin["id"], stretch["id"]]
    by_price = await _search(api, **near, q="yoga", sort="price")  # as asked: all 1 credit
    assert _ids(by_price) == [spin["id"], stretch["id"], yoga["id"]]
    first = await _search(api, **near, q="yoga", limit=1)
    second = await _search(api, **near, q="yoga", limit=1, cursor=first["next_cursor"])
    third = await _search(api, **near, q="yoga", limit=1, cursor=second["next_cursor"])
    assert _ids(first) + _ids(second) + _ids(third) == [yoga["id"], spin["id"], stretch["id"]]
    # Without a query, and by distance or price, the order is as before: soonest first.
    assert _ids(await _search(api, **near)) == [spin["id"], stretch["id"], yoga["id"]]
