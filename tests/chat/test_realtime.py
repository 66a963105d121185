"""Live chat across api processes: a message sent to one process reaches a client
connected to another (PostgreSQL LISTEN/NOTIFY), with typing, read receipts, and what a
reconnecting client missed."""

from __future__ import annotations

import asyncio
import json
import os
from typing import Any

import httpx
import pytest
import redis
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from tests.conftest import Owner
from tests.e2e.test_sandbox_checkout import _person, _studio
from tests.servers import api_process

REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/14")


async def _next(socket: ClientConnection, kind: str) -> dict[str, Any]:
    """The next event of this kind (others, such as read receipts, are skipped)."""
    async with asyncio.timeout(10):
        while True:
            event = json.loads(await socket.recv())
            if event["type"] == kind:
                return event


def _ws(base: str, room_id: str, token: str, **params: str) -> str:
    query = "&".join(f"{k}={v}" for k, v in {"token": token, **params}.items())
    return f"{base.replace('http', 'ws')}/api/v1/chat/rooms/{room_id}/websocket?{query}"


def _redis_available() -> bool:
    try:
        return bool(redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping())
    except redis.RedisError:
        return False


BACKENDS = [
    pytest.param({}, id="postgres"),
    pytest.param(
        {"REDIS_URL": REDIS_URL},
        id="redis",
        marks=pytest.mark.skipif(
            not _redis_available() and not os.environ.get("CI"),
            reason=f"no Redis at {REDIS_URL} (start redis-server; CI provides one)",
        ),
    ),
]


@pytest.mark.parametrize("fanout", BACKENDS)
async def test_messages_cross_processes_with_typing_receipts_and_catch_up(
    owner_url: str, owner_db: Owner, fanout: dict[str, str]
) -> None:
    if fanout:
        # Rate limits count in Redis too: start from a clean slate.
        redis.Redis.from_url(REDIS_URL).flushdb()
    with api_process(owner_url, **fanout) as one, api_process(owner_url, **fanout) as two:
        api, owner = _studio(one, owner_db)
        owner_token = owner["Authorization"].removeprefix("Bearer ")
        http = httpx.AsyncClient()
        guest = await http.post(
            f"{api}/guest/token", json={"name": "Thabo", "email": "t@example.com"}
        )
        assert guest.status_code == 201, guest.text
        guest_token = guest.json()["token"]
        opened = await http.post(
            f"{api}/chat/rooms",
            headers={"Authorization": f"Bearer {guest_token}"},
            json={"subject": "Towels?"},
        )
        assert opened.status_code == 201, opened.text
        room = opened.json()

        async with (
            connect(_ws(two, room["id"], owner_token, tenant="loop-yoga")) as staff,
            connect(_ws(one, room["id"], guest_token)) as visitor,
        ):
            await visitor.send("not json")  # a broken client gets told, and stays connected
            assert (await _next(visitor, "error"))["code"] == "BAD_FRAME"
            await visitor.send(json.dumps({"type": "message", "body": "Do you rent towels?"}))
            received = await _next(staff, "message")
            assert received["message"]["body"] == "Do you rent towels?"
            assert received["message"]["is_staff"] is False

            await staff.send(json.dumps({"type": "typing"}))
            assert (await _next(visitor, "typing"))["who"] == "Thandi Test"
            await staff.send(json.dumps({"type": "message", "body": "Yes, R10 <script>"}))
            answer = await _next(visitor, "message")
            while answer["message"]["is_staff"] is False:  # its own message, echoed first
                answer = await _next(visitor, "message")
            assert answer["message"]["body"] == "Yes, R10 <script>"  # text; the page escapes
            await visitor.send(json.dumps({"type": "read", "seq": answer["message"]["seq"]}))
            receipt = await _next(staff, "read")
            assert receipt["who"] == "Thabo" and receipt["seq"] == answer["message"]["seq"]
            last_seen = answer["message"]["seq"]

        # The visitor is away while the studio writes twice; back (on the other process),
        # they get both first.
        for text in ("Also: lockers are free.", "See you soon!"):
            said = await http.post(
                f"{api}/chat/rooms/{room['id']}/messages",
                headers=owner,
                json={"body": text},
            )
            assert said.status_code == 201
        async with connect(_ws(two, room["id"], guest_token, after=str(last_seen))) as back:
            missed = [(await _next(back, "message"))["message"]["body"] for _ in range(2)]
            assert missed == ["Also: lockers are free.", "See you soon!"]
        await http.aclose()


async def test_a_socket_needs_a_valid_token_for_that_room(owner_url: str, owner_db: Owner) -> None:
    with api_process(owner_url) as server:
        api, _owner = _studio(server, owner_db)
        async with httpx.AsyncClient() as http:
            tokens = [
                (
                    await http.post(
                        f"{api}/guest/token", json={"name": name, "email": f"{name}@example.com"}
                    )
                ).json()["token"]
                for name in ("ana", "ben")
            ]
            room = (
                await http.post(
                    f"{api}/chat/rooms",
                    headers={"Authorization": f"Bearer {tokens[0]}"},
                    json={"subject": "Mine"},
                )
            ).json()
        member = _person(server, owner_db, "member@example.com", "Mia")
        for token, params, code in (
            (tokens[1], {}, 4404),  # another guest
            ("expired-or-forged", {}, 4401),
            (member["Authorization"].removeprefix("Bearer "), {"tenant": "loop-yoga"}, 4404),
        ):
            # docs/chat.md: refusals are close codes (the widget forgets a token on 4401),
            # not an HTTP status at the handshake.
            with pytest.raises(ConnectionClosed) as refused:
                async with connect(_ws(server, room["id"], token, **params)) as socket:
                    await socket.recv()
            assert refused.value.rcvd is not None
            assert refused.value.rcvd.code == code
