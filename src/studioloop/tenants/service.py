"""Tenants: creation, public directory, settings."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import and_, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from studioloop.accounts import members
from studioloop.accounts.models import User
from studioloop.core.errors import Forbidden
from studioloop.core.pagination import Page, cursor_uuid, decode_cursor, encode_cursor
from studioloop.db import tenancy
from studioloop.tenants import repository
from studioloop.tenants.cache import TenantRef, announce_tenant_change
from studioloop.tenants.exceptions import DomainTaken, SlugTaken, TenantNotFound
from studioloop.tenants.models import (
    PLATFORM_KIND,
    PLATFORM_TENANT_ID,
    Tenant,
)
from studioloop.tenants.schemas import TenantCreate, TenantPublic, TenantUpdate

PLATFORM_ONLY_FIELDS = ("status", "subscription_tier", "custom_domain_verified")


def _ref(tenant: Tenant) -> TenantRef:
    return TenantRef(
        id=tenant.id,
        slug=tenant.slug,
        name=tenant.name,
        status=tenant.status,
        timezone=tenant.timezone,
        currency=tenant.currency,
    )


async def find_tenant_ref(session: AsyncSession, key: tuple[str, str]) -> TenantRef | None:
    kind, value = key
    query = select(Tenant).where(Tenant.kind != PLATFORM_KIND)
    if kind == "slug":
        query = query.where(Tenant.slug == value)
    elif kind == "id":
        query = query.where(Tenant.id == uuid.UUID(value))
    else:  # a custom domain counts only once verified
        query = query.where(
            Tenant.custom_domain == value, Tenant.custom_domain_verified_at.is_not(None)
        )
    tenant = await session.scalar(query)
    return _ref(tenant) if tenant else None


async def create_tenant(session: AsyncSession, owner: User, data: TenantCreate) -> Tenant:
    tenant = Tenant(
        name=data.name,
        slug=data.slug,
        kind=data.kind,
        email=str(data.email).lower(),
        phone=data.phone,
        address=data.address.model_dump(exclude_none=True),
        settings=data.settings,
        marketplace_enabled=data.marketplace_enabled,
        timezone=data.timezone,
        currency=data.currency,
    )
    try:
        # A savepoint lets the unique constraint decide races between two sign-ups.
        async with session.begin_nested():
            session.add(tenant)
            await session.flush()
    except IntegrityError as exc:
        raise SlugTaken(details={"field": "slug"}) from exc
    await session.refresh(tenant)
    # A scope, not an entry: the demo loader creates several studios in one transaction.
    async with tenancy.scope(session, tenant.id):
        await members.grant_role(session, tenant.id, owner.id, "owner", actor_user_id=owner.id)
    await announce_tenant_change(session, tenant.id)
    return tenant


async def get_tenant_by_slug(
    session: AsyncSession, slug: str, *, include_inactive: bool = False
) -> Tenant:
    tenant = await session.scalar(
        select(Tenant).where(Tenant.slug == slug.lower(), Tenant.kind != PLATFORM_KIND)
    )
    if tenant is None:
        raise TenantNotFound()
    if not include_inactive and tenant.status not in ("active", "trial"):
        raise TenantNotFound()
    return tenant


async def list_marketplace_tenants(
    session: AsyncSession, *, limit: int, cursor: str | None
) -> Page[TenantPublic]:
    query = select(Tenant).where(
        Tenant.status == "active",
        Tenant.marketplace_enabled.is_(True),
        Tenant.kind != PLATFORM_KIND,
    )
    if cursor:
        last_name, raw_id = decode_cursor(cursor, 2)
        last_id = cursor_uuid(raw_id)
        query = query.where(
            or_(
                Tenant.name > str(last_name),
                and_(Tenant.name == str(last_name), Tenant.id > last_id),
            )
        )
    rows = list(await session.scalars(query.order_by(Tenant.name, Tenant.id).limit(limit + 1)))
    next_cursor = (
        encode_cursor([rows[limit - 1].name, rows[limit - 1].id]) if len(rows) > limit else None
    )
    return Page(
        items=[TenantPublic.model_validate(t) for t in rows[:limit]], next_cursor=next_cursor
    )


async def update_tenant(
    session: AsyncSession, tenant: Tenant, changes: TenantUpdate, *, by_platform_owner: bool
) -> Tenant:
    values = changes.model_dump(exclude_unset=True)
    if not by_platform_owner:
        forbidden = [name for name in PLATFORM_ONLY_FIELDS if name in values]
        if forbidden:
            raise Forbidden(
                "Only the platform operator can change these fields.",
                details={"fields": forbidden},
            )
    verified = values.pop("custom_domain_verified", None)
    if "address" in values and changes.address is not None:
        values["address"] = changes.address.model_dump(exclude_none=True)
    if "email" in values and values["email"] is not None:
        values["email"] = str(values["email"]).lower()
    if values.get("settings") is not None:
        # Merged like a JSON merge patch (RFC 7396): setting the VAT rate must not wipe
        # the payment provider; a key set to null is removed.
        merged = {**(tenant.settings or {}), **values["settings"]}
        values["settings"] = {k: v for k, v in merged.items() if v is not None}
    if "custom_domain" in values:
        new_domain = values["custom_domain"] or None
        if new_domain != tenant.custom_domain:
            # A new domain must be verified again before requests on it reach this tenant.
            tenant.custom_domain_verified_at = None
        values["custom_domain"] = new_domain
    for name, value in values.items():
        if value is None and name not in ("phone", "custom_domain"):
            continue
        setattr(tenant, name, value)
    if verified is not None:
        tenant.custom_domain_verified_at = (
            datetime.now(UTC) if verified and tenant.custom_domain else None
        )
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError as exc:
        raise DomainTaken(details={"field": "custom_domain"}) from exc
    await session.refresh(tenant)
    await announce_tenant_change(session, tenant.id)
    return tenant


async def enter_platform_tenant(session: AsyncSession) -> uuid.UUID:
    """Create the platform's own tenant if this database has none yet, and put it in
    context for the rest of the transaction."""
    await repository.create_platform_tenant(session)
    await tenancy.enter_tenant_for_transaction(session, PLATFORM_TENANT_ID)
    return PLATFORM_TENANT_ID


async def settings_of(session: AsyncSession, tenant_id: uuid.UUID) -> dict[str, Any]:
    """A studio's settings (its choices: policies, payment provider, ...)."""
    found = await session.scalar(select(Tenant.settings).where(Tenant.id == tenant_id))
    return dict(found or {})


async def merge_settings(
    session: AsyncSession, tenant_id: uuid.UUID, changes: dict[str, Any]
) -> dict[str, Any]:
    """Change some of a studio's settings (a null removes the key), as PATCH does."""
    tenant = await get_tenant(session, tenant_id)
    merged = {**(tenant.settings or {}), **changes}
    tenant.settings = {k: v for k, v in merged.items() if v is not None}
    await session.flush()
    await announce_tenant_change(session, tenant.id)
    return tenant.settings


async def get_tenant(session: AsyncSession, tenant_id: uuid.UUID) -> Tenant:
    tenant = await session.get(Tenant, tenant_id)
    if tenant is None:
        raise TenantNotFound()
    return tenant
