"""A lean HTTP/1.1 load generator: keep-alive connections that send pre-encoded requests.

The booking bench measures the server, so the client must cost far less than the server
per request. httpx (h11 in pure Python, plus its pool) cost the load generator about 2.5 ms
of CPU per booking, more than a third of the machine's two CPUs at 150 bookings/s, taken
from the very server and database being measured. This is what `wrk` or `oha` do: one
connection per worker, requests written as bytes, responses parsed by httptools (the C
parser uvicorn uses) on an asyncio protocol. It speaks only what the bench needs: POST with
a JSON body, GET, and responses with a Content-Length or chunked body.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httptools


class ConnectionLost(ConnectionError):
    """The server closed the connection (or it broke) before the response was complete."""


class LeanConnection(asyncio.Protocol):
    """One keep-alive connection; one request in flight at a time."""

    def __init__(self, host: str) -> None:
        self._host = host.encode()
        self._transport: asyncio.Transport | None = None
        self._parser = httptools.HttpResponseParser(self)
        self._body: list[bytes] = []
        self._waiter: asyncio.Future[tuple[int, bytes]] | None = None

    @classmethod
    async def open(cls, host: str, port: int) -> LeanConnection:
        loop = asyncio.get_running_loop()
        _, protocol = await loop.create_connection(lambda: cls(f"{host}:{port}"), host, port)
        return protocol

    # asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport

    def data_received(self, data: bytes) -> None:
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError as error:
            self._fail(ConnectionLost(f"bad response: {error}"))

    def connection_lost(self, exc: Exception | None) -> None:
        self._transport = None
        self._fail(ConnectionLost(str(exc) if exc else "closed by the server"))

    # httptools callbacks
    def on_body(self, body: bytes) -> None:
        self._body.append(body)

    def on_message_complete(self) -> None:
        waiter, self._waiter = self._waiter, None
        body, self._body = b"".join(self._body), []
        if waiter is not None and not waiter.done():
            waiter.set_result((self._parser.get_status_code(), body))

    def _fail(self, error: Exception) -> None:
        waiter, self._waiter = self._waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_exception(error)

    async def request(
        self, method: str, path: str, headers: dict[str, str], body: bytes = b""
    ) -> tuple[int, bytes]:
        """Send one request; its status and body."""
        if self._transport is None:
            raise ConnectionLost("not connected")
        lines = [f"{method} {path} HTTP/1.1".encode(), b"Host: " + self._host]
        lines += [f"{name}: {value}".encode() for name, value in headers.items()]
        if body or method == "POST":
            lines.append(b"Content-Type: application/json")
            lines.append(b"Content-Length: %d" % len(body))
        self._waiter = asyncio.get_running_loop().create_future()
        self._transport.write(b"\r\n".join(lines) + b"\r\n\r\n" + body)
        return await self._waiter

    @property
    def is_open(self) -> bool:
        """False once either side closed the connection."""
        return self._transport is not None and not self._transport.is_closing()

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()


async def open_connections(host: str, port: int, count: int) -> list[LeanConnection]:
    return list(await asyncio.gather(*(LeanConnection.open(host, port) for _ in range(count))))


def close_all(connections: list[Any]) -> None:
    for connection in connections:
        connection.close()
