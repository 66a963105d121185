"""A fake PostHog on 127.0.0.1: `POST /batch/` takes `{api_key, batch}` as PostHog's
capture API does, answers `{"status": 1}`, and keeps what it got."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from tests.fakes.server import ThreadedFake


class FakePostHog(ThreadedFake):
    def __init__(self) -> None:
        self.batches: list[dict[str, Any]] = []
        self.down = False  # answer 503, as an unreachable ingestion does
        super().__init__([Route("/batch/", self._batch, methods=["POST"])])

    async def _batch(self, request: Request) -> JSONResponse:
        if self.down:
            return JSONResponse({"error": "unavailable"}, status_code=503)
        body = await request.json()
        if not isinstance(body.get("api_key"), str) or not isinstance(body.get("batch"), list):
            return JSONResponse({"type": "validation_error"}, status_code=400)
        self.batches.append(body)
        return JSONResponse({"status": 1})
