from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response, status

from studioloop.accounts import members
from studioloop.accounts.dependencies import CurrentUser
from studioloop.accounts.exceptions import InsufficientRole
from studioloop.core.http import app_settings
from studioloop.core.openapi import API_PREFIX, errors
from studioloop.core.pagination import Page
from studioloop.db.session import DbSession
from studioloop.db.tenancy import enter_tenant_for_transaction
from studioloop.tenants import logo, schemas, service
from studioloop.tenants.models import Tenant

router = APIRouter(prefix=f"{API_PREFIX}/tenants", tags=["tenants"])


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=schemas.TenantDetail,
    responses=errors(401, 409, 422),
)
async def create_tenant(
    body: schemas.TenantCreate, user: CurrentUser, session: DbSession, request: Request
) -> schemas.TenantDetail:
    """Create a studio, gym, creator or training provider; the caller becomes its owner."""
    tenant = await service.create_tenant(session, user, body)
    # Other processes hear of it by NOTIFY on commit; this one forgets at once.
    request.app.state.tenant_cache.clear()
    return schemas.TenantDetail.model_validate(tenant)


@router.get("", response_model=Page[schemas.TenantPublic])
async def list_tenants(
    session: DbSession,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[str | None, Query(max_length=512)] = None,
) -> Page[schemas.TenantPublic]:
    """Active studios that take part in the marketplace, by name."""
    return await service.list_marketplace_tenants(session, limit=limit, cursor=cursor)


@router.get("/{slug}", response_model=schemas.TenantPublic, responses=errors(404))
async def get_tenant(slug: str, session: DbSession) -> schemas.TenantPublic:
    tenant = await service.get_tenant_by_slug(session, slug)
    return schemas.TenantPublic.model_validate(tenant)


@router.patch(
    "/{slug}", response_model=schemas.TenantDetail, responses=errors(401, 403, 404, 409, 422)
)
async def update_tenant(
    slug: str, body: schemas.TenantUpdate, user: CurrentUser, session: DbSession, request: Request
) -> schemas.TenantDetail:
    """Change a studio's details (admin+). Status, tier and domain verification are for
    the platform operator, who may also act on suspended studios."""
    tenant = await _administered(session, slug, user)
    tenant = await service.update_tenant(
        session, tenant, body, by_platform_owner=user.is_platform_owner
    )
    request.app.state.tenant_cache.clear()
    return schemas.TenantDetail.model_validate(tenant)


async def _administered(session: DbSession, slug: str, user: CurrentUser) -> Tenant:
    """The studio named by `slug`, if the caller is one of its admins (or the operator)."""
    tenant = await service.get_tenant_by_slug(session, slug, include_inactive=True)
    await enter_tenant_for_transaction(session, tenant.id)
    if not user.is_platform_owner:
        membership = await members.membership_of(session, tenant.id, user.id)
        if membership is None or not membership.allows("admin") or tenant.status == "cancelled":
            raise InsufficientRole(details={"required_role": "admin"})
    return tenant


@router.put(
    "/{slug}/logo",
    response_model=schemas.TenantDetail,
    responses=errors(401, 403, 404, 413, 422),
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                t: {"schema": {"type": "string", "format": "binary"}}
                for t in ("image/png", "image/jpeg", "image/webp")
            },
        }
    },
)
async def upload_logo(
    slug: str, user: CurrentUser, session: DbSession, request: Request
) -> schemas.TenantDetail:
    """Set the studio's logo (admin+): the image itself as the body, PNG, JPEG or WebP up
    to 1 MB. It is stored as a PNG of at most 600x600 and shown on receipts."""
    tenant = await _administered(session, slug, user)
    await logo.save(session, app_settings(request), tenant.id, await request.body())
    request.app.state.tenant_cache.clear()
    await session.refresh(tenant)
    return schemas.TenantDetail.model_validate(tenant)


@router.delete(
    "/{slug}/logo", status_code=status.HTTP_204_NO_CONTENT, responses=errors(401, 403, 404)
)
async def delete_logo(
    slug: str, user: CurrentUser, session: DbSession, request: Request
) -> Response:
    tenant = await _administered(session, slug, user)
    await logo.remove(session, app_settings(request), tenant.id)
    request.app.state.tenant_cache.clear()
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get(
    "/{slug}/logo",
    response_class=Response,
    responses={200: {"content": {"image/png": {}}, "description": "The logo"}, **errors(404)},
)
async def get_logo(slug: str, session: DbSession, request: Request) -> Response:
    """The studio's logo as a PNG (public)."""
    tenant = await service.get_tenant_by_slug(session, slug)
    image = await logo.read(app_settings(request), tenant.logo_key)
    if image is None:
        raise logo.LogoNotFound()
    return Response(image, media_type="image/png", headers={"Cache-Control": "public, max-age=300"})
