from __future__ import annotations

from studioloop.core.errors import AppError, Conflict, NotFound


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


class NotRefundable(Conflict):
    code = "PAYMENT_NOT_REFUNDABLE"
    message = "Only a payment that succeeded can be refunded."


class RefundExceedsPayment(Conflict):
    code = "REFUND_EXCEEDS_PAYMENT"
    message = "That is more than is left to refund on this payment."


class ProviderUnavailable(AppError):
    status_code = 502
    code = "PROVIDER_UNAVAILABLE"
    message = "The payment provider could not be reached. Please try again."


class ReceiptNotFound(NotFound):
    code = "RECEIPT_NOT_FOUND"
    message = "This payment has no receipt (it has not succeeded)."


class ProviderNotConfigured(Conflict):
    code = "PROVIDER_NOT_CONFIGURED"
    message = "The studio has not set up this payment provider yet."


class CredentialsUnreadable(AppError):
    status_code = 500
    code = "CREDENTIALS_UNREADABLE"
    message = (
        "The studio's payment provider keys cannot be read (the server's SECRET_KEY "
        "changed); the studio owner must enter them again."
    )


class ProviderRejected(Conflict):
    code = "PROVIDER_REJECTED"
    message = "The payment provider refused the request; check the studio's provider keys."


class ProviderInUse(Conflict):
    code = "PROVIDER_IN_USE"
    message = "The studio takes its payments with this provider; choose another one first."


class NothingToPayOut(Conflict):
    code = "NOTHING_TO_PAY_OUT"
    message = "The platform owes this studio nothing at the moment."


class AlreadyConnected(Conflict):
    code = "ALREADY_CONNECTED"
    message = "This studio's Stripe account is already connected."
