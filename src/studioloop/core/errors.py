"""Application errors and the single error envelope every client sees.

Services raise `AppError` subclasses; the handlers in `core.error_handlers` turn them into
`{"error": {"code", "message", "request_id", "details"}}` with the right status.
"""

from __future__ import annotations

from typing import Any


class AppError(Exception):
    status_code: int = 400
    code: str = "BAD_REQUEST"
    message: str = "The request could not be processed."
    # Some refusals must still record a fact (a failed code attempt, a revoked token
    # family). The request's transaction is committed for these instead of rolled back.
    keep_changes: bool = False

    def __init__(
        self,
        message: str | None = None,
        *,
        code: str | None = None,
        details: dict[str, Any] | list[Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.message = message or self.message
        self.code = code or self.code
        self.details = details if details is not None else {}
        self.headers = headers or {}
        super().__init__(self.message)


class BadRequest(AppError):
    status_code = 400
    code = "BAD_REQUEST"


class Unauthorized(AppError):
    status_code = 401
    code = "UNAUTHORIZED"
    message = "Authentication is required."

    def __init__(self, message: str | None = None, **kwargs: Any) -> None:
        kwargs.setdefault("headers", {"WWW-Authenticate": "Bearer"})
        super().__init__(message, **kwargs)


class PaymentRequired(AppError):
    status_code = 402
    code = "PAYMENT_REQUIRED"


class Forbidden(AppError):
    status_code = 403
    code = "FORBIDDEN"
    message = "You do not have permission to do this."


class NotFound(AppError):
    status_code = 404
    code = "NOT_FOUND"
    message = "The requested resource was not found."


class Conflict(AppError):
    status_code = 409
    code = "CONFLICT"


class PayloadTooLarge(AppError):
    status_code = 413
    code = "PAYLOAD_TOO_LARGE"
    message = "The request body is too large."


class ValidationFailed(AppError):
    status_code = 422
    code = "VALIDATION_ERROR"
    message = "The request is not valid."


class RateLimited(AppError):
    status_code = 429
    code = "RATE_LIMITED"
    message = "Too many requests; try again later."


class ServiceUnavailable(AppError):
    status_code = 503
    code = "SERVICE_UNAVAILABLE"
    message = "The service is temporarily unavailable."


def field_error(field: str, message: str, location: str = "body") -> ValidationFailed:
    """A 422 naming one field, shaped like the automatic validation errors."""
    return ValidationFailed(
        f"Invalid fields: {field}.",
        details={
            "fields": [
                {"field": field, "location": location, "message": message, "type": "value_error"}
            ]
        },
    )
