"""Who is on the other end of a chat: a signed-in person (member or staff) or a guest.

A guest token is a JWT for one studio, valid seven days (seed 000), of its own type so it
can never pass for an account's access token or the other way round.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import jwt

from studioloop.config import Settings

GUEST_TOKEN_TYPE = "chat_guest"  # noqa: S105 - a token kind, not a secret
GUEST_TOKEN_DAYS = 7


class InvalidGuestToken(Exception):
    pass


@dataclass(frozen=True)
class Participant:
    kind: str  # "user" or "guest"
    id: uuid.UUID
    tenant_id: uuid.UUID
    name: str
    is_staff: bool = False

    @property
    def reader(self) -> str:
        return f"{self.kind}:{self.id}"


def guest_token(settings: Settings, tenant_id: uuid.UUID, guest_id: uuid.UUID, name: str) -> str:
    now = datetime.now(UTC)
    claims = {
        "typ": GUEST_TOKEN_TYPE,
        "sub": str(guest_id),
        "tid": str(tenant_id),
        "name": name,
        "iat": int(now.timestamp()),
        "exp": int((now + timedelta(days=GUEST_TOKEN_DAYS)).timestamp()),
    }
    return jwt.encode(claims, settings.secret_key.get_secret_value(), algorithm="HS256")


def read_guest_token(settings: Settings, token: str) -> Participant:
    try:
        claims = jwt.decode(
            token,
            settings.secret_key.get_secret_value(),
            algorithms=["HS256"],
            options={"require": ["typ", "sub", "tid", "exp"]},
        )
        if claims["typ"] != GUEST_TOKEN_TYPE:
            raise InvalidGuestToken("not a guest token")
        return Participant(
            "guest", uuid.UUID(claims["sub"]), uuid.UUID(claims["tid"]), str(claims.get("name", ""))
        )
    except (jwt.PyJWTError, KeyError, ValueError) as error:
        raise InvalidGuestToken(str(error)) from error
