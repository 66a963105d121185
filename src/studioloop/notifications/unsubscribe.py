"""Signed one-click unsubscribe links (RFC 8058).

A link names the member, the studio and the kind of message it stops. It never expires:
mail sits in inboxes for years, and the law expects the link to keep working. It is a JWT
(PyJWT, already our token library) under a key derived from SECRET_KEY for this one use, so
an access token can never pass for an unsubscribe link or the other way round.
"""

from __future__ import annotations

import functools
import uuid
from dataclasses import dataclass

import jwt
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from studioloop.config import Settings
from studioloop.notifications.events import OPTIONAL_CATEGORIES

AUDIENCE = "studioloop:unsubscribe"


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
        algorithm=hashes.SHA256(), length=32, salt=b"studioloop-unsubscribe-v1", info=b"hs256"
    ).derive(secret.encode())


def token_for(settings: Settings, request: Unsubscribe) -> str:
    claims = {
        "aud": AUDIENCE,
        "sub": str(request.user_id),
        "tid": str(request.tenant_id),
        "cat": request.category,
    }
    return jwt.encode(claims, _key(settings.secret_key.get_secret_value()), algorithm="HS256")


def url_for(settings: Settings, request: Unsubscribe) -> str:
    return f"{settings.base_url.rstrip('/')}/unsubscribe/{token_for(settings, request)}"


def read(settings: Settings, token: str) -> Unsubscribe | None:
    try:
        claims = jwt.decode(
            token,
            _key(settings.secret_key.get_secret_value()),
            algorithms=["HS256"],
            audience=AUDIENCE,
        )
        request = Unsubscribe(
            user_id=uuid.UUID(claims["sub"]),
            tenant_id=uuid.UUID(claims["tid"]),
            category=claims["cat"],
        )
    except (jwt.PyJWTError, KeyError, ValueError, TypeError):
        return None
    return request if request.category in OPTIONAL_CATEGORIES else None
