"""Rate limits with `limits`: in memory by default, Redis when REDIS_URL is set.

Every /api request counts against the caller's hourly budget (per user when a valid bearer
token is present, else per client address). Sign-in, verification and password reset add a
much tighter per-address limit through the `SensitiveRateLimit` dependency.

With Redis unreachable, limits are counted in this process's memory instead (each process
then allows the full budget by itself: weaker, never a failed request), with one warning
per outage; Redis is tried again every `REDIS_RETRY_SECONDS`, and used again as soon as
it answers (the counts made meanwhile in memory are not carried over).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from limits import RateLimitItem, parse_many
from limits.aio.strategies import MovingWindowRateLimiter
from limits.errors import StorageError
from limits.storage import storage_from_string

from studioloop.config import Settings
from studioloop.core import security
from studioloop.core.errors import RateLimited
from studioloop.core.logging import get_logger

logger = get_logger(__name__)

# After Redis failed, count in memory this long before asking Redis again.
REDIS_RETRY_SECONDS = 2.0
# A Redis that does not answer (rather than refusing at once) holds a request this long.
REDIS_TIMEOUT_SECONDS = 0.5


@dataclass(frozen=True)
class Decision:
    allowed: bool
    retry_after: int = 0


class RateLimiter:
    def __init__(self, settings: Settings) -> None:
        self._memory = MovingWindowRateLimiter(storage_from_string("async+memory://"))
        self._shared: MovingWindowRateLimiter | None = None
        if settings.redis_url:
            # redis-py is already a dependency; limits defaults to coredis otherwise.
            storage = storage_from_string(
                f"async+{settings.redis_url}",
                implementation="redispy",
                wrap_exceptions=True,  # any Redis failure is a StorageError
                socket_connect_timeout=REDIS_TIMEOUT_SECONDS,
                socket_timeout=REDIS_TIMEOUT_SECONDS,
            )
            self._shared = MovingWindowRateLimiter(storage)
        self._redis_lost = False
        self._retry_redis_at = 0.0
        self.enabled = settings.rate_limit_enabled
        self.authenticated = parse_many(settings.rate_limit_authenticated)
        self.anonymous = parse_many(settings.rate_limit_anonymous)
        self.sensitive = parse_many(settings.rate_limit_sensitive)
        self.api_key = parse_many(settings.rate_limit_api_key)

    @property
    def shared(self) -> bool:
        """Whether limits are counted in Redis right now (for all processes)."""
        return self._shared is not None and not self._redis_lost

    async def hit(self, items: list[RateLimitItem], *identifiers: str) -> Decision:
        if not self.enabled:
            return Decision(allowed=True)
        if self._shared is not None and time.monotonic() >= self._retry_redis_at:
            try:
                decision = await self._hit(self._shared, items, identifiers)
            except StorageError as error:
                self._retry_redis_at = time.monotonic() + REDIS_RETRY_SECONDS
                if not self._redis_lost:
                    self._redis_lost = True
                    logger.warning(
                        "redis unreachable: rate limits counted in this process only",
                        error=str(error.storage_error),
                    )
            else:
                if self._redis_lost:
                    self._redis_lost = False
                    logger.warning("redis reachable again: rate limits shared again")
                return decision
        return await self._hit(self._memory, items, identifiers)

    @staticmethod
    async def _hit(
        limiter: MovingWindowRateLimiter, items: list[RateLimitItem], identifiers: tuple[str, ...]
    ) -> Decision:
        for item in items:
            if not await limiter.hit(item, *identifiers):
                stats = await limiter.get_window_stats(item, *identifiers)
                return Decision(False, max(1, math.ceil(stats.reset_time - time.time())))
        return Decision(allowed=True)


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def caller_identity(request: Request, settings: Settings) -> tuple[str, bool]:
    """(identity, authenticated). Only a token with a valid signature counts as a user."""
    header = request.headers.get("authorization", "")
    if header[:7].lower() == "bearer ":
        token = header[7:].strip()
        try:
            claims = security.decode_access_token(settings, token)
        except security.InvalidToken:
            pass
        else:
            # Kept for the authentication dependency: verifying the signature once per
            # request is enough.
            request.state.verified_access_token = (token, claims)
            return f"user:{claims.user_id}", True
    return f"ip:{client_address(request)}", False


async def enforce_global_limit(request: Request) -> None:
    if getattr(request.state, "global_limit_counted", False):
        return  # counted already, by the rush gate (booking/rush_gate.py)
    request.state.global_limit_counted = True
    limiter: RateLimiter = request.app.state.rate_limiter
    identity, authenticated = caller_identity(request, request.app.state.settings)
    items = limiter.authenticated if authenticated else limiter.anonymous
    decision = await limiter.hit(items, "global", identity)
    if not decision.allowed:
        raise RateLimited(
            headers={"Retry-After": str(decision.retry_after)},
            details={"retry_after_seconds": decision.retry_after},
        )


async def enforce_sensitive_limit(request: Request) -> None:
    limiter: RateLimiter = request.app.state.rate_limiter
    route = request.scope.get("route")
    name = getattr(route, "path", request.url.path)
    decision = await limiter.hit(limiter.sensitive, "sensitive", name, client_address(request))
    if not decision.allowed:
        raise RateLimited(
            "Too many attempts; wait before trying again.",
            headers={"Retry-After": str(decision.retry_after)},
            details={"retry_after_seconds": decision.retry_after},
        )


SensitiveRateLimit = Annotated[None, Depends(enforce_sensitive_limit)]
