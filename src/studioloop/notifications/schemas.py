from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    field_validator,
    model_validator,
)

from studioloop.core.schemas import LocalTime, omittable

Channel = Literal["email", "whatsapp", "sms", "push"]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class PreferencesOut(BaseModel):
    channels: list[str] = Field(description="The member's channels, most preferred first")
    studio_channels: list[str] = Field(description="The channels this studio uses")
    usable_channels: list[str] = Field(
        description="Channels that can reach this member now (WhatsApp and SMS need an "
        "international phone number on the profile; push needs a subscribed device)"
    )
    booking_updates: bool
    reminders: bool
    reminder_hours: list[int]
    marketing: bool
    quiet_hours_start: LocalTime | None
    quiet_hours_end: LocalTime | None
    timezone: str
    customised: bool


class PreferencesUpdate(Strict):
    """Only the fields sent change. `reminder_hours: null` goes back to the studio's
    timing; quiet hours are both set or both null (off)."""

    channels: list[Channel] = omittable(max_length=4)
    booking_updates: StrictBool = omittable()
    reminders: StrictBool = omittable()
    reminder_hours: list[StrictInt] | None = Field(default=None, max_length=4)
    marketing: StrictBool = omittable()
    quiet_hours_start: LocalTime | None = None
    quiet_hours_end: LocalTime | None = None

    @field_validator("channels")
    @classmethod
    def _unique(cls, value: list[str] | None) -> list[str] | None:
        if value is not None and len(set(value)) != len(value):
            raise ValueError("must not repeat a channel")
        return value

    @field_validator("reminder_hours")
    @classmethod
    def _hours(cls, value: list[int] | None) -> list[int] | None:
        if value is None:
            return None
        if any(h < 1 or h > 168 for h in value):
            raise ValueError("must be hours between 1 and 168 before the class")
        return sorted(set(value), reverse=True)

    @model_validator(mode="after")
    def _quiet_pair(self) -> PreferencesUpdate:
        sent = self.model_fields_set & {"quiet_hours_start", "quiet_hours_end"}
        if sent and (
            len(sent) == 1 or (self.quiet_hours_start is None) != (self.quiet_hours_end is None)
        ):
            raise ValueError(
                "quiet_hours_start and quiet_hours_end go together (both, or both null)"
            )
        if (
            sent
            and self.quiet_hours_start is not None
            and self.quiet_hours_start == self.quiet_hours_end
        ):
            raise ValueError("quiet hours must not start and end at the same time")
        for flag in ("channels", "booking_updates", "reminders", "marketing"):
            if flag in self.model_fields_set and getattr(self, flag) is None:
                raise ValueError(f"{flag} cannot be null")
        return self


class NotificationOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    tenant_id: uuid.UUID | None
    user_id: uuid.UUID | None
    event: str
    channel: str
    recipient: str
    subject: str | None
    body_text: str
    status: str
    attempts: int
    last_error: str | None
    fallback_from_id: uuid.UUID | None
    created_at: datetime
    send_after: datetime | None
    sent_at: datetime | None
    delivered_at: datetime | None
    read_at: datetime | None


class PushKeys(Strict):
    p256dh: str = Field(min_length=20, max_length=200)
    auth: str = Field(min_length=8, max_length=100)


class PushSubscriptionIn(Strict):
    """What the browser's `PushSubscription.toJSON()` gives."""

    endpoint: str = Field(min_length=10, max_length=2000)
    keys: PushKeys
    expirationTime: StrictInt | None = None  # the browser's own field name

    @field_validator("endpoint")
    @classmethod
    def _https(cls, value: str) -> str:
        local = value.startswith(("http://127.0.0.1", "http://localhost"))
        if not value.startswith("https://") and not local:
            raise ValueError("must be the push service's https URL")
        return value


class PushSubscriptionOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    endpoint: str
    created_at: datetime


class PushEndpoint(Strict):
    endpoint: str = Field(min_length=10, max_length=2000)


class PublicKeyOut(BaseModel):
    public_key: str = Field(description="VAPID application server key, for PushManager.subscribe")


class TemplateIn(Strict):
    locale: str = Field(default="en", pattern=r"^[a-z]{2}(-[A-Z]{2})?$")
    subject: str | None = Field(default=None, max_length=255)
    body_text: str = Field(min_length=1, max_length=10_000)
    body_html: str | None = Field(default=None, max_length=50_000)


class TemplateOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    event: str
    kind: str
    locale: str
    subject: str | None
    body_text: str
    body_html: str | None
    updated_at: datetime


class EventOut(BaseModel):
    name: str
    category: str
    critical: bool
    whatsapp_params: list[str]
    variables: list[str] = Field(description="What a studio's own wording may use")


class AnnouncementIn(Strict):
    title: str = Field(min_length=1, max_length=120)
    message: str = Field(min_length=1, max_length=2000)


class AnnouncementOut(BaseModel):
    id: uuid.UUID
    recipients: int
