"""Photos (a studio's, a class's, a teacher's): checked, resized to WebP, kept in storage.

An upload is decoded by Pillow, so a file that only claims to be an image is refused
whatever its name or declared type; it is then re-encoded as WebP at each of `WIDTHS` up
to its own width (never enlarged; a narrow photo keeps one copy at its own width), turned
upright from its EXIF orientation, with no metadata kept. Pages serve the copies with
`srcset`, so a phone fetches the 400 px one and a wide screen the 1600 px one.

A photo is described by a small JSON object stored with whatever it belongs to:
`{"id": "<32 hex>", "widths": [400, 800], "width": 800, "height": 533}`. Its copies are
`tenants/<tenant id>/photos/<id>-<width>.webp`; ids are random, so a copy never changes
and may be cached for good.
"""

from __future__ import annotations

import asyncio
import io
import re
import uuid
from typing import Any

from PIL import Image, ImageOps, UnidentifiedImageError

from studioloop.config import Settings
from studioloop.core.errors import AppError
from studioloop.storage.service import get_storage

MAX_BYTES = 5 * 1024 * 1024
MAX_PIXELS = 40_000_000
WIDTHS = (400, 800, 1600)
FORMATS = {"PNG", "JPEG", "WEBP"}
PHOTO_ID = re.compile(r"^[0-9a-f]{32}$")
QUALITY = 80


class InvalidPhoto(AppError):
    status_code = 422
    code = "INVALID_PHOTO"
    message = "Upload a PNG, JPEG or WebP photo of at most 5 MB."


def _key(tenant_id: uuid.UUID, photo_id: str, width: int) -> str:
    return f"tenants/{tenant_id}/photos/{photo_id}-{width}.webp"


def resized(data: bytes) -> tuple[dict[int, bytes], tuple[int, int]]:
    """The WebP copies of an upload by width, and its (upright) size; InvalidPhoto if it
    is not a photo we take."""
    if not data:
        raise InvalidPhoto(details={"received_bytes": 0})
    if len(data) > MAX_BYTES:
        raise InvalidPhoto(details={"max_bytes": MAX_BYTES, "received_bytes": len(data)})
    try:
        with Image.open(io.BytesIO(data)) as image:
            if image.format not in FORMATS or image.width * image.height > MAX_PIXELS:
                raise InvalidPhoto(details={"format": image.format})
            image.load()
            upright = ImageOps.exif_transpose(image)
            photo = upright.convert("RGBA" if "A" in upright.getbands() else "RGB")
    except (UnidentifiedImageError, OSError, Image.DecompressionBombError, ValueError) as error:
        raise InvalidPhoto() from error
    widths = [w for w in WIDTHS if w <= photo.width] or [photo.width]
    copies: dict[int, bytes] = {}
    for width in widths:
        height = max(1, round(photo.height * width / photo.width))
        resample = Image.Resampling.LANCZOS
        copy = photo if width == photo.width else photo.resize((width, height), resample)
        out = io.BytesIO()
        copy.save(out, format="WEBP", quality=QUALITY, method=4)
        copies[width] = out.getvalue()
    return copies, (photo.width, photo.height)


async def store(settings: Settings, tenant_id: uuid.UUID, data: bytes) -> dict[str, Any]:
    """Check, resize and store an upload; the photo's description (see above)."""
    copies, (width, height) = await asyncio.to_thread(resized, data)
    photo_id = uuid.uuid4().hex
    storage = get_storage(settings)
    for size, body in copies.items():
        await storage.put(_key(tenant_id, photo_id, size), body, "image/webp")
    shown = min(width, max(copies))
    return {
        "id": photo_id,
        "widths": sorted(copies),
        "width": shown,
        "height": max(1, round(height * shown / width)),
    }


async def discard(settings: Settings, tenant_id: uuid.UUID, photo: dict[str, Any] | None) -> None:
    """Delete a photo's copies (once nothing points to them: an orphan is harmless)."""
    if not photo or not PHOTO_ID.match(str(photo.get("id", ""))):
        return
    storage = get_storage(settings)
    for width in photo.get("widths") or ():
        if isinstance(width, int):
            await storage.delete(_key(tenant_id, photo["id"], width))


async def read(settings: Settings, tenant_id: uuid.UUID, photo_id: str, width: int) -> bytes | None:
    if not PHOTO_ID.match(photo_id) or not 1 <= width <= max(WIDTHS):
        return None
    return await get_storage(settings).get(_key(tenant_id, photo_id, width))
