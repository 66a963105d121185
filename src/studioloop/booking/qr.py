"""Signed check-in codes that a scanner can verify without the database.

Each studio has an Ed25519 key pair derived from SECRET_KEY and the tenant id (HKDF), so
nothing is stored and a device can be handed the public key to verify codes offline. A
code carries the booking, the occurrence, the tenant and an expiry; changing any of them
breaks the signature, and a code cannot be moved to another booking.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import json
import re
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
# Short codes, typed at the door when the QR cannot be scanned: no 0/O, 1/I/L.
SHORT_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
SHORT_LENGTH = 6
_SHORT_SHAPE = re.compile(f"^[{SHORT_ALPHABET}]{{{SHORT_LENGTH}}}$")


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


# The short code is derived from the booking, not stored. Why: every path that gives a
# booking its QR (a direct or marketplace booking, a paid hold, a waitlist promotion) gets
# one for free, with no column, no migration and no extra statement (or retry on a
# collision) in the booking core's one write, whose speed is benchmarked. It is an HMAC
# under a per-studio key derived from SECRET_KEY, so a member cannot work out another
# member's code, and the server checks a typed one by recomputing it over the studio's
# bookings near the time (`checkin.find_short_code`). It is not globally unique: 31**6 is
# about 887 million, so two of one studio's bookings on the same day sharing one is
# rare, and then the door refuses the code as ambiguous (scan the QR or tap the name)
# rather than guess. Offline, the door matches it against the roster it was given.


@functools.lru_cache(maxsize=4096)
def _short_key(secret: str, tenant_id: uuid.UUID) -> bytes:
    return HKDF(
        algorithm=hashes.SHA256(), length=32, salt=b"studioloop-shortcode-v1", info=tenant_id.bytes
    ).derive(secret.encode())


def short_code(settings: Settings, tenant_id: uuid.UUID, booking_id: uuid.UUID) -> str:
    """The booking's six-character door code (e.g. `K7QW3M`)."""
    key = _short_key(settings.secret_key.get_secret_value(), tenant_id)
    number = int.from_bytes(hmac.digest(key, booking_id.bytes, hashlib.sha256)[:8], "big")
    letters = []
    for _ in range(SHORT_LENGTH):
        number, digit = divmod(number, len(SHORT_ALPHABET))
        letters.append(SHORT_ALPHABET[digit])
    return "".join(letters)


def normalise_short_code(text: str) -> str | None:
    """A typed short code in its canonical form, or None if it cannot be one. Spaces,
    dashes and lower case are forgiven (the page shows it as `K7Q W3M`)."""
    compact = re.sub(r"[\s-]", "", text).upper()
    return compact if _SHORT_SHAPE.match(compact) else None


def show_short_code(code: str) -> str:
    return f"{code[:3]} {code[3:]}"
