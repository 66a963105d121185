from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

# The values of scopes.SCOPES, spelled out so that the document lists them (a test checks
# that the two agree).
Scope = Literal["usage:write", "usage:read", "bookings:read", "members:read"]


class ApiKeyIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: str = Field(min_length=1, max_length=100, description="What the key is for")
    scopes: list[Scope] = Field(min_length=1, max_length=20)


class ApiKeyOut(BaseModel):
    id: uuid.UUID
    name: str
    prefix: str = Field(description="The key's public part, as it begins: sl_live_<prefix>_")
    scopes: list[str]
    created_by_user_id: uuid.UUID | None
    created_by_name: str | None
    created_at: datetime
    last_used_at: datetime | None = Field(
        description="When the key was last used, to the minute (written at most once a minute)"
    )
    revoked_at: datetime | None


class ApiKeyCreated(ApiKeyOut):
    secret: str = Field(description="The whole key. Shown this once: only its hash is kept.")
