"""May the TLS front end obtain a certificate for this host? (Caddy's on-demand TLS `ask`.)

Caddy asks before it requests a certificate for a host it has none for, so that nobody can
make it ask the CA for arbitrary names (and spend the rate limits) by pointing DNS at it.
The answer is 200 for the hosts StudioLoop serves: the base domain, a subdomain that is the
slug of a studio in service, and a studio's verified custom domain; anything else 4xx.
It is unauthenticated and cheap (the tenant cache answers repeated asks); Caddy only calls
it from inside the deployment, and the Caddyfile hides /internal/ from the outside.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel

from studioloop.config import Settings
from studioloop.core.errors import NotFound
from studioloop.core.openapi import errors
from studioloop.db.session import DbSession
from studioloop.tenants.cache import TenantCache
from studioloop.tenants.service import find_tenant_ref

router = APIRouter(prefix="/internal/tls", tags=["operations"])

# A DNS name as a client may send it: letters in any case, an optional final dot.
HOSTNAME_PATTERN = (
    r"^(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)*"
    r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.?$"
)
SERVED_STATUSES = ("active", "trial")


class DomainNotServed(NotFound):
    code = "DOMAIN_NOT_SERVED"
    message = "StudioLoop serves no site on this domain."


class TlsAllowed(BaseModel):
    domain: str
    tenant: str | None  # the studio's slug, or None for the platform's own domain


@router.get("/allowed", response_model=TlsAllowed, responses=errors(404, 422))
async def tls_allowed(
    request: Request,
    session: DbSession,
    domain: Annotated[str, Query(min_length=1, max_length=254, pattern=HOSTNAME_PATTERN)],
) -> TlsAllowed:
    """200 if a certificate may be obtained for `domain`, else 404 (or 422 for a non-name)."""
    settings: Settings = request.app.state.settings
    host = domain.lower().removesuffix(".")
    if host == settings.base_domain:
        return TlsAllowed(domain=host, tenant=None)
    label = host.removesuffix("." + settings.base_domain)
    if label != host:
        if "." in label:  # a.b.<base>: not a studio's address
            raise DomainNotServed()
        key = ("slug", label)
    else:
        key = ("domain", host)
    cache: TenantCache = request.app.state.tenant_cache
    found, ref = cache.get(key)
    if not found:
        ref = await find_tenant_ref(session, key)
        cache.put(key, ref)
    if ref is None or ref.status not in SERVED_STATUSES:
        raise DomainNotServed()
    return TlsAllowed(domain=host, tenant=ref.slug)
