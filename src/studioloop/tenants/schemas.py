from __future__ import annotations

import re
import uuid
from datetime import datetime
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from pydantic import (
    BaseModel,
    ConfigDict,
    EmailStr,
    Field,
    StrictBool,
    computed_field,
    field_validator,
)

from studioloop.core.schemas import omittable

TenantStatus = Literal["active", "trial", "suspended", "cancelled"]
SubscriptionTier = Literal["starter", "growth", "pro", "enterprise"]
TenantKind = Literal["studio", "gym", "creator", "training_provider"]

SLUG_PATTERN = re.compile(r"^[a-z0-9](?:[a-z0-9-]{1,61}[a-z0-9])$")
DOMAIN_PATTERN = re.compile(r"^(?=.{4,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")
# Slugs become subdomains and URL segments; these would shadow the platform's own.
RESERVED_SLUGS = frozenset(
    [
        "admin",
        "api",
        "app",
        "apps",
        "assets",
        "auth",
        "billing",
        "blog",
        "cdn",
        "chat",
        "dashboard",
        "dev",
        "docs",
        "email",
        "embed",
        "ftp",
        "health",
        "help",
        "login",
        "logout",
        "mail",
        "marketplace",
        "me",
        "metrics",
        "new",
        "owner",
        "platform",
        "ready",
        "register",
        "root",
        "settings",
        "signup",
        "smtp",
        "static",
        "status",
        "studioloop",
        "support",
        "system",
        "tenants",
        "test",
        "users",
        "webhooks",
        "www",
    ]
)
# ISO 4217 codes for the markets we serve first; extend as new markets open.
CURRENCIES = frozenset(
    [
        "ZAR",
        "USD",
        "EUR",
        "GBP",
        "AUD",
        "CAD",
        "NZD",
        "KES",
        "NGN",
        "GHS",
        "BWP",
        "NAD",
        "ZMW",
        "MUR",
        "EGP",
        "AED",
        "INR",
        "SGD",
    ]
)


class Address(BaseModel):
    model_config = ConfigDict(extra="forbid")

    street: str | None = Field(default=None, max_length=255)
    city: str | None = Field(default=None, max_length=120)
    province: str | None = Field(default=None, max_length=120)
    postal_code: str | None = Field(default=None, max_length=20)
    country: str | None = Field(default=None, max_length=2, description="ISO 3166-1 alpha-2")


def _check_timezone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError("must be an IANA time zone such as Africa/Johannesburg") from exc
    if value not in available_timezones():
        raise ValueError("must be an IANA time zone such as Africa/Johannesburg")
    return value


def _check_currency(value: str) -> str:
    value = value.upper()
    if value not in CURRENCIES:
        raise ValueError(f"must be one of {', '.join(sorted(CURRENCIES))}")
    return value


def check_slug(value: str) -> str:
    if value != value.lower():
        raise ValueError("must be lowercase")
    if not SLUG_PATTERN.match(value) or "--" in value:
        raise ValueError(
            "must be 3-63 characters of a-z, 0-9 and single hyphens, "
            "starting and ending with a letter or digit"
        )
    if value in RESERVED_SLUGS:
        raise ValueError("is reserved; choose another")
    return value


class TenantCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=2, max_length=255)
    slug: str = Field(min_length=3, max_length=63)
    email: EmailStr
    phone: str | None = Field(default=None, max_length=32)
    kind: TenantKind = "studio"
    address: Address = Field(default_factory=Address)
    settings: dict[str, Any] = Field(default_factory=dict)
    marketplace_enabled: StrictBool = True
    timezone: str = "Africa/Johannesburg"
    currency: str = "ZAR"

    _slug = field_validator("slug")(check_slug)
    _tz = field_validator("timezone")(_check_timezone)
    _currency = field_validator("currency")(_check_currency)


class TenantUpdate(BaseModel):
    """Fields a tenant's admins may change. `status`, `subscription_tier` and domain
    verification are for the platform owner only."""

    model_config = ConfigDict(extra="forbid")

    name: str = omittable(min_length=2, max_length=255)
    email: EmailStr = omittable()
    phone: str | None = Field(default=None, max_length=32)
    address: Address = omittable()
    settings: dict[str, Any] = omittable()
    marketplace_enabled: StrictBool = omittable()
    timezone: str = omittable()
    currency: str = omittable()
    custom_domain: str | None = Field(default=None, max_length=253)
    status: TenantStatus = omittable()
    subscription_tier: SubscriptionTier = omittable()
    custom_domain_verified: StrictBool = omittable()

    @field_validator("timezone")
    @classmethod
    def _tz(cls, value: str | None) -> str | None:
        return None if value is None else _check_timezone(value)

    @field_validator("currency")
    @classmethod
    def _currency(cls, value: str | None) -> str | None:
        return None if value is None else _check_currency(value)

    @field_validator("custom_domain")
    @classmethod
    def _domain(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return value
        value = value.strip().lower().rstrip(".")
        if not DOMAIN_PATTERN.match(value):
            raise ValueError("must be a domain name such as book.example.com")
        return value


class TenantPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    name: str
    slug: str
    kind: TenantKind
    email: str
    phone: str | None
    address: dict[str, Any]
    marketplace_enabled: bool
    status: TenantStatus
    timezone: str
    currency: str
    logo_key: str | None = Field(default=None, exclude=True)
    created_at: datetime

    @computed_field  # type: ignore[prop-decorator]
    @property
    def logo_url(self) -> str | None:
        """The studio's logo (PNG), if it has one."""
        return f"/api/v1/tenants/{self.slug}/logo" if self.logo_key else None


class TenantDetail(TenantPublic):
    """What the tenant's own admins see."""

    settings: dict[str, Any]
    subscription_tier: SubscriptionTier
    custom_domain: str | None
    custom_domain_verified_at: datetime | None
    updated_at: datetime
