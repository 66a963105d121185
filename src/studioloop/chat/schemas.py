from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, EmailStr, Field, computed_field

from studioloop.core.schemas import omittable


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class GuestTokenIn(Strict):
    name: str = Field(min_length=1, max_length=100)
    email: EmailStr


class GuestTokenOut(BaseModel):
    token: str
    guest_id: uuid.UUID
    expires_in_days: int


class ChatRoomIn(Strict):
    kind: Literal["support", "direct"] = "support"
    subject: str = Field(min_length=1, max_length=200)
    message: str | None = Field(default=None, max_length=4000, description="The first message")
    about_kind: Literal["member", "booking", "payment"] | None = None
    about_id: uuid.UUID | None = None


class ChatRoomUpdate(Strict):
    status: Literal["open", "pending", "closed"] = omittable()
    assignee_user_id: uuid.UUID | None = None


class ChatRoomOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    kind: str
    status: str
    subject: str
    opened_by_user_id: uuid.UUID | None
    opened_by_guest_id: uuid.UUID | None
    assignee_user_id: uuid.UUID | None
    about_kind: str | None
    about_id: uuid.UUID | None
    last_message_at: datetime | None
    created_at: datetime
    unread: int = 0


class MessageIn(Strict):
    body: str = Field(min_length=1, max_length=4000)


class MessageOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    seq: int
    room_id: uuid.UUID
    sender_name: str
    is_staff: bool
    sender_user_id: uuid.UUID | None
    sender_guest_id: uuid.UUID | None
    body: str = Field(description="Plain text; escape it before showing it as HTML")
    attachment_name: str | None = None
    attachment_type: str | None = None
    attachment_size: int | None = None
    created_at: datetime

    @computed_field  # type: ignore[prop-decorator]
    @property
    def attachment_url(self) -> str | None:
        """Download with the same token (GET, Authorization header)."""
        if self.attachment_name is None:
            return None
        return f"/api/v1/chat/rooms/{self.room_id}/attachments/{self.id}"


class MessagePage(BaseModel):
    items: list[MessageOut]
    next_cursor: int | None = Field(description="Pass as `before` for older messages")
