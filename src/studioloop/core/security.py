"""Password hashing, access tokens (JWT) and opaque secrets."""

from __future__ import annotations

import functools
import hashlib
import hmac
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from studioloop.config import Settings

ACCESS_TOKEN_TYPE = "access"  # noqa: S105 (a claim value)
JWT_ALGORITHM = "HS256"


def password_hasher(settings: Settings) -> PasswordHasher:
    if settings.password_hash_cheap:
        # Test-only: the same argon2id algorithm at a trivial cost.
        return PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
    return PasswordHasher()  # argon2id with the library's recommended parameters


def hash_password(settings: Settings, password: str) -> str:
    return password_hasher(settings).hash(password)


def verify_password(settings: Settings, password_hash: str | None, password: str) -> bool:
    hasher = password_hasher(settings)
    if password_hash is None:
        # Spend the same time as a real check so unknown accounts are not revealed by timing.
        hasher.hash(password)
        return False
    try:
        return hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


@dataclass(frozen=True)
class AccessClaims:
    user_id: uuid.UUID
    issued_at: datetime
    expires_at: datetime


def create_access_token(
    settings: Settings,
    user_id: uuid.UUID,
    *,
    now: datetime | None = None,
    ttl_seconds: int | None = None,
) -> str:
    now = now or datetime.now(UTC)
    ttl = ttl_seconds if ttl_seconds is not None else settings.access_token_ttl_seconds
    payload: dict[str, Any] = {
        "sub": str(user_id),
        "typ": ACCESS_TOKEN_TYPE,
        "iat": int(now.timestamp()),
        "exp": int((now + timedelta(seconds=ttl)).timestamp()),
        "jti": secrets.token_hex(8),
    }
    return jwt.encode(payload, settings.secret_key.get_secret_value(), algorithm=JWT_ALGORITHM)


class InvalidToken(Exception):
    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


def decode_access_token(settings: Settings, token: str) -> AccessClaims:
    claims = _verified_claims(settings.secret_key.get_secret_value(), token)
    # A remembered token is checked for expiry on every use, as PyJWT would.
    if claims.expires_at <= datetime.now(UTC):
        raise InvalidToken("expired")
    return claims


# Verifying a token (base64, JSON, HMAC) cost a fifth of a millisecond of CPU on every
# API request, and a client sends the same token with each request until it expires. So
# the claims of tokens that verified are remembered per process, keyed by the secret and
# the token's exact text (signature included): a token not seen before, or altered in any
# way, is verified in full. Invalid tokens raise and are never remembered.
@functools.lru_cache(maxsize=8192)
def _verified_claims(secret: str, token: str) -> AccessClaims:
    try:
        payload = jwt.decode(
            token,
            secret,
            algorithms=[JWT_ALGORITHM],
            options={"require": ["sub", "exp", "iat", "typ"]},
        )
    except jwt.ExpiredSignatureError as exc:
        raise InvalidToken("expired") from exc
    except jwt.PyJWTError as exc:
        raise InvalidToken("invalid") from exc
    if payload.get("typ") != ACCESS_TOKEN_TYPE:
        raise InvalidToken("invalid")
    try:
        user_id = uuid.UUID(str(payload["sub"]))
    except ValueError as exc:
        raise InvalidToken("invalid") from exc
    return AccessClaims(
        user_id=user_id,
        issued_at=datetime.fromtimestamp(payload["iat"], UTC),
        expires_at=datetime.fromtimestamp(payload["exp"], UTC),
    )


def new_opaque_token() -> str:
    return secrets.token_urlsafe(32)


def token_digest(token: str) -> str:
    """Refresh tokens are high-entropy, so a plain SHA-256 is a sufficient stored form."""
    return hashlib.sha256(token.encode()).hexdigest()


def new_numeric_code(digits: int = 6) -> str:
    return f"{secrets.randbelow(10**digits):0{digits}d}"


def code_digest(settings: Settings, code: str, scope: str) -> str:
    """Six digits are guessable offline from a plain hash; key it with the secret."""
    key = settings.secret_key.get_secret_value().encode()
    return hmac.new(key, f"{scope}:{code}".encode(), hashlib.sha256).hexdigest()


def constant_time_equals(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())
