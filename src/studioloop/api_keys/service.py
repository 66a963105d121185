"""API keys: create (the secret shown once), list, revoke, and verify a presented key.

A key reads `sl_live_<prefix>_<secret>`: the prefix (8 characters) is public, shown in
lists and used to find the key; the secret is 32 random bytes. Only the SHA-256 of the
whole key is stored.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import string
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import exists, select
from sqlalchemy.ext.asyncio import AsyncSession

from studioloop.accounts.models import User
from studioloop.api_keys import repository
from studioloop.api_keys.exceptions import ApiKeyNotFound, ApiKeyRevoked, InvalidApiKey
from studioloop.api_keys.models import ApiKey
from studioloop.api_keys.schemas import ApiKeyCreated, ApiKeyIn, ApiKeyOut

KEY_START = "sl_live_"
PREFIX_ALPHABET = string.ascii_lowercase + string.digits
PREFIX_LENGTH = 8
# token_urlsafe(32): 32 random bytes as 43 URL-safe base64 characters.
KEY_PATTERN = re.compile(r"sl_live_([a-z0-9]{8})_([A-Za-z0-9_-]{43})")
KEY_LENGTH = len(KEY_START) + PREFIX_LENGTH + 1 + 43
# A key's last use is written at most this often: a busy key costs no write per request.
LAST_USED_PRECISION = timedelta(minutes=1)


@dataclass(frozen=True)
class VerifiedKey:
    id: uuid.UUID
    tenant_id: uuid.UUID
    scopes: frozenset[str]
    tenant_status: str
    last_used_at: datetime | None


def looks_like_key(token: str) -> bool:
    """Whether a bearer token is meant as an API key (rather than an access token, which
    is a JWT and never starts so)."""
    return token.startswith("sl_")


def hash_key(key: str) -> bytes:
    """SHA-256, not a password hash such as argon2: a slow hash protects secrets people
    choose, which can be guessed; this one is 256 random bits, beyond any guessing,
    and a fast hash keeps verifying it cheap on every request."""
    return hashlib.sha256(key.encode()).digest()


def _new_key() -> tuple[str, str]:
    prefix = "".join(secrets.choice(PREFIX_ALPHABET) for _ in range(PREFIX_LENGTH))
    return prefix, f"{KEY_START}{prefix}_{secrets.token_urlsafe(32)}"


async def create_key(
    session: AsyncSession, tenant_id: uuid.UUID, created_by: User, body: ApiKeyIn
) -> ApiKeyCreated:
    prefix, key = _new_key()
    # 36^8 prefixes: a clash within one studio is all but impossible, but cheap to avoid.
    while await session.scalar(
        select(exists().where(ApiKey.tenant_id == tenant_id, ApiKey.prefix == prefix))
    ):
        prefix, key = _new_key()
    row = ApiKey(
        tenant_id=tenant_id,
        name=body.name,
        prefix=prefix,
        secret_hash=hash_key(key),
        scopes=sorted(set(body.scopes)),
        created_by_user_id=created_by.id,
    )
    session.add(row)
    await session.flush()
    await session.refresh(row)
    return ApiKeyCreated(**_out(row, created_by).model_dump(), secret=key)


def _out(row: ApiKey, creator: User | None) -> ApiKeyOut:
    return ApiKeyOut(
        id=row.id,
        name=row.name,
        prefix=row.prefix,
        scopes=list(row.scopes),
        created_by_user_id=row.created_by_user_id,
        created_by_name=f"{creator.first_name} {creator.last_name}".strip() if creator else None,
        created_at=row.created_at,
        last_used_at=row.last_used_at,
        revoked_at=row.revoked_at,
    )


async def list_keys(session: AsyncSession, tenant_id: uuid.UUID) -> list[ApiKeyOut]:
    """The studio's keys, working ones first, newest first."""
    rows = await session.execute(
        select(ApiKey, User)
        .outerjoin(User, User.id == ApiKey.created_by_user_id)
        .where(ApiKey.tenant_id == tenant_id)
        .order_by(ApiKey.revoked_at.is_not(None), ApiKey.created_at.desc())
    )
    return [_out(key, creator) for key, creator in rows.all()]


async def get_key(session: AsyncSession, tenant_id: uuid.UUID, key_id: uuid.UUID) -> ApiKeyOut:
    row = await session.scalar(
        select(ApiKey).where(ApiKey.tenant_id == tenant_id, ApiKey.id == key_id)
    )
    if row is None:
        raise ApiKeyNotFound()
    creator = await session.get(User, row.created_by_user_id) if row.created_by_user_id else None
    return _out(row, creator)


async def revoke_key(session: AsyncSession, tenant_id: uuid.UUID, key_id: uuid.UUID) -> None:
    """The key stops working at once. Revoking a revoked key changes nothing."""
    row = await session.scalar(
        select(ApiKey).where(ApiKey.tenant_id == tenant_id, ApiKey.id == key_id).with_for_update()
    )
    if row is None:
        raise ApiKeyNotFound()
    if row.revoked_at is None:
        row.revoked_at = datetime.now(UTC)
        await session.flush()


async def verify(session: AsyncSession, key: str) -> VerifiedKey:
    """The key presented, if it is one of ours and not revoked; else `InvalidApiKey`.
    Runs before any studio is in context (the lookup is by the public prefix)."""
    if len(key) != KEY_LENGTH:  # before the pattern: a megabyte of garbage costs nothing
        raise InvalidApiKey()
    match = KEY_PATTERN.fullmatch(key)
    if match is None:
        raise InvalidApiKey()
    presented = hash_key(key)
    for row in await repository.keys_with_prefix(session, match.group(1)):
        if hmac.compare_digest(bytes(row.secret_hash), presented):
            if row.revoked_at is not None:
                raise ApiKeyRevoked()
            if row.tenant_status == "cancelled":
                raise InvalidApiKey()
            return VerifiedKey(
                id=row.id,
                tenant_id=row.tenant_id,
                scopes=frozenset(row.scopes),
                tenant_status=row.tenant_status,
                last_used_at=row.last_used_at,
            )
    raise InvalidApiKey()


async def record_use(session: AsyncSession, key: VerifiedKey, now: datetime) -> None:
    """Note the key's use, at most once a minute (no write on most requests). The key's
    studio must be in context."""
    if key.last_used_at is None or now - key.last_used_at >= LAST_USED_PRECISION:
        await repository.touch(session, key.id, key.tenant_id)
