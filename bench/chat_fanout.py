"""Chat fan-out benchmark: messages through two api processes to many WebSocket clients.

    .venv/bin/python bench/chat_fanout.py [--clients 50] [--messages 200] [--rate 20]
        [--redis redis://127.0.0.1:6379/13] [--database-url URL]

It starts its own PostgreSQL (embedded, or a fresh database on --database-url), migrates
it, and starts two `studioloop api` processes sharing it. A studio's staff member and a
guest open a support room; --clients WebSocket clients (the staff member's access token)
connect to the room, half to each process. The guest then sends --messages messages at
--rate per second through the first process. For each message it records when every
client received it: messages per second delivered, and the delivery latency (from just
before the send to each receipt), p50 / p95 / p99. With --redis the fan-out goes through
Redis pub/sub instead of PostgreSQL LISTEN/NOTIFY. Figures: docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import secrets
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import httpx
import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent))
from booking_rush import (
    free_port,
    percentile,
    start_database,
    stop_server,
    wait_for_health,
)

API = "/api/v1"
PASSWORD = "bench-chat-1"  # noqa: S105 - an account in a throwaway database


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--messages", type=int, default=200)
    parser.add_argument("--rate", type=float, default=20.0, help="messages sent per second")
    parser.add_argument("--redis", default=None, help="fan out through this Redis URL")
    parser.add_argument("--database-url", default=None)
    return parser.parse_args()


def start_api(url: str, workdir: Path, port: int, secret: str, redis_url: str | None) -> Any:
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "ENVIRONMENT": "test",
        "SECRET_KEY": secret,  # both processes must accept each other's tokens
        "PASSWORD_HASH_CHEAP": "true",
        "RATE_LIMIT_ENABLED": "false",
        "CHAT_MESSAGES_PER_MINUTE": "1000000",
        "LOG_LEVEL": "WARNING",
        "DATA_DIR": str(workdir / "data"),
    }
    env.pop("REDIS_URL", None)
    if redis_url:
        env["REDIS_URL"] = redis_url
    log = (workdir / f"api-{port}.log").open("wb")
    process = subprocess.Popen(  # noqa: S603 (our own interpreter and module)
        [sys.executable, "-m", "studioloop.cli", "api", "--port", str(port)],
        env=env,
        cwd=workdir,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    return process, workdir / f"api-{port}.log"


async def seed(base: str, conninfo: str) -> tuple[str, str, str]:
    """(the studio's slug, a staff access token, the room id); and the guest token."""
    from studioloop.config import Settings
    from studioloop.core.security import hash_password

    cheap = Settings(
        _env_file=None, environment="test", secret_key="x" * 40, password_hash_cheap=True
    )
    email = f"owner-{secrets.token_hex(3)}@bench.example.com"
    async with await psycopg.AsyncConnection.connect(conninfo) as conn:
        await conn.execute(
            "INSERT INTO users (email, password_hash, first_name, last_name, email_verified_at) "
            "VALUES (%s, %s, 'Bench', 'Owner', now())",
            (email, hash_password(cheap, PASSWORD)),
        )
        await conn.commit()
    async with httpx.AsyncClient(base_url=base, timeout=30) as client:
        login = await client.post(f"{API}/auth/login", json={"email": email, "password": PASSWORD})
        staff = login.json()["access_token"]
        slug = f"chat-{secrets.token_hex(3)}"
        made = await client.post(
            f"{API}/tenants",
            headers={"Authorization": f"Bearer {staff}"},
            json={"name": "Chat Bench", "slug": slug, "email": f"hi@{slug}.example.com"},
        )
        made.raise_for_status()
        guest = await client.post(
            f"{API}/tenants/{slug}/guest/token", json={"name": "Guest", "email": "g@example.com"}
        )
        guest_token = guest.json()["token"]
        room = await client.post(
            f"{API}/tenants/{slug}/chat/rooms",
            headers={"Authorization": f"Bearer {guest_token}"},
            json={"subject": "Bench"},
        )
        return slug, staff, f"{room.json()['id']}|{guest_token}"


async def run(args: argparse.Namespace, bases: list[str], slug: str, staff: str, room: str) -> None:
    from websockets.asyncio.client import connect

    room_id, guest_token = room.split("|")
    received: dict[int, list[float]] = defaultdict(list)  # message number -> receipt times
    sent_at: dict[int, float] = {}
    ready = asyncio.Event()
    connected = 0

    async def client(index: int) -> None:
        nonlocal connected
        base = bases[index % len(bases)].replace("http", "ws")
        url = f"{base}{API}/chat/rooms/{room_id}/websocket?token={staff}&tenant={slug}"
        async with connect(url, max_queue=None) as socket:
            connected += 1
            if connected == args.clients:
                ready.set()
            seen = 0
            while seen < args.messages:
                event = json.loads(await socket.recv())
                if event["type"] == "message":
                    number = int(event["message"]["body"].split()[1])
                    received[number].append(time.perf_counter())
                    seen += 1

    listeners = [asyncio.create_task(client(i)) for i in range(args.clients)]
    await asyncio.wait_for(ready.wait(), 60)
    await asyncio.sleep(1)  # every socket subscribed
    sender_url = (
        f"{bases[0].replace('http', 'ws')}{API}/chat/rooms/{room_id}/websocket?token={guest_token}"
    )
    started = time.perf_counter()
    async with connect(sender_url) as sender:
        for number in range(args.messages):
            sent_at[number] = time.perf_counter()
            await sender.send(json.dumps({"type": "message", "body": f"message {number}"}))
            await asyncio.sleep(1 / args.rate)
        await asyncio.wait_for(asyncio.gather(*listeners), 120)
    elapsed = time.perf_counter() - started
    latencies = [
        (receipt - sent_at[number]) * 1000
        for number, receipts in received.items()
        for receipt in receipts
    ]
    deliveries = len(latencies)
    print(f"fan-out: {'Redis ' + args.redis if args.redis else 'PostgreSQL LISTEN/NOTIFY'}")
    print(f"clients {args.clients} over 2 api processes, {args.messages} messages at {args.rate}/s")
    print(
        f"deliveries {deliveries} (expected {args.clients * args.messages}), "
        f"{deliveries / elapsed:,.0f} deliveries/s"
    )
    p50, p95, p99 = (percentile(latencies, p) for p in (50, 95, 99))
    print(f"latency ms  p50 {p50:.1f}  p95 {p95:.1f}  p99 {p99:.1f}  max {max(latencies):.1f}")


def main() -> int:
    args = parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="studioloop-chat-bench-"))
    db = start_database(argparse.Namespace(database_url=args.database_url), workdir)
    servers: list[Any] = []
    try:
        from studioloop.db.migrate import upgrade

        upgrade(db.url)
        secret = secrets.token_hex(20)
        if args.redis:
            import redis

            redis.Redis.from_url(args.redis).flushdb()
        bases = []
        for _ in range(2):
            port = free_port()
            process, log = start_api(db.url, workdir, port, secret, args.redis)
            servers.append(process)
            base = f"http://127.0.0.1:{port}"
            wait_for_health(process, base, log)
            bases.append(base)
        slug, staff, room = asyncio.run(seed(bases[0], db.conninfo))
        asyncio.run(run(args, bases, slug, staff, room))
        return 0
    finally:
        for process in servers:
            stop_server(process)
        with contextlib.suppress(Exception):
            db.drop()


if __name__ == "__main__":
    raise SystemExit(main())
