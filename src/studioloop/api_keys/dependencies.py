"""Requests made with an API key: who is calling, under which studio, with which scopes.

`Authorization: Bearer sl_live_...` is a key (an access token is a JWT and never starts
`sl_`). The key is found by its public prefix before any studio is known (the SECURITY
DEFINER function of migration 0035), its hash compared in constant time, its scope
checked, and then its studio entered for the request's transaction: from there the
endpoint's queries run under that studio's row-level security, exactly as a request
routed by `/tenants/{slug}` does. An endpoint needs no `{slug}`; when the request does
name a studio (path, `X-Tenant-ID`, host) it must be the key's.

    caller: Annotated[ApiKeyCaller, Depends(require_scope("usage:write"))]

Every API request is counted by `enforce_rate_limit` (api.py): a request with a valid key
against that key's own budget (`RATE_LIMIT_API_KEY`), anything else as before.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from studioloop.accounts.dependencies import bearer_scheme, get_optional_user, require_role
from studioloop.accounts.roles import Role
from studioloop.api_keys import service
from studioloop.api_keys.exceptions import InvalidApiKey, ScopeMissing, WrongStudioForKey
from studioloop.api_keys.scopes import SCOPES
from studioloop.core.errors import RateLimited, Unauthorized
from studioloop.core.ratelimit import RateLimiter, client_address, enforce_global_limit
from studioloop.db.engine import get_database
from studioloop.db.session import DbSession
from studioloop.db.tenancy import enter_tenant_for_transaction
from studioloop.tenants.cache import TenantRef
from studioloop.tenants.dependencies import get_optional_tenant, get_tenant, lookup_key, resolve
from studioloop.tenants.exceptions import TenantSuspended

# Declares the scheme in the OpenAPI document; the header is read by `presented_key`.
api_key_scheme = HTTPBearer(
    scheme_name="ApiKey",
    bearerFormat="sl_live_<prefix>_<secret>",
    description="A studio's API key (docs/api.md, API keys); each endpoint names the "
    "scope it needs.",
    auto_error=False,
)


@dataclass(frozen=True)
class ApiKeyCaller:
    key_id: uuid.UUID
    tenant_id: uuid.UUID
    scopes: frozenset[str]


def presented_key(request: Request) -> str | None:
    """The API key in the Authorization header, if the bearer token is meant as one."""
    header = request.headers.get("authorization", "")
    if header[:7].lower() != "bearer ":
        return None
    token = header[7:].strip()
    return token if service.looks_like_key(token) else None


async def enforce_rate_limit(request: Request) -> None:
    """The API's rate limit. A request with a valid key counts against the key's budget;
    one with a key that does not verify counts against its address's anonymous budget (as
    a forged access token does), so made-up keys buy nothing; anything else is counted by
    `core.ratelimit.enforce_global_limit`.

    The key is verified here, on a session of its own (the limit comes before the
    endpoint's dependencies), and kept on the request so the endpoint does not look it up
    again."""
    key = presented_key(request)
    if key is None:
        await enforce_global_limit(request)
        return
    if getattr(request.state, "global_limit_counted", False):
        return
    request.state.global_limit_counted = True
    limiter: RateLimiter = request.app.state.rate_limiter
    async with get_database().sessionmaker() as session:
        try:
            verified = await service.verify(session, key)
        except InvalidApiKey:
            # The endpoint answers 401 (or ignores the header, if it is public).
            decision = await limiter.hit(
                limiter.anonymous, "global", f"ip:{client_address(request)}"
            )
        else:
            request.state.verified_api_key = (key, verified)
            decision = await limiter.hit(limiter.api_key, "api_key", str(verified.id))
    if not decision.allowed:
        raise RateLimited(
            headers={"Retry-After": str(decision.retry_after)},
            details={"retry_after_seconds": decision.retry_after},
        )


async def _verified(request: Request, session: DbSession, key: str) -> service.VerifiedKey:
    known = getattr(request.state, "verified_api_key", None)
    if known is not None and known[0] == key:
        verified: service.VerifiedKey = known[1]  # by the rate limit, a moment ago
        return verified
    return await service.verify(session, key)


async def _enter_key_studio(
    request: Request, session: DbSession, key: str, scope: str
) -> tuple[ApiKeyCaller, TenantRef | None]:
    """Authenticate the key, check the studio the request names (if any) and the scope,
    and enter the key's studio. Returns the studio named by the request, if any."""
    verified = await _verified(request, session, key)
    named = lookup_key(request, request.app.state.settings)
    named_ref = None
    if named is not None:
        named_ref = await resolve(session, request.app.state.tenant_cache, named)
        if named_ref.id != verified.tenant_id:
            raise WrongStudioForKey()
    if scope not in verified.scopes:
        raise ScopeMissing(
            f"This API key does not have the scope {scope!r}.", details={"missing_scope": scope}
        )
    if verified.tenant_status == "suspended":
        raise TenantSuspended()
    await enter_tenant_for_transaction(session, verified.tenant_id)
    request.state.tenant_id = verified.tenant_id
    request.state.api_key_id = verified.id
    await service.record_use(session, verified, datetime.now(UTC))
    caller = ApiKeyCaller(verified.id, verified.tenant_id, verified.scopes)
    return caller, named_ref


def require_scope(scope: str) -> Callable[..., Awaitable[ApiKeyCaller]]:
    """Dependency: the request carries a valid API key with `scope`; its studio is entered
    for the request's transaction (row-level security). 401 without a valid key, 403 for
    a missing scope or another studio's URL.

    Usage: `caller: Annotated[ApiKeyCaller, Depends(require_scope("usage:write"))]`."""
    if scope not in SCOPES:
        raise ValueError(f"unknown API key scope {scope!r}: add it to api_keys/scopes.py")

    async def dependency(
        request: Request,
        session: DbSession,
        _scheme: Annotated[HTTPAuthorizationCredentials | None, Depends(api_key_scheme)],
    ) -> ApiKeyCaller:
        key = presented_key(request)
        if key is None:
            raise Unauthorized("Send an API key: Authorization: Bearer sl_live_...")
        caller, _ = await _enter_key_studio(request, session, key, scope)
        return caller

    dependency.__name__ = f"require_scope_{scope.replace(':', '_')}"
    return dependency


def staff_or_key(minimum: Role, scope: str) -> Callable[..., Awaitable[TenantRef]]:
    """Dependency for a studio's read that its staff and its own servers both make: a
    signed-in user holding at least `minimum` at the studio the request names (as
    `CurrentTenant` with `require_role(minimum)`), or an API key with `scope`. Answers the
    studio, entered for the transaction either way."""
    if scope not in SCOPES:
        raise ValueError(f"unknown API key scope {scope!r}: add it to api_keys/scopes.py")
    role_check = require_role(minimum)

    async def dependency(
        request: Request,
        session: DbSession,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)],
        _scheme: Annotated[HTTPAuthorizationCredentials | None, Depends(api_key_scheme)],
    ) -> TenantRef:
        key = presented_key(request)
        if key is not None:
            caller, named = await _enter_key_studio(request, session, key, scope)
            if named is not None:
                return named
            return await resolve(
                session, request.app.state.tenant_cache, ("id", str(caller.tenant_id))
            )
        tenant = await get_tenant(await get_optional_tenant(request, session))
        user = await get_optional_user(request, session, credentials)
        if user is None:
            raise Unauthorized()
        await role_check(tenant=tenant, user=user, session=session)
        return tenant

    dependency.__name__ = f"staff_{minimum}_or_key_{scope.replace(':', '_')}"
    return dependency
