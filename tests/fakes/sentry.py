"""A Sentry ingestion endpoint on 127.0.0.1: keeps every envelope the SDK sends.

The SDK posts to `/api/{project}/envelope/`, gzip-compressed (brotli when that is
installed): a header line, then items, each an item header line and its payload.
"""

from __future__ import annotations

import gzip
import json
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from tests.fakes.server import ThreadedFake

PUBLIC_KEY = "testkey"


class FakeSentry(ThreadedFake):
    def __init__(self) -> None:
        self.envelopes: list[bytes] = []
        super().__init__([Route("/api/{project}/envelope/", self._envelope, methods=["POST"])])

    @property
    def dsn(self) -> str:
        return f"http://{PUBLIC_KEY}@127.0.0.1:{self.port}/1"

    async def _envelope(self, request: Request) -> JSONResponse:
        body = await request.body()
        encoding = request.headers.get("content-encoding", "")
        if encoding == "gzip":
            body = gzip.decompress(body)
        elif encoding == "br":
            import brotli  # type: ignore[import-not-found]

            body = brotli.decompress(body)
        self.envelopes.append(body)
        return JSONResponse({"id": "0" * 32})

    def events(self) -> list[dict[str, Any]]:
        """The error events received (not sessions or other items)."""
        found = []
        for envelope in self.envelopes:
            lines = envelope.split(b"\n")
            for header, payload in zip(lines[1::2], lines[2::2], strict=False):
                if json.loads(header).get("type") == "event":
                    found.append(json.loads(payload))
        return found
