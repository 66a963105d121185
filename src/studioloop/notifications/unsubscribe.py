"""Signed one-click unsubscribe links (RFC 8058).

A link names the member, the studio and the kind of message it stops. It never expires:
mail sits in inboxes for years, and the law expects the link to keep working.

The token is written by hand rather than as a JWT: it has to fit in a `List-Unsubscribe`
header and in a plain-text email, and the two UUIDs, one byte for the kind and a 128-bit
HMAC-SHA256 tag (stdlib `hmac`) come to 66 characters where a JWT takes about 250. The key
is derived from SECRET_KEY for this one use, so no other token can pass for it.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import hmac
import uuid
from dataclasses import dataclass

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from studioloop.config import Settings
from studioloop.notifications.events import OPTIONAL_CATEGORIES

_KINDS = ("booking", "reminder", "marketing")
_TAG_BYTES = 16


@dataclass(frozen=True)
class Unsubscribe:
    user_id: uuid.UUID
    tenant_id: uuid.UUID
    category: str  # booking, reminder or marketing

    @property
    def preference(self) -> str:
        return OPTIONAL_CATEGORIES[self.category]


@functools.lru_cache(maxsize=4)
def _key(secret: str) -> bytes:
    return HKDF(
        algorithm=hashes.SHA256(), length=32, salt=b"studioloop-unsubscribe-v1", info=b"hmac"
    ).derive(secret.encode())


def _tag(settings: Settings, body: bytes) -> bytes:
    key = _key(settings.secret_key.get_secret_value())
    return hmac.new(key, body, hashlib.sha256).digest()[:_TAG_BYTES]


def token_for(settings: Settings, request: Unsubscribe) -> str:
    body = request.user_id.bytes + request.tenant_id.bytes + bytes([_KINDS.index(request.category)])
    return base64.urlsafe_b64encode(body + _tag(settings, body)).rstrip(b"=").decode()


def url_for(settings: Settings, request: Unsubscribe) -> str:
    return f"{settings.base_url.rstrip('/')}/unsubscribe/{token_for(settings, request)}"


def read(settings: Settings, token: str) -> Unsubscribe | None:
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    except (binascii.Error, ValueError):
        return None
    if len(raw) != 33 + _TAG_BYTES:
        return None
    body, tag = raw[:33], raw[33:]
    if not hmac.compare_digest(tag, _tag(settings, body)) or body[32] >= len(_KINDS):
        return None
    return Unsubscribe(uuid.UUID(bytes=body[:16]), uuid.UUID(bytes=body[16:32]), _KINDS[body[32]])
