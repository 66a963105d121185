from __future__ import annotations

from studioloop.core.errors import AppError, NotFound


class PaymentNotFound(NotFound):
    code = "PAYMENT_NOT_FOUND"
    message = "No such payment."


class UnknownProvider(NotFound):
    code = "UNKNOWN_PROVIDER"
    message = "No such payment provider."


class InvalidWebhookSignature(AppError):
    status_code = 400
    code = "INVALID_SIGNATURE"
    message = "The webhook signature is missing, forged or too old."


class InvalidWebhookPayload(AppError):
    status_code = 400
    code = "INVALID_PAYLOAD"
    message = "The webhook body is not an event we can read."
