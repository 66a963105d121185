"""Which tenant a request is for: path slug, then X-Tenant-ID, then the Host."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from studioloop.config import Settings
from studioloop.db.engine import get_database
from studioloop.db.session import ON_REPLICA, DbSession, ReadSession
from studioloop.db.tenancy import enter_tenant_for_transaction
from studioloop.tenants import service
from studioloop.tenants.cache import TenantCache, TenantRef
from studioloop.tenants.exceptions import TenantNotFound, TenantRequired, TenantSuspended

LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost", "::1", "[::1]", "testserver", "test"})


def lookup_key(request: Request, settings: Settings) -> tuple[str, str] | None:
    slug = request.path_params.get("slug")
    if isinstance(slug, str) and slug:
        return ("slug", slug.lower())
    header = request.headers.get("x-tenant-id", "").strip()
    if header:
        try:
            return ("id", str(uuid.UUID(header)))
        except ValueError:
            return ("slug", header.lower())
    host = request.headers.get("host", "").split(":")[0].lower().rstrip(".")
    if not host or host in LOCAL_HOSTS or host == settings.base_domain:
        return None
    suffix = "." + settings.base_domain
    if host.endswith(suffix):
        label = host[: -len(suffix)]
        return ("slug", label) if "." not in label else None
    return ("domain", host)


async def resolve(session: AsyncSession, cache: TenantCache, key: tuple[str, str]) -> TenantRef:
    found, ref = cache.get(key)
    if not found:
        ref = await service.find_tenant_ref(session, key)
        cache.put(key, ref)
    if ref is None or ref.status == "cancelled":
        raise TenantNotFound()
    return ref


def tenant_domain_check(cache: TenantCache) -> Callable[[str], Awaitable[bool]]:
    """For the allowed-hosts check: is this host a studio's verified custom domain? Through
    the same cache as every tenant look-up, so a known domain costs no query, and an
    unknown host one indexed query per cache period."""

    async def is_tenant_domain(host: str) -> bool:
        key = ("domain", host)
        found, ref = cache.get(key)
        if not found:
            async with get_database().sessionmaker() as session:
                ref = await service.find_tenant_ref(session, key)
            cache.put(key, ref)
        return ref is not None and ref.status != "cancelled"

    return is_tenant_domain


async def get_optional_tenant(request: Request, session: DbSession) -> TenantRef | None:
    settings: Settings = request.app.state.settings
    key = lookup_key(request, settings)
    if key is None:
        return None
    ref = await resolve(session, request.app.state.tenant_cache, key)
    return await _enter(request, session, ref)


async def _enter(request: Request, session: AsyncSession, ref: TenantRef) -> TenantRef:
    if ref.status == "suspended":
        raise TenantSuspended()
    # Row-level security now confines every query of this transaction to the tenant.
    await enter_tenant_for_transaction(session, ref.id)
    request.state.tenant_id = ref.id
    return ref


async def get_read_tenant(request: Request, session: ReadSession) -> TenantRef:
    """The tenant of a public read on `ReadSession` (maybe the read replica), with row-level
    security set on that session.

    A lookup the cache does not hold is made on the primary, never on the replica: a
    replica a few seconds behind would otherwise put a studio that was just created, or
    just suspended, into the cache as it was before, for the cache's whole TTL (a tenant
    change clears every process's cache at commit, before the replica has it)."""
    key = lookup_key(request, request.app.state.settings)
    if key is None:
        raise TenantRequired()
    cache: TenantCache = request.app.state.tenant_cache
    if session.info.get(ON_REPLICA) and not cache.get(key)[0]:
        async with get_database().sessionmaker() as primary:
            ref = await resolve(primary, cache, key)
    else:
        ref = await resolve(session, cache, key)
    return await _enter(request, session, ref)


async def get_tenant(
    tenant: Annotated[TenantRef | None, Depends(get_optional_tenant)],
) -> TenantRef:
    if tenant is None:
        raise TenantRequired()
    return tenant


CurrentTenant = Annotated[TenantRef, Depends(get_tenant)]
OptionalTenant = Annotated[TenantRef | None, Depends(get_optional_tenant)]
# For public reads that may be a little stale: use with `ReadSession` (db/session.py).
ReadTenant = Annotated[TenantRef, Depends(get_read_tenant)]
