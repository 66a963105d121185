"""Redis stopped under two `studioloop api` processes that share it, and started again.

As docs/operations.md says: while it is down, rate limits are counted by each process in
its own memory, and a chat event reaches the sockets of the process it was posted on;
no request fails. Once it is back, limits are shared through it again, and the sockets on
the other process catch up on what they missed.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
from websockets.asyncio.client import ClientConnection, connect

from tests.faults.conftest import signed_up
from tests.faults.processes import RedisServer, api_processes, tail

# Each starts processes of its own and times what they do: under pytest-xdist they run on
# one worker, one after another, never two at once.
pytestmark = [pytest.mark.faults, pytest.mark.xdist_group("faults")]

SENSITIVE_LIMIT = 3  # sign-in attempts per address an hour (RATE_LIMIT_SENSITIVE)
STUDIO = "/api/v1/tenants/loop-yoga"


async def _next_message(socket: ClientConnection) -> dict[str, Any]:
    """The next chat message this socket is sent (other events skipped)."""
    async with asyncio.timeout(15):
        while True:
            event = json.loads(await socket.recv())
            if event["type"] == "message":
                message: dict[str, Any] = event["message"]
                return message


async def _sign_ins(http: httpx.AsyncClient, bases: list[str]) -> list[int]:
    """A wrong sign-in on each of `bases` in turn: the statuses (401 until the limit, 429)."""
    statuses = []
    for base in bases:
        response = await http.post(
            f"{base}/api/v1/auth/login",
            json={"email": "nobody@example.com", "password": "wrong-password"},
        )
        statuses.append(response.status_code)
    return statuses


def _socket_url(base: str, room_id: str, token: str, **params: str) -> str:
    query = "&".join(f"{k}={v}" for k, v in {"token": token, **params}.items())
    return f"{base.replace('http', 'ws')}/api/v1/chat/rooms/{room_id}/websocket?{query}"


async def test_rate_limits_and_chat_degrade_and_recover_with_redis(
    owner_url: str, owner_conninfo: str, redis_server: RedisServer, tmp_path: Path
) -> None:
    env = {"REDIS_URL": redis_server.url, "RATE_LIMIT_SENSITIVE": f"{SENSITIVE_LIMIT}/hour"}
    with api_processes(owner_url, tmp_path, 2, **env) as (one, two):
        try:
            async with httpx.AsyncClient(timeout=10) as http:
                await _scenario(http, one.base, two.base, owner_conninfo, redis_server)
        except BaseException:
            print(tail(one.log), tail(two.log), sep="\n")
            raise
    logs = one.log.read_text() + two.log.read_text()
    assert "redis unreachable: rate limits counted in this process only" in logs
    assert "redis unreachable: chat events reach this process's sockets only" in logs
    assert "unhandled error" not in logs


async def _scenario(
    http: httpx.AsyncClient, one: str, two: str, conninfo: str, redis_server: RedisServer
) -> None:
    owner, _ = await signed_up(http, conninfo, "owner@example.com", "Thandi", base=one)
    created = await http.post(
        f"{one}/api/v1/tenants",
        headers=owner,
        json={"name": "Loop Yoga", "slug": "loop-yoga", "email": "hello@loop.example.com"},
    )
    assert created.status_code == 201, created.text
    guest = await http.post(
        f"{one}{STUDIO}/guest/token", json={"name": "Thabo", "email": "t@example.com"}
    )
    assert guest.status_code == 201, guest.text
    guest_token = guest.json()["token"]
    opened = await http.post(
        f"{one}{STUDIO}/chat/rooms",
        headers={"Authorization": f"Bearer {guest_token}"},
        json={"subject": "Towels?"},
    )
    assert opened.status_code == 201, opened.text
    room = opened.json()["id"]
    owner_token = owner["Authorization"].removeprefix("Bearer ")

    # Redis up: one budget for both processes.
    assert await _sign_ins(http, [one, two, one, two]) == [401, 401, 401, 429]
    keys = redis.Redis.from_url(redis_server.url).keys("LIMITS*")
    assert keys, "the limits are not counted in Redis"

    async with (
        connect(_socket_url(two, room, owner_token, tenant="loop-yoga")) as staff,
        connect(_socket_url(one, room, guest_token)) as visitor,
    ):
        await visitor.send(json.dumps({"type": "message", "body": "Do you rent towels?"}))
        assert (await _next_message(staff))["body"] == "Do you rent towels?"
        assert (await _next_message(visitor))["body"] == "Do you rent towels?"  # its echo

        redis_server.stop()

        # Each process counts by itself: a budget each, and never an error.
        assert await _sign_ins(http, [one] * 4) == [401, 401, 401, 429]
        assert await _sign_ins(http, [two] * 4) == [401, 401, 401, 429]
        # Chat: each process's sockets still get what is posted on that process (the
        # visitor its own message's echo, the staff a reply posted over HTTP on the other
        # process), and a socket given an event reads all it has not sent from the
        # database (the staff gets the visitor's message then).
        await visitor.send(json.dumps({"type": "message", "body": "Lockers too?"}))
        assert (await _next_message(visitor))["body"] == "Lockers too?"
        said = await http.post(
            f"{two}{STUDIO}/chat/rooms/{room}/messages",
            headers=owner,
            json={"body": "Yes, both."},
        )
        assert said.status_code == 201, said.text
        assert (await _next_message(staff))["body"] == "Lockers too?"
        assert (await _next_message(staff))["body"] == "Yes, both."

        redis_server.start()

        # The listener subscribes again and its sockets catch up on what was posted on the
        # other process meanwhile.
        assert (await _next_message(visitor))["body"] == "Yes, both."
        # And events cross processes live again.
        await visitor.send(json.dumps({"type": "message", "body": "Thanks!"}))
        assert (await _next_message(staff))["body"] == "Thanks!"

    # Limits are shared through Redis again (it came back empty): process one's memory
    # would refuse at once; Redis allows the budget once, for both processes together.
    await asyncio.sleep(2.1)  # ratelimit.REDIS_RETRY_SECONDS after the last failure
    assert await _sign_ins(http, [one, two, one, two]) == [401, 401, 401, 429]
