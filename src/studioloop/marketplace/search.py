"""Searching classes across studios: near a point, by type, time, price, free places and
name (typo-tolerant).

The query itself is the SECURITY DEFINER function `marketplace_search` (migration 0023,
decision 0005): the only path by which one request reads many studios' classes. Here the
filters are checked, the bounding box is worked out and the cursor kept.

Near a point, the database first keeps locations inside a latitude/longitude box (two
btree ranges) and then the exact great-circle distance within the radius, nearest first
(issue 9 measured a GiST earthdistance index slower here: ~25 ms p95 against ~6 ms;
today's figures are in docs/benchmarks.md).
"""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from studioloop.config import Settings
from studioloop.core.errors import field_error
from studioloop.core.pagination import cursor_uuid, decode_cursor, encode_cursor
from studioloop.marketplace import repository
from studioloop.marketplace.schemas import ListingOut, PlaceOut, SearchPage, StudioSummary

EARTH_RADIUS_KM = 6371.0088
KM_PER_DEGREE_LATITUDE = math.pi * EARTH_RADIUS_KM / 180
DEFAULT_RADIUS_KM = 10.0
MAX_RADIUS_KM = 200.0
DEFAULT_DAYS_AHEAD = 14
MAX_DAYS_AHEAD = 90


@dataclass(frozen=True)
class Filters:
    lat: float | None = None
    lng: float | None = None
    radius_km: float = DEFAULT_RADIUS_KM
    class_type: str | None = None
    difficulty: str | None = None
    q: str | None = None
    start_from: datetime | None = None
    start_to: datetime | None = None
    has_spots: bool = False
    max_credits: int | None = None
    sort: str = "distance"


@dataclass(frozen=True)
class Box:
    min_lat: float
    max_lat: float
    min_lng: float
    max_lng: float


def bounding_box(lat: float, lng: float, radius_km: float) -> Box:
    """The latitude/longitude box that holds every point within `radius_km` of (lat, lng).

    A degree of longitude shrinks towards the poles; where the circle reaches a pole (or
    would wrap past ±180°), every longitude is kept: a wider box only costs a few more
    candidates, and the exact distance filter decides."""
    dlat = radius_km / KM_PER_DEGREE_LATITUDE
    min_lat, max_lat = lat - dlat, lat + dlat
    if min_lat <= -90 or max_lat >= 90:
        return Box(max(min_lat, -90.0), min(max_lat, 90.0), -180.0, 180.0)
    # The widest longitude span is at the latitude nearest a pole within the circle.
    widest = max(abs(min_lat), abs(max_lat))
    dlng = dlat / math.cos(math.radians(widest))
    if dlng >= 180 or lng - dlng < -180 or lng + dlng > 180:
        return Box(min_lat, max_lat, -180.0, 180.0)
    return Box(min_lat, max_lat, lng - dlng, lng + dlng)


def distance_km(lat1: float, lng1: float, lat2: float, lng2: float) -> float:
    """Great-circle distance (haversine), as the search function computes it."""
    a = (
        math.sin(math.radians(lat2 - lat1) / 2) ** 2
        + math.cos(math.radians(lat1))
        * math.cos(math.radians(lat2))
        * math.sin(math.radians(lng2 - lng1) / 2) ** 2
    )
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(a)))


def _window(filters: Filters) -> tuple[datetime, datetime]:
    start_from = filters.start_from or datetime.now(UTC)
    start_to = filters.start_to or start_from + timedelta(days=DEFAULT_DAYS_AHEAD)
    if start_to <= start_from:
        raise field_error("start_to", "must be after start_from", location="query")
    if start_to - start_from > timedelta(days=MAX_DAYS_AHEAD):
        raise field_error(
            "start_to", f"search at most {MAX_DAYS_AHEAD} days at a time", location="query"
        )
    return start_from, start_to


def _check(filters: Filters) -> None:
    if (filters.lat is None) != (filters.lng is None):
        raise field_error("lat", "give both lat and lng, or neither", location="query")
    if filters.sort == "distance" and filters.lat is None:
        raise field_error("sort", "sorting by distance needs lat and lng", location="query")


async def search(
    session: AsyncSession,
    settings: Settings,
    filters: Filters,
    *,
    cursor: str | None,
    limit: int,
) -> SearchPage:
    _check(filters)
    start_from, start_to = _window(filters)
    box = (
        bounding_box(filters.lat, filters.lng, filters.radius_km)
        if filters.lat is not None and filters.lng is not None
        else None
    )
    after_key: float | None = None
    after_start: float | None = None
    after_id: uuid.UUID | None = None
    if cursor:
        key, start, ident = decode_cursor(cursor, 3)
        if not isinstance(key, int | float) or not isinstance(start, int | float):
            raise field_error("cursor", "The cursor is not valid.", location="query")
        after_key, after_start, after_id = float(key), float(start), cursor_uuid(ident)
    query = (filters.q or "").strip() or None
    rows = await repository.search(
        session,
        (
            filters.lat,
            filters.lng,
            filters.radius_km,
            box.min_lat if box else None,
            box.max_lat if box else None,
            box.min_lng if box else None,
            box.max_lng if box else None,
            filters.class_type,
            filters.difficulty,
            query,
            start_from,
            start_to,
            filters.has_spots,
            filters.max_credits,
            filters.sort,
            after_key,
            after_id,
            limit + 1,
            settings.marketplace_payout_rate,
            settings.marketplace_commission_basis_points,
            after_start,
        ),
    )
    more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = None
    if more:
        # The sort key, then the start (ties: soonest first), then the id: the order the
        # function pages in.
        last = rows[-1]
        next_cursor = encode_cursor(
            [last.sort_key, last.start_time.timestamp(), str(last.occurrence_id)]
        )
    return SearchPage(items=[_listing(row) for row in rows], next_cursor=next_cursor)


def _listing(r: Any) -> ListingOut:  # a psycopg namedtuple row
    # model_construct: the function's rows are already what the schema says (typed
    # columns); validating twenty nested models again would only cost CPU on every search.
    return ListingOut.model_construct(
        class_schedule_id=r.occurrence_id,
        studio=StudioSummary.model_construct(
            id=r.tenant_id, slug=r.tenant_slug, name=r.tenant_name
        ),
        class_id=r.class_id,
        class_name=r.class_name,
        class_type=r.class_type,
        difficulty_level=r.difficulty_level,
        description=r.description,
        start_time=r.start_time,
        end_time=r.end_time,
        location=PlaceOut.model_construct(
            name=r.location_name,
            address=r.address or {},
            latitude=r.latitude,
            longitude=r.longitude,
        ),
        distance_km=None if r.distance_km is None else round(r.distance_km, 2),
        spots_available=r.spots,
        credits=r.credits,
        price=r.price,
        currency=r.currency,
        timezone=r.timezone,
    )
