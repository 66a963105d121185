"""Signed check-in codes that a scanner can verify without the database.

Each studio has an Ed25519 key pair derived from SECRET_KEY and the tenant id (HKDF), so
nothing is stored and a device can be handed the public key to verify codes offline. A
code carries the booking, the occurrence, the tenant and an expiry; changing any of them
breaks the signature, and a code cannot be moved to another booking.
"""

from __future__ import annotations

import base64
import functools
import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from studioloop.config import Settings

PREFIX = "SL1"  # format version, so codes can change shape later
VALID_AFTER_END = timedelta(hours=2)


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def signing_key(settings: Settings, tenant_id: uuid.UUID) -> Ed25519PrivateKey:
    return _derived_key(settings.secret_key.get_secret_value(), tenant_id)


@functools.lru_cache(maxsize=4096)
def _derived_key(secret: str, tenant_id: uuid.UUID) -> Ed25519PrivateKey:
    # Cached: every booking signs a code, and the derivation is pure.
    seed = HKDF(
        algorithm=hashes.SHA256(), length=32, salt=b"studioloop-checkin-v1", info=tenant_id.bytes
    ).derive(secret.encode())
    return Ed25519PrivateKey.from_private_bytes(seed)


def public_key_b64(settings: Settings, tenant_id: uuid.UUID) -> str:
    """The studio's verification key (raw 32 bytes, base64url) for offline scanners."""
    raw = (
        signing_key(settings, tenant_id)
        .public_key()
        .public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    )
    return _b64(raw)


@dataclass(frozen=True)
class CheckinCode:
    booking_id: uuid.UUID
    occurrence_id: uuid.UUID
    tenant_id: uuid.UUID
    expires_at: datetime


def issue(settings: Settings, code: CheckinCode) -> str:
    payload = json.dumps(
        {
            "b": str(code.booking_id),
            "o": str(code.occurrence_id),
            "t": str(code.tenant_id),
            "e": int(code.expires_at.timestamp()),
        },
        separators=(",", ":"),
    ).encode()
    signature = signing_key(settings, code.tenant_id).sign(payload)
    return f"{PREFIX}.{_b64(payload)}.{_b64(signature)}"


class InvalidCode(Exception):
    pass


def read(
    settings: Settings, text: str, *, now: datetime | None = None, allow_expired: bool = False
) -> CheckinCode:
    """Verify a scanned code's signature and expiry; raise InvalidCode otherwise."""
    try:
        prefix, payload_b64, signature_b64 = text.strip().split(".")
        if prefix != PREFIX:
            raise InvalidCode("unknown format")
        payload = _unb64(payload_b64)
        fields = json.loads(payload)
        code = CheckinCode(
            uuid.UUID(fields["b"]),
            uuid.UUID(fields["o"]),
            uuid.UUID(fields["t"]),
            datetime.fromtimestamp(fields["e"], UTC),
        )
        public: Ed25519PublicKey = signing_key(settings, code.tenant_id).public_key()
        public.verify(_unb64(signature_b64), payload)
    except (ValueError, KeyError, TypeError, InvalidSignature) as error:
        raise InvalidCode("not a valid StudioLoop check-in code") from error
    if not allow_expired and code.expires_at < (now or datetime.now(UTC)):
        raise InvalidCode("this code has expired")
    return code


def code_for_booking(
    settings: Settings,
    booking_id: uuid.UUID,
    occurrence_id: uuid.UUID,
    tenant_id: uuid.UUID,
    end_time: datetime,
) -> tuple[str, datetime]:
    """The signed code of a confirmed booking, and when it stops being valid (a while
    after the class ends, for a late scan at the door)."""
    expires = end_time + VALID_AFTER_END
    return issue(settings, CheckinCode(booking_id, occurrence_id, tenant_id, expires)), expires
