"""A studio's own payment provider keys (Yoco), encrypted at rest.

The secrets are sealed with Fernet (AES-128-CBC and HMAC-SHA256, from `cryptography`)
under a key derived from SECRET_KEY, so a database dump alone does not give away a
studio's keys. Only a hint (`sk_live_…a1b2`) is ever shown back; the secrets never leave
the server. Changing SECRET_KEY makes stored keys unreadable: studios then enter them
again (docs/payments.md says so).
"""

from __future__ import annotations

import base64
import functools
import uuid
from dataclasses import dataclass

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy import delete, func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from studioloop.config import Settings
from studioloop.payments import exceptions as exc
from studioloop.payments.models import ProviderCredential


@dataclass(frozen=True)
class Keys:
    secret_key: str
    webhook_secret: str


@functools.lru_cache(maxsize=8)
def _fernet(secret_key: str) -> Fernet:
    derived = HKDF(
        algorithm=hashes.SHA256(), length=32, salt=b"studioloop-credentials-v1", info=b"fernet"
    ).derive(secret_key.encode())
    return Fernet(base64.urlsafe_b64encode(derived))


def seal(settings: Settings, value: str) -> str:
    return _fernet(settings.secret_key.get_secret_value()).encrypt(value.encode()).decode()


def unseal(settings: Settings, token: str) -> str:
    try:
        return _fernet(settings.secret_key.get_secret_value()).decrypt(token.encode()).decode()
    except InvalidToken:
        raise exc.CredentialsUnreadable() from None


def hint(secret_key: str) -> str:
    prefix = secret_key[: secret_key.index("_", 3) + 1] if secret_key.count("_") >= 2 else ""
    return f"{prefix}…{secret_key[-4:]}"


async def save(
    session: AsyncSession,
    settings: Settings,
    tenant_id: uuid.UUID,
    provider: str,
    keys: Keys,
) -> ProviderCredential:
    """Store (or replace) the studio's keys with `provider`."""
    values = {
        "secret_key_encrypted": seal(settings, keys.secret_key),
        "webhook_secret_encrypted": seal(settings, keys.webhook_secret),
        "key_hint": hint(keys.secret_key),
        "is_test": keys.secret_key.startswith("sk_test_"),
    }
    stored = await session.scalar(
        insert(ProviderCredential)
        .values(tenant_id=tenant_id, provider=provider, **values)
        .on_conflict_do_update(
            index_elements=["tenant_id", "provider"],
            set_={**values, "updated_at": func.now()},
        )
        .returning(ProviderCredential)
        .execution_options(populate_existing=True)
    )
    assert stored is not None
    return stored


async def listed(session: AsyncSession) -> list[ProviderCredential]:
    """The studio in context's stored keys (hints only are shown)."""
    return list(
        await session.scalars(select(ProviderCredential).order_by(ProviderCredential.provider))
    )


async def remove(session: AsyncSession, provider: str) -> bool:
    removed = await session.execute(
        delete(ProviderCredential)
        .where(ProviderCredential.provider == provider)
        .returning(ProviderCredential.id)
    )
    return removed.first() is not None


async def keys_of(session: AsyncSession, settings: Settings, provider: str) -> Keys:
    """The studio in context's keys with `provider`, decrypted; PROVIDER_NOT_CONFIGURED
    when it has none."""
    stored = await session.scalar(
        select(ProviderCredential).where(ProviderCredential.provider == provider)
    )
    if stored is None:
        raise exc.ProviderNotConfigured(details={"provider": provider})
    return Keys(
        secret_key=unseal(settings, stored.secret_key_encrypted),
        webhook_secret=unseal(settings, stored.webhook_secret_encrypted),
    )
