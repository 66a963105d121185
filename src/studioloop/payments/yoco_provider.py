"""Yoco online checkout (South Africa), over its REST API with `httpx`.

Each studio has its own Yoco account: its secret key and its webhook secret are stored
encrypted (payments/credentials.py) and handed to this provider per request. Yoco has no
Python SDK; the calls are few and documented:

- `POST /api/checkouts` creates a hosted checkout (`redirectUrl`), with our payment's
  ids in `metadata`, which Yoco adds its `checkoutId` to and returns on the webhook;
- `GET /api/checkouts/{id}` tells reconciliation what became of one;
- `POST /api/checkouts/{id}/refund` refunds all or part of a paid checkout;

each with an `Idempotency-Key`, so a retried call never pays or refunds twice.
Webhooks follow the Standard Webhooks scheme (`webhook-id`, `webhook-timestamp`,
`webhook-signature: v1,<base64 HMAC-SHA256 of "id.timestamp.body">`, `whsec_` secret),
verified with the `standardwebhooks` library rather than by hand.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import httpx
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from studioloop.config import Settings
from studioloop.payments import exceptions as exc
from studioloop.payments.credentials import Keys
from studioloop.payments.provider_base import (
    CANCELED,
    FAILED,
    SUCCEEDED,
    Checkout,
    CheckoutRequest,
    ProviderEvent,
)

EVENT_TYPES = {"payment.succeeded": SUCCEEDED, "payment.failed": FAILED}
CHECKOUT_OUTCOMES = {"completed": SUCCEEDED, "expired": CANCELED, "cancelled": CANCELED}
TIMEOUT = httpx.Timeout(10, connect=5)  # seconds


class YocoProvider:
    name = "yoco"
    collects_for_platform = False  # the studio's own Yoco account
    charges_platform_fee = False  # nothing in Yoco's checkout can take it

    def __init__(self, settings: Settings, keys: Keys) -> None:
        self._keys = keys
        self._base = settings.yoco_api_base.rstrip("/")

    async def _call(
        self, method: str, path: str, body: dict[str, Any] | None, idempotency_key: str | None
    ) -> dict[str, Any]:
        headers = {"Authorization": f"Bearer {self._keys.secret_key}"}
        if idempotency_key:
            headers["Idempotency-Key"] = idempotency_key
        # One retry of a lost connection or a 5xx: the Idempotency-Key makes it safe.
        async with httpx.AsyncClient(timeout=TIMEOUT) as client:
            for attempt in (1, 2):
                try:
                    response = await client.request(
                        method, f"{self._base}{path}", json=body, headers=headers
                    )
                except httpx.HTTPError as error:
                    if attempt == 2:
                        raise exc.ProviderUnavailable(details={"provider": self.name}) from error
                    continue
                if response.status_code < 500:
                    break
        if response.status_code in (401, 403):
            raise exc.ProviderRejected(
                details={"provider": self.name, "reason": "the studio's Yoco key was refused"}
            )
        if response.status_code >= 400:
            raise exc.ProviderUnavailable(
                details={"provider": self.name, "status": response.status_code}
            )
        try:
            answer: dict[str, Any] = response.json()
        except ValueError as error:
            raise exc.ProviderUnavailable(details={"provider": self.name}) from error
        return answer

    async def create_checkout(self, request: CheckoutRequest, base_url: str) -> Checkout:
        done = request.return_url(base_url)
        checkout = await self._call(
            "POST",
            "/api/checkouts",
            {
                "amount": request.amount,
                "currency": request.currency,
                "successUrl": done,
                "cancelUrl": f"{done}&canceled=1",
                "failureUrl": f"{done}&canceled=1",
                "externalId": str(request.payment_id),
                "metadata": {
                    "tenant_id": str(request.tenant_id),
                    "payment_id": str(request.payment_id),
                    "description": request.description,
                },
            },
            idempotency_key=f"checkout-{request.payment_id}",
        )
        try:
            return Checkout(reference=str(checkout["id"]), url=str(checkout["redirectUrl"]))
        except KeyError as error:
            raise exc.ProviderUnavailable(details={"provider": self.name}) from error

    async def refund(self, reference: str, amount: int) -> str:
        refund = await self._call(
            "POST",
            f"/api/checkouts/{reference}/refund",
            {"amount": amount},
            idempotency_key=f"refund-{uuid.uuid4()}",
        )
        if refund.get("status") not in (None, "successful", "succeeded"):
            raise exc.ProviderRejected(
                details={"provider": self.name, "reason": str(refund.get("message", ""))}
            )
        return str(refund.get("refundId") or refund.get("id"))

    async def saved_method(self, reference: str) -> str | None:
        return None  # Yoco's online checkout keeps no cards for later

    async def charge_saved(self, method_ref: str, request: CheckoutRequest) -> tuple[str, str]:
        # Not yet: memberships paid here renew through a payment link each period.
        raise exc.ProviderRejected(details={"provider": self.name, "reason": "no saved cards"})

    async def checkout_outcome(self, reference: str, started: datetime) -> str | None:
        checkout = await self._call("GET", f"/api/checkouts/{reference}", None, None)
        return CHECKOUT_OUTCOMES.get(str(checkout.get("status")))

    def verify_webhook(
        self, body: bytes, headers: Mapping[str, str], now: float | None = None
    ) -> ProviderEvent:
        try:
            Webhook(self._keys.webhook_secret).verify(body, dict(headers), json_parse=False)
        except (WebhookVerificationError, ValueError):  # ValueError: a malformed header
            raise exc.InvalidWebhookSignature() from None
        return self.read_event(body.decode())

    @staticmethod
    def read_event(payload: str) -> ProviderEvent:
        try:
            event = json.loads(payload)
            data = event["payload"]
            metadata = {k: str(v) for k, v in (data.get("metadata") or {}).items()}
            return ProviderEvent(
                id=str(event["id"]),
                type=EVENT_TYPES.get(str(event["type"]), str(event["type"])),
                reference=metadata.get("checkoutId"),
                metadata=metadata,
            )
        except (ValueError, KeyError, TypeError, AttributeError):
            raise exc.InvalidWebhookPayload() from None

    @staticmethod
    def claimed_tenant(body: bytes) -> uuid.UUID:
        """The studio an (unverified) event says it is for: whose webhook secret to check
        its signature with. Nothing in it is trusted before that check passes."""
        try:
            return uuid.UUID(YocoProvider.read_event(body.decode()).metadata["tenant_id"])
        except (KeyError, ValueError, UnicodeDecodeError):
            raise exc.InvalidWebhookSignature() from None
