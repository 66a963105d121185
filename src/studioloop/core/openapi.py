"""Shared OpenAPI descriptions of the error envelope, so every endpoint lists its errors."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

# Every router spells its full path from this prefix (rather than being mounted under it),
# so `route.path` is the real template that metrics and logs report.
API_PREFIX = "/api/v1"


class ErrorBody(BaseModel):
    code: str
    message: str
    request_id: str | None
    details: dict[str, Any] | list[Any]


class ErrorEnvelope(BaseModel):
    error: ErrorBody


_DESCRIPTIONS = {
    400: "Bad request (for example a wrong or expired code)",
    401: "Not signed in, or the token is invalid or expired",
    402: "Payment or credits required",
    403: "Signed in, but not allowed",
    404: "Not found",
    409: "Conflicts with the current state",
    413: "Request body too large",
    422: "VALIDATION_ERROR: the fields named in details are invalid",
    429: "RATE_LIMITED: retry after the Retry-After header's seconds",
    502: "PROVIDER_UNAVAILABLE: the payment provider could not be reached; try again",
}


def errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    return {s: {"model": ErrorEnvelope, "description": _DESCRIPTIONS[s]} for s in statuses}
