"""Rate limits shared through Redis, so every api process draws on one budget."""

from __future__ import annotations

import os
import uuid

import pytest
import redis

from studioloop.config import Settings
from studioloop.core.ratelimit import RateLimiter

REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


def _redis_available() -> bool:
    try:
        return bool(redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping())
    except redis.RedisError:
        return False


pytestmark = pytest.mark.skipif(
    not _redis_available() and not os.environ.get("CI"),
    reason=f"no Redis at {REDIS_URL} (start redis-server; CI provides one)",
)


async def test_two_processes_share_one_budget_through_redis(settings: Settings) -> None:
    configured = settings.model_copy(
        update={"redis_url": REDIS_URL, "rate_limit_anonymous": "3/hour"}
    )
    first, second = RateLimiter(configured), RateLimiter(configured)
    caller = f"ip:test-{uuid.uuid4().hex}"
    results = [
        (await limiter.hit(limiter.anonymous, "global", caller)).allowed
        for limiter in (first, second, first, second)
    ]
    assert results == [True, True, True, False]
    denied = await first.hit(first.anonymous, "global", caller)
    assert not denied.allowed and 0 < denied.retry_after <= 3600
