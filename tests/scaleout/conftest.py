"""One machine, several processes: two `studioloop api` processes behind a round-robin
balancer, a private Redis and a fake SMTP server, on the suite's test database. Started
once for the module that asks for it (starting processes is the slow part)."""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest

from tests.fakes.smtp import FakeSmtpServer
from tests.scaleout.support import (
    REDIS_SERVER,
    RoundRobinBalancer,
    StudioLoopProcess,
    api_processes,
    held_worker,
    redis_server,
)

# Sign-in, sign-up and the like, per client address and minute: low, so a test reaches
# it, yet above what one test's set-up spends (each test has an address of its own).
SENSITIVE_LIMIT = 8


@dataclass
class Installation:
    apis: list[str]
    balancer: RoundRobinBalancer
    smtp: FakeSmtpServer
    # Loaded but not started: the test about jobs starts it (a worker's row in the queue's
    # tables would not survive the other tests' clean-up).
    worker: StudioLoopProcess
    env: dict[str, str] = field(default_factory=dict)


@pytest.fixture(scope="module")
def installation(owner_url: str) -> Iterator[Installation]:
    if REDIS_SERVER is None:
        if os.environ.get("CI"):
            pytest.fail("redis-server is missing (.ci/run installs it)")
        pytest.skip("redis-server is not installed (apt-get install -y redis-server)")
    with redis_server() as redis_url, FakeSmtpServer() as smtp:
        env = {
            "REDIS_URL": redis_url,
            "SMTP_HOST": "127.0.0.1",
            "SMTP_PORT": str(smtp.port),
            "SMTP_STARTTLS": "false",
            "RATE_LIMIT_SENSITIVE": f"{SENSITIVE_LIMIT}/minute",
        }
        worker = held_worker(owner_url, **env)
        try:
            with api_processes(owner_url, 2, **env) as apis, RoundRobinBalancer(apis) as balancer:
                yield Installation(apis, balancer, smtp, worker, env)
        finally:
            worker.stop()


_addresses = itertools.count(1)


@pytest.fixture
def caller() -> dict[str, str]:
    """This test's own client address. The api processes trust `X-Forwarded-For` from
    loopback, as behind a proxy on the same machine, so per-address limits count this
    test's requests alone."""
    return {"X-Forwarded-For": f"198.51.100.{next(_addresses)}"}
