"""A studio's logo: checked, made into a modest PNG, kept in file storage.

Whatever was uploaded (PNG, JPEG or WebP, at most 1 MB) is decoded by Pillow, so a file
that only claims to be an image is refused, and re-encoded as a PNG no larger than
600x600: receipts and pages then embed one known format, and nothing the uploader put in
the file's metadata survives.
"""

from __future__ import annotations

import io
import uuid

from PIL import Image, UnidentifiedImageError
from sqlalchemy.ext.asyncio import AsyncSession

from studioloop.config import Settings
from studioloop.core.errors import AppError, NotFound
from studioloop.storage.service import get_storage
from studioloop.tenants import service
from studioloop.tenants.cache import announce_tenant_change

MAX_BYTES = 1024 * 1024  # also the API's request limit (MAX_REQUEST_BODY_BYTES)
MAX_PIXELS = 4000 * 4000
SIZE = (600, 600)
FORMATS = {"PNG", "JPEG", "WEBP"}


class InvalidImage(AppError):
    status_code = 422
    code = "INVALID_IMAGE"
    message = "Upload a PNG, JPEG or WebP image of at most 1 MB."


class LogoNotFound(NotFound):
    code = "LOGO_NOT_FOUND"
    message = "This studio has no logo."


def normalised_png(data: bytes) -> bytes:
    if not data or len(data) > MAX_BYTES:
        raise InvalidImage(details={"max_bytes": MAX_BYTES, "received_bytes": len(data)})
    try:
        with Image.open(io.BytesIO(data)) as image:
            if image.format not in FORMATS or image.width * image.height > MAX_PIXELS:
                raise InvalidImage(details={"format": image.format})
            image.load()
            logo = image.convert("RGBA")
    except (UnidentifiedImageError, OSError, Image.DecompressionBombError) as error:
        raise InvalidImage() from error
    logo.thumbnail(SIZE)
    out = io.BytesIO()
    logo.save(out, format="PNG", optimize=True)
    return out.getvalue()


def _key(tenant_id: uuid.UUID) -> str:
    return f"tenants/{tenant_id}/logo.png"


async def save(
    session: AsyncSession, settings: Settings, tenant_id: uuid.UUID, data: bytes
) -> None:
    png = normalised_png(data)
    await get_storage(settings).put(_key(tenant_id), png, "image/png")
    tenant = await service.get_tenant(session, tenant_id)
    tenant.logo_key = _key(tenant_id)
    await session.flush()
    await announce_tenant_change(session, tenant_id)


async def remove(session: AsyncSession, settings: Settings, tenant_id: uuid.UUID) -> None:
    tenant = await service.get_tenant(session, tenant_id)
    if tenant.logo_key is None:
        raise LogoNotFound()
    tenant.logo_key = None
    await session.flush()
    # The file goes once the row no longer points to it; an orphan is harmless.
    await get_storage(settings).delete(_key(tenant_id))
    await announce_tenant_change(session, tenant_id)


async def read(settings: Settings, logo_key: str | None) -> bytes | None:
    if logo_key is None:
        return None
    return await get_storage(settings).get(logo_key)
