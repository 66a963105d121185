"""Coordinates from an address, through a Nominatim-compatible geocoder (a local fake):
off by default, and a studio's save never fails because the geocoder does."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import pytest

from studioloop.config import Settings
from studioloop.scheduling import exceptions as exc, geocoding
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


async def test_the_service_is_asked_at_most_once_a_second(
    settings: Settings, nominatim: FakeNominatim, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Nominatim's usage policy: one request a second. Answers already known are free;
    a person who would wait too long for a turn is told to try again."""
    geocoder = geocoding.geocoder_for(settings)
    assert geocoder is not None
    started = time.monotonic()
    for place in ("Cape Town", "Durban", "cape town"):  # the third is the first, cached
        await geocoder.locate(place)
    assert 0.9 <= time.monotonic() - started < 2.5
    assert len(nominatim.queries) == 2
    monkeypatch.setattr(geocoding, "MAX_WAIT_SECONDS", 0.2)
    answers = await asyncio.gather(
        *(geocoder.locate(f"Place {n}") for n in range(3)), return_exceptions=True
    )
    refused = [a for a in answers if isinstance(a, exc.GeocodingUnavailable)]
    assert refused and "try again in a moment" in refused[0].message
