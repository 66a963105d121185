"""Rate limits with `limits`: in memory by default, Redis when REDIS_URL is set.

Every /api request counts against the caller's hourly budget (per user when a valid bearer
token is present, else per client address). Sign-in, verification and password reset add a
much tighter per-address limit through the `SensitiveRateLimit` dependency.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from limits import RateLimitItem, parse_many
from limits.aio.strategies import MovingWindowRateLimiter
from limits.storage import storage_from_string

from studioloop.config import Settings
from studioloop.core import security
from studioloop.core.errors import RateLimited


@dataclass(frozen=True)
class Decision:
    allowed: bool
    retry_after: int = 0


class RateLimiter:
    def __init__(self, settings: Settings) -> None:
        if settings.redis_url:
            # redis-py is already a dependency; limits defaults to coredis otherwise.
            storage = storage_from_string(f"async+{settings.redis_url}", implementation="redispy")
        else:
            storage = storage_from_string("async+memory://")
        self._limiter = MovingWindowRateLimiter(storage)
        self.enabled = settings.rate_limit_enabled
        self.authenticated = parse_many(settings.rate_limit_authenticated)
        self.anonymous = parse_many(settings.rate_limit_anonymous)
        self.sensitive = parse_many(settings.rate_limit_sensitive)

    async def hit(self, items: list[RateLimitItem], *identifiers: str) -> Decision:
        if not self.enabled:
            return Decision(allowed=True)
        for item in items:
            if not await self._limiter.hit(item, *identifiers):
                stats = await self._limiter.get_window_stats(item, *identifiers)
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
