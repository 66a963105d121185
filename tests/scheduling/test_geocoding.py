"""Coordinates from an address, through a Nominatim-compatible geocoder (a local fake):
off by default, and a studio's save never fails because the geocoder does."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from studioloop.config import Settings
from studioloop.scheduling import geocoding
from tests.fakes.nominatim import FakeNominatim
from tests.scheduling.conftest import Studio

ADDRESS = {
    "street": "12 Main Road",
    "city": "Cape Town",
    "province": "Western Cape",
    "country": "ZA",
}


@pytest.fixture
def nominatim(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeNominatim]:
    geocoding._answers.clear()
    with FakeNominatim() as fake:
        monkeypatch.setattr(settings, "geocoder_url", fake.url)
        yield fake
    geocoding._answers.clear()


async def test_an_address_alone_gets_its_coordinates(
    studio: Studio, nominatim: FakeNominatim
) -> None:
    location = await studio.post("/locations", {"name": "City studio", "address": ADDRESS})
    assert (location["latitude"], location["longitude"]) == (-33.9249, 18.4241)
    asked = nominatim.queries[-1]
    assert asked["q"] == "12 Main Road, Cape Town, Western Cape, ZA"
    assert asked["format"] == "jsonv2"
    assert asked["user_agent"] == "StudioLoop"
    # Coordinates given are kept as given; nothing is looked up.
    before = len(nominatim.queries)
    kept = await studio.post(
        "/locations", {"name": "Exact", "address": ADDRESS, "latitude": -33.9, "longitude": 18.4}
    )
    assert (kept["latitude"], kept["longitude"]) == (-33.9, 18.4)
    assert len(nominatim.queries) == before


async def test_a_failing_or_clueless_geocoder_leaves_the_coordinates_empty(
    studio: Studio, nominatim: FakeNominatim
) -> None:
    unknown = await studio.post(
        "/locations", {"name": "Nowhere", "address": {"street": "1 Unknown Lane"}}
    )
    assert unknown["latitude"] is None
    nominatim.broken = True
    down = await studio.post("/locations", {"name": "Down", "address": {"city": "Durban"}})
    assert down["latitude"] is None and down["longitude"] is None


async def test_no_geocoder_no_lookup(studio: Studio, settings: Settings) -> None:
    assert settings.geocoder_url is None  # the default: nothing needs the internet
    location = await studio.post("/locations", {"name": "Plain", "address": ADDRESS})
    assert location["latitude"] is None
