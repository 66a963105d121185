"""A fake Nominatim (OpenStreetMap's geocoder) on 127.0.0.1: `GET /search?q=&format=jsonv2`
answers a JSON list of places with `lat`/`lon` as strings, as the real one does."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from tests.fakes.server import ThreadedFake

PLACES = {
    "sea point": (-33.9153, 18.3856, "Sea Point, Cape Town, Western Cape, South Africa"),
    "12 main road, cape town, western cape, za": (
        -33.9249,
        18.4241,
        "12 Main Road, Cape Town City Centre, Cape Town, 8001, South Africa",
    ),
}


class FakeNominatim(ThreadedFake):
    def __init__(self) -> None:
        self.queries: list[dict[str, Any]] = []
        self.broken = False  # answer 503, as an overloaded server does
        super().__init__([Route("/search", self._search, methods=["GET"])])

    async def _search(self, request: Request) -> JSONResponse:
        self.queries.append(
            {**request.query_params, "user_agent": request.headers.get("user-agent")}
        )
        if self.broken:
            return JSONResponse({"error": "Service unavailable"}, status_code=503)
        if request.query_params.get("format") != "jsonv2":
            return JSONResponse({"error": "format"}, status_code=400)
        place = PLACES.get(request.query_params.get("q", "").strip().lower())
        if place is None:
            return JSONResponse([])
        lat, lon, name = place
        return JSONResponse(
            [{"place_id": 1, "lat": str(lat), "lon": str(lon), "display_name": name}]
        )
