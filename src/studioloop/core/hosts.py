"""Answer only for our own hosts: the Host header must be allowed, or a studio's domain.

Starlette's TrustedHostMiddleware keeps a static list and answers others in plain text. A
studio's verified custom domain is added at run time, so a static list cannot hold it:
a host not on the list is asked about (`is_tenant_domain`, which goes through the tenant
cache) before it is refused, with the error envelope.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.types import ASGIApp, Receive, Scope, Send

from studioloop.core.context import request_id_var
from studioloop.core.logging import get_logger
from studioloop.core.middleware import send_json

logger = get_logger(__name__)

# Probes and scrapers often call by address (a load balancer's health check, Prometheus):
# these answer for any host, and say nothing about any studio.
# The TLS ask is called by Caddy on an internal address, before a host is known to us.
ANY_HOST_PATHS = frozenset({"/health", "/ready", "/metrics", "/internal/tls/allowed"})
MAX_HOST_LENGTH = 253

TenantDomainCheck = Callable[[str], Awaitable[bool]]


def host_of(header: str) -> str:
    """The host name of a Host header: lower case, without port or trailing dot."""
    value = header.strip().lower()
    if value.startswith("["):  # [::1]:8000
        return value.split("]", 1)[0] + "]"
    return value.split(":", 1)[0].rstrip(".")


def matches(host: str, patterns: list[str]) -> bool:
    for pattern in patterns:
        if pattern == "*" or host == pattern:
            return True
        if pattern.startswith("*.") and host.endswith(pattern[1:]):
            return True
    return False


class AllowedHostsMiddleware:
    def __init__(
        self, app: ASGIApp, patterns: list[str], is_tenant_domain: TenantDomainCheck
    ) -> None:
        self.app = app
        self.patterns = patterns
        self.is_tenant_domain = is_tenant_domain

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket") or scope.get("path") in ANY_HOST_PATHS:
            await self.app(scope, receive, send)
            return
        header = next((v for k, v in scope.get("headers", []) if k == b"host"), b"")
        host = host_of(header.decode("latin-1"))
        try:
            allowed = await self._allowed(host)
        except Exception as exc:  # the look-up needs the database: down means "not now"
            logger.warning("host check failed", host=host[:MAX_HOST_LENGTH], error=repr(exc))
            if scope["type"] == "websocket":
                await send({"type": "websocket.close", "code": 1013, "reason": "try again"})
                return
            await _answer(
                send,
                503,
                "SERVICE_UNAVAILABLE",
                "The service is temporarily unavailable.",
                {},
                [(b"retry-after", b"5")],
            )
            return
        if allowed:
            await self.app(scope, receive, send)
            return
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008, "reason": "unknown host"})
            return
        await _answer(
            send,
            400,
            "INVALID_HOST",
            "This server does not answer for that host name.",
            {"host": host[:MAX_HOST_LENGTH]},
        )

    async def _allowed(self, host: str) -> bool:
        if matches(host, self.patterns):
            return True
        if not host or len(host) > MAX_HOST_LENGTH or "." not in host:
            return False
        return await self.is_tenant_domain(host)


async def _answer(
    send: Send,
    status: int,
    code: str,
    message: str,
    details: dict[str, str],
    headers: list[tuple[bytes, bytes]] | None = None,
) -> None:
    error = {"code": code, "message": message, "request_id": request_id_var.get()}
    await send_json(send, status, {"error": {**error, "details": details}}, headers)
