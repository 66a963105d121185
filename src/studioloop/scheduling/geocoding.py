"""Turning a place name or address into coordinates: an interface, and an implementation
for any Nominatim-compatible service (OpenStreetMap's, or one the operator runs).

Off unless GEOCODER_URL is set: nothing in StudioLoop needs the internet. Used to fill
in a location's coordinates when a studio saves only its address, and for "near" on the
marketplace search page. Nominatim's usage policy asks for an identifying User-Agent and
at most one request a second; a studio saving a location, or a person searching, stays
well within that, and answers are cached for the process's lifetime.
"""

from __future__ import annotations

import asyncio
import logging
import time
import weakref
from dataclasses import dataclass
from typing import Any, Protocol

import httpx
from cachetools import TTLCache

from studioloop.config import Settings
from studioloop.scheduling import exceptions as exc

logger = logging.getLogger(__name__)
TIMEOUT_SECONDS = 5.0
# Nominatim's usage policy: at most one request a second from an application. Kept per
# process (each API process asks on its own); cached answers do not count.
MIN_SECONDS_BETWEEN_REQUESTS = 1.0
# A person searching waits at most this long for their turn; past it they are told to
# try again, rather than the server queueing searches without end.
MAX_WAIT_SECONDS = 3.0
_answers: TTLCache[tuple[str, str], Point | None] = TTLCache(maxsize=2_000, ttl=24 * 3600)


@dataclass(frozen=True)
class Point:
    latitude: float
    longitude: float
    label: str


class Geocoder(Protocol):
    async def locate(self, query: str) -> Point | None: ...


class _Spacing:
    """Requests to the service at least `interval` seconds apart, in this process."""

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self._last = -interval
        # One lock per event loop (an asyncio.Lock belongs to the loop it first waits in).
        self._locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = (
            weakref.WeakKeyDictionary()
        )

    async def wait_turn(self, max_wait: float) -> None:
        lock = self._locks.setdefault(asyncio.get_running_loop(), asyncio.Lock())
        asked = time.monotonic()
        async with lock:
            delay = self._last + self.interval - time.monotonic()
            if time.monotonic() - asked + max(delay, 0) > max_wait:
                raise exc.GeocodingUnavailable(
                    "Many people are looking up places right now; try again in a moment, "
                    "or share your location instead."
                )
            if delay > 0:
                await asyncio.sleep(delay)
            self._last = time.monotonic()


_spacing = _Spacing(MIN_SECONDS_BETWEEN_REQUESTS)


class NominatimGeocoder:
    def __init__(self, base_url: str, user_agent: str) -> None:
        self.base_url = base_url.rstrip("/")
        self.user_agent = user_agent

    async def locate(self, query: str) -> Point | None:
        key = (self.base_url, query.strip().lower())
        if key in _answers:
            return _answers[key]
        await _spacing.wait_turn(MAX_WAIT_SECONDS)
        async with httpx.AsyncClient(
            timeout=TIMEOUT_SECONDS, headers={"User-Agent": self.user_agent}
        ) as client:
            try:
                response = await client.get(
                    f"{self.base_url}/search",
                    params={"q": query, "format": "jsonv2", "limit": 1},
                )
                response.raise_for_status()
                found: Any = response.json()
            except (httpx.HTTPError, ValueError) as error:
                raise exc.GeocodingUnavailable(
                    "The place lookup service did not answer; try again, or share your "
                    "location instead."
                ) from error
        point = _first_point(found)
        _answers[key] = point
        return point


def _first_point(found: Any) -> Point | None:
    if not isinstance(found, list) or not found or not isinstance(found[0], dict):
        return None
    first = found[0]
    try:
        latitude, longitude = float(first["lat"]), float(first["lon"])
    except (KeyError, TypeError, ValueError):
        return None
    if not (-90 <= latitude <= 90 and -180 <= longitude <= 180):
        return None
    return Point(latitude, longitude, str(first.get("display_name") or ""))


def address_line(address: dict[str, Any]) -> str:
    """A location's address as one search line: "12 Main Rd, Cape Town, Western Cape"."""
    parts = ("street", "city", "province", "postal_code", "country")
    return ", ".join(str(address[p]).strip() for p in parts if str(address.get(p) or "").strip())


def geocoder_for(settings: Settings) -> Geocoder | None:
    if not settings.geocoder_url:
        return None
    return NominatimGeocoder(settings.geocoder_url, settings.geocoder_user_agent)


async def coordinates_for_address(
    settings: Settings, address: dict[str, Any]
) -> tuple[float, float] | None:
    """Coordinates for a location saved with an address only, when a geocoder is set up.
    A lookup that fails or finds nothing leaves them empty (the studio can enter them): a
    studio saving its address never fails because a map service is down."""
    geocoder = geocoder_for(settings)
    line = address_line(address)
    if geocoder is None or not line:
        return None
    try:
        point = await geocoder.locate(line)
    except exc.GeocodingUnavailable:
        logger.warning("geocoding_failed", extra={"address": line})
        return None
    return (point.latitude, point.longitude) if point else None


async def locate(settings: Settings, query: str) -> Point:
    """Where `query` is, or GEOCODING_UNAVAILABLE (none configured) / PLACE_NOT_FOUND."""
    geocoder = geocoder_for(settings)
    if geocoder is None:
        raise exc.GeocodingUnavailable()
    point = await geocoder.locate(query)
    if point is None:
        raise exc.PlaceNotFound(details={"query": query})
    return point
