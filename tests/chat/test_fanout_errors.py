"""The process's chat listener outlives a message it cannot read.

The listener reads each new message once for the sockets of its process, with a pooled
connection. When the pool has none free within its timeout (the soak benchmark's backlog),
that read raised out of the listener's task, which ended: the process's sockets heard
nothing more until it restarted. Now the event goes without its message, and each socket
reads what it lacks.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from sqlalchemy.exc import TimeoutError as PoolTimeout

from studioloop.chat import fanout


async def test_an_unreadable_message_still_reaches_the_sockets(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def no_connection(*_: Any) -> None:
        raise PoolTimeout("QueuePool limit of size 20 overflow 0 reached")

    monkeypatch.setattr(fanout, "_read_message", no_connection)
    hub = fanout.ChatHub()
    room_id = uuid.uuid4()
    queue = hub.subscribe(room_id)
    payload = {"t": str(uuid.uuid4()), "r": str(room_id), "k": "message", "s": 7, "p": 6}
    await fanout._hand_over(hub, json.dumps(payload))  # does not raise
    event = queue.get_nowait()
    assert (event["k"], event["s"]) == ("message", 7)
    assert "message" not in event  # the socket reads it (router._forward)
