from __future__ import annotations

import re
import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, EmailStr, Field, field_validator

from studioloop.accounts.roles import Role
from studioloop.core.schemas import omittable

PHONE_PATTERN = re.compile(r"^\+?[0-9 ()-]{6,20}$")


def check_password(value: str) -> str:
    if len(value) < 8:
        raise ValueError("must be at least 8 characters")
    if not re.search(r"[A-Za-z]", value) or not re.search(r"[0-9]", value):
        raise ValueError("must contain letters and digits")
    return value


def check_phone(value: str | None) -> str | None:
    if value is None or value == "":
        return None
    if not PHONE_PATTERN.match(value):
        raise ValueError("must be a phone number such as +27 82 123 4567")
    return value


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class RegisterRequest(Strict):
    email: EmailStr
    password: str = Field(max_length=256)
    first_name: str = Field(min_length=1, max_length=100)
    last_name: str = Field(min_length=1, max_length=100)
    phone: str | None = Field(default=None, max_length=32)
    accept_terms: bool | None = Field(
        default=None,
        description="The person accepted the terms and the privacy notice (the time is "
        "kept). Sign-up pages require it; API clients that show their own terms may omit it.",
    )

    _password = field_validator("password")(check_password)
    _phone = field_validator("phone")(check_phone)


class RegisterResponse(BaseModel):
    id: uuid.UUID
    email: str
    verification_required: bool = True
    message: str = "We emailed you a 6-digit code. Send it to /api/v1/auth/verify."


class VerifyRequest(Strict):
    email: EmailStr
    code: str = Field(pattern=r"^[0-9]{6}$")


class EmailRequest(Strict):
    email: EmailStr


class LoginRequest(Strict):
    email: EmailStr
    password: str = Field(min_length=1, max_length=256)


class RefreshRequest(Strict):
    refresh_token: str = Field(min_length=10, max_length=256)


class PasswordChange(Strict):
    current_password: str = Field(max_length=256)
    new_password: str = Field(max_length=256)

    _password = field_validator("new_password")(check_password)


class PasswordResetConfirm(Strict):
    email: EmailStr
    code: str = Field(pattern=r"^[0-9]{6}$")
    new_password: str = Field(max_length=256)

    _password = field_validator("new_password")(check_password)


class AcceptedResponse(BaseModel):
    message: str


class TenantRoleOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    tenant_id: uuid.UUID
    tenant_slug: str
    tenant_name: str
    role: Role
    status: Literal["active", "inactive"]
    joined_at: datetime


class UserProfile(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    email: str
    first_name: str
    last_name: str
    phone: str | None
    profile_image_url: str | None
    preferences: dict[str, Any]
    status: str
    email_verified: bool
    is_platform_owner: bool
    tenant_roles: list[TenantRoleOut] = Field(default_factory=list)
    created_at: datetime
    updated_at: datetime


class ProfileUpdate(Strict):
    first_name: str = omittable(min_length=1, max_length=100)
    last_name: str = omittable(min_length=1, max_length=100)
    phone: str | None = Field(default=None, max_length=32)
    profile_image_url: str | None = Field(default=None, max_length=2048, pattern=r"^https?://")
    preferences: dict[str, Any] = omittable()

    _phone = field_validator("phone")(check_phone)


class TokenPair(BaseModel):
    access_token: str
    refresh_token: str
    token_type: Literal["bearer"] = "bearer"  # noqa: S105 (not a secret)
    expires_in: int
    user: UserProfile


MemberStatus = Literal["active", "inactive", "invited"]
AuditAction = Literal[
    "invited",
    "reinvited",
    "invitation_revoked",
    "invitation_accepted",
    "role_changed",
    "status_changed",
    "joined",
]


class MemberOut(BaseModel):
    """A member, a staff member, or a pending invitation (status `invited`, no user yet:
    the names, email and phone are the ones the invitation was sent with)."""

    membership_id: uuid.UUID
    user_id: uuid.UUID | None
    email: str
    first_name: str
    last_name: str
    phone: str | None
    role: Role
    status: MemberStatus
    joined_at: datetime | None = Field(description="None while the invitation is pending")
    invited_at: datetime | None = Field(description="When the (latest) invitation was sent")
    invited_by_user_id: uuid.UUID | None
    expires_at: datetime | None = Field(description="Pending invitations only")


class MemberUpdate(Strict):
    role: Role = omittable()
    status: Literal["active", "inactive"] = omittable()


class InviteRequest(Strict):
    email: EmailStr
    first_name: str = Field(min_length=1, max_length=100)
    last_name: str = Field(min_length=1, max_length=100)
    phone: str | None = Field(default=None, max_length=32)
    role: Role = "member"

    _phone = field_validator("phone")(check_phone)


class AcceptInviteRequest(Strict):
    token: str = Field(min_length=10, max_length=256)


class AcceptedInvitation(MemberOut):
    tenant_id: uuid.UUID
    tenant_slug: str
    tenant_name: str


class InvitationPreview(BaseModel):
    """What the invitation link shows before it is accepted."""

    tenant_slug: str
    tenant_name: str
    role: Role
    email: str
    expired: bool


class AuditEntryOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    membership_id: uuid.UUID
    user_id: uuid.UUID | None
    actor_user_id: uuid.UUID | None
    action: AuditAction
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    created_at: datetime
