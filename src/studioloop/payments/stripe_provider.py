"""Stripe, through the official SDK: Checkout Sessions, refunds, signed webhooks.

The platform holds one Stripe account (STRIPE_SECRET_KEY); a studio that has connected its
own account (tenant setting `stripe_account_id`) is paid by destination charge, with the
platform's fee (PLATFORM_FEE_BASIS_POINTS) as `application_fee_amount`. STRIPE_API_BASE
points the SDK at another server: the tests run it against a local fake Stripe.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import stripe

from studioloop.config import Settings
from studioloop.payments import exceptions as exc
from studioloop.payments.provider_base import (
    CANCELED,
    FAILED,
    REQUIRES_ACTION,
    SIGNATURE_TOLERANCE_SECONDS,
    SUCCEEDED,
    Checkout,
    CheckoutRequest,
    ProviderEvent,
)

# Stripe's event types, as our state machine's.
EVENT_TYPES = {
    "checkout.session.completed": SUCCEEDED,  # only when paid: see _event_type
    "checkout.session.async_payment_succeeded": SUCCEEDED,
    "checkout.session.async_payment_failed": FAILED,
    "checkout.session.expired": CANCELED,
}


class StripeNotConfigured(exc.ProviderNotConfigured):
    message = "Stripe is not configured on this platform."


class StripeProvider:
    name = "stripe"
    charges_platform_fee = True

    def __init__(self, settings: Settings, connected_account: str | None = None) -> None:
        if settings.stripe_secret_key is None or settings.stripe_webhook_secret is None:
            raise StripeNotConfigured()
        self._webhook_secret = settings.stripe_webhook_secret.get_secret_value()
        self._connected_account = connected_account
        # A destination charge pays the studio's account directly; otherwise the money
        # stays on the platform's, which then owes it (payouts).
        self.collects_for_platform = connected_account is None
        self._client = stripe.StripeClient(
            settings.stripe_secret_key.get_secret_value(),
            base_addresses={"api": settings.stripe_api_base},
            http_client=stripe.HTTPXClient(),  # async, so no request blocks the event loop
            max_network_retries=2,
        )

    async def create_checkout(self, request: CheckoutRequest, base_url: str) -> Checkout:
        metadata = {"tenant_id": str(request.tenant_id), "payment_id": str(request.payment_id)}
        intent: dict[str, Any] = {"metadata": metadata}
        if self._connected_account:
            intent["transfer_data"] = {"destination": self._connected_account}
            intent["application_fee_amount"] = request.platform_fee
        if request.save_method:
            # A Customer holds the card, saved for charges without the member (renewals).
            intent["setup_future_usage"] = "off_session"
        params: dict[str, Any] = {
            "mode": "payment",
            "client_reference_id": str(request.payment_id),
            "line_items": [
                {
                    "quantity": 1,
                    "price_data": {
                        "currency": request.currency.lower(),
                        "unit_amount": request.amount,
                        "product_data": {"name": request.description},
                    },
                }
            ],
            "metadata": metadata,
            "payment_intent_data": intent,
            "success_url": request.return_url(base_url),
            "cancel_url": f"{request.return_url(base_url)}&canceled=1",
        }
        if request.save_method:
            params["customer_creation"] = "always"
        if request.customer_email:
            params["customer_email"] = request.customer_email
        try:
            session = await self._client.v1.checkout.sessions.create_async(
                params,  # type: ignore[arg-type]
                {"idempotency_key": f"checkout-{request.payment_id}"},
            )
        except stripe.StripeError as error:
            raise exc.ProviderUnavailable(details={"provider": self.name}) from error
        return Checkout(reference=session.id, url=str(session.url))

    async def refund(self, reference: str, amount: int) -> str:
        try:
            if reference.startswith("pi_"):  # a renewal charged off-session
                intent_id: str | None = reference
            else:
                session = await self._client.v1.checkout.sessions.retrieve_async(reference)
                intent = session.payment_intent
                intent_id = intent if isinstance(intent, str) else getattr(intent, "id", None)
            refund = await self._client.v1.refunds.create_async(
                {"payment_intent": str(intent_id), "amount": amount}
            )
        except stripe.StripeError as error:
            raise exc.ProviderUnavailable(details={"provider": self.name}) from error
        return str(refund.id)

    # --- Connect: a studio's own (Express) account ------------------------------------------

    async def create_connected_account(self, email: str, country: str | None, key: str) -> str:
        params: dict[str, Any] = {
            "type": "express",
            "email": email,
            "capabilities": {
                "card_payments": {"requested": True},
                "transfers": {"requested": True},
            },
        }
        if country:
            params["country"] = country
        try:
            account = await self._client.v1.accounts.create_async(
                params,  # type: ignore[arg-type]
                {"idempotency_key": key},
            )
        except stripe.StripeError as error:
            raise exc.ProviderUnavailable(details={"provider": self.name}) from error
        return str(account.id)

    async def onboarding_link(self, account: str, refresh_url: str, return_url: str) -> str:
        """Stripe's hosted onboarding for the account (a link lasts a few minutes)."""
        try:
            link = await self._client.v1.account_links.create_async(
                {
                    "account": account,
                    "refresh_url": refresh_url,
                    "return_url": return_url,
                    "type": "account_onboarding",
                }
            )
        except stripe.StripeError as error:
            raise exc.ProviderUnavailable(details={"provider": self.name}) from error
        return str(link.url)

    async def account_state(self, account: str) -> tuple[bool, bool]:
        """(charges enabled, payouts enabled) of a connected account."""
        try:
            found = await self._client.v1.accounts.retrieve_async(account)
        except stripe.StripeError as error:
            raise exc.ProviderUnavailable(details={"provider": self.name}) from error
        return bool(found.charges_enabled), bool(found.payouts_enabled)

    async def transfer(self, amount: int, currency: str, idempotency_key: str) -> str:
        """A Connect transfer of `amount` to the connected account (a payout)."""
        assert self._connected_account is not None
        try:
            transfer = await self._client.v1.transfers.create_async(
                {
                    "amount": amount,
                    "currency": currency.lower(),
                    "destination": self._connected_account,
                    "description": "StudioLoop payout",
                },
                {"idempotency_key": idempotency_key},
            )
        except stripe.StripeError as error:
            raise exc.ProviderUnavailable(details={"provider": self.name}) from error
        return str(transfer.id)

    async def saved_method(self, reference: str) -> str | None:
        """`customer/payment_method` of a paid Checkout Session that saved its card."""
        try:
            session = await self._client.v1.checkout.sessions.retrieve_async(reference)
            intent = session.payment_intent
            if isinstance(intent, str):
                intent = await self._client.v1.payment_intents.retrieve_async(intent)
        except stripe.StripeError as error:
            raise exc.ProviderUnavailable(details={"provider": self.name}) from error
        customer = session.customer or getattr(intent, "customer", None)
        method = getattr(intent, "payment_method", None)
        customer_id = customer if isinstance(customer, str) else getattr(customer, "id", None)
        method_id = method if isinstance(method, str) else getattr(method, "id", None)
        return f"{customer_id}/{method_id}" if customer_id and method_id else None

    async def charge_saved(self, method_ref: str, request: CheckoutRequest) -> tuple[str, str]:
        """An off-session PaymentIntent on the saved card, confirmed at once. A decline (or
        a bank asking for the member, who is not there) is a failed charge."""
        customer, _, method = method_ref.partition("/")
        params: dict[str, Any] = {
            "amount": request.amount,
            "currency": request.currency.lower(),
            "customer": customer,
            "payment_method": method,
            "off_session": True,
            "confirm": True,
            "description": request.description,
            "metadata": {
                "tenant_id": str(request.tenant_id),
                "payment_id": str(request.payment_id),
            },
        }
        if self._connected_account:
            params["transfer_data"] = {"destination": self._connected_account}
            params["application_fee_amount"] = request.platform_fee
        try:
            intent = await self._client.v1.payment_intents.create_async(
                params,  # type: ignore[arg-type]
                {"idempotency_key": f"charge-{request.payment_id}"},
            )
        except stripe.CardError as error:
            failed = getattr(error.error, "payment_intent", None) if error.error else None
            reference = getattr(failed, "id", None) or f"declined-{request.payment_id}"
            return str(reference), FAILED
        except stripe.StripeError as error:
            raise exc.ProviderUnavailable(details={"provider": self.name}) from error
        return str(intent.id), SUCCEEDED if intent.status == "succeeded" else FAILED

    async def checkout_outcome(self, reference: str, started: datetime) -> str | None:
        try:
            session = await self._client.v1.checkout.sessions.retrieve_async(reference)
        except stripe.StripeError as error:
            raise exc.ProviderUnavailable(details={"provider": self.name}) from error
        if session.status == "expired":
            return CANCELED
        if session.status == "complete":
            return SUCCEEDED if session.payment_status == "paid" else REQUIRES_ACTION
        return None

    def verify_webhook(
        self, body: bytes, headers: Mapping[str, str], now: float | None = None
    ) -> ProviderEvent:
        try:
            stripe.Webhook.construct_event(
                body, headers.get("stripe-signature"), self._webhook_secret
            )
        except stripe.SignatureVerificationError:
            raise exc.InvalidWebhookSignature() from None
        except ValueError:
            raise exc.InvalidWebhookPayload() from None
        # Stripe's check refuses only signatures too old; one dated ahead of our clock by
        # more than the same tolerance is refused too, as the sandbox's verifier does.
        signed_at = _signature_timestamp(headers.get("stripe-signature") or "")
        current = time.time() if now is None else now
        if signed_at is None or signed_at - current > SIGNATURE_TOLERANCE_SECONDS:
            raise exc.InvalidWebhookSignature()
        return self.read_event(body.decode())

    @staticmethod
    def read_event(payload: str) -> ProviderEvent:
        try:
            event = json.loads(payload)
            obj = event["data"]["object"]
            return ProviderEvent(
                id=str(event["id"]),
                type=_event_type(str(event["type"]), obj),
                reference=obj.get("id"),
                metadata={k: str(v) for k, v in (obj.get("metadata") or {}).items()},
            )
        except (ValueError, KeyError, TypeError, AttributeError):
            raise exc.InvalidWebhookPayload() from None


def _signature_timestamp(header: str) -> int | None:
    for part in header.split(","):
        key, _, value = part.strip().partition("=")
        if key == "t" and value.isdigit():
            return int(value)
    return None


def _event_type(stripe_type: str, obj: Mapping[str, Any]) -> str:
    if stripe_type == "checkout.session.completed" and obj.get("payment_status") != "paid":
        # Paid later (bank debits): async_payment_succeeded or _failed will follow.
        return "payment.requires_action"
    return EVENT_TYPES.get(stripe_type, stripe_type)
