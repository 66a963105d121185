"""Rate limits while Redis cannot be reached: counted in this process, never an error.
(tests/faults/test_redis_down.py stops a real Redis under two api processes.)"""

from __future__ import annotations

import time

from studioloop.config import Settings
from studioloop.core.ratelimit import RateLimiter
from tests.fakes.smtp import free_port


async def test_an_unreachable_redis_means_counting_in_memory(settings: Settings) -> None:
    nowhere = f"redis://127.0.0.1:{free_port()}/0"
    limiter = RateLimiter(
        settings.model_copy(update={"redis_url": nowhere, "rate_limit_anonymous": "2/hour"})
    )
    started = time.monotonic()
    results = [(await limiter.hit(limiter.anonymous, "global", "ip:a")).allowed for _ in range(3)]
    assert results == [True, True, False]
    assert time.monotonic() - started < 2  # a refused connection is not waited on
    assert limiter.shared is False
    # Another caller has a budget of its own, in memory too.
    assert (await limiter.hit(limiter.anonymous, "global", "ip:b")).allowed
