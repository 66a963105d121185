"""Payment providers behind one interface: the built-in sandbox, Stripe, Yoco.

The sandbox behaves like a hosted-checkout provider (Stripe Checkout, Yoco online
checkout): we create a checkout and send the member to its page; the page's outcome comes
back as a signed webhook. It serves that page itself (web/sandbox.py) and signs its
webhooks with a key derived from SECRET_KEY, in Stripe's scheme (`t=<unix>,v1=<hex HMAC
of "t.body">`), so the embedded demo sells credits end to end with no account anywhere.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy.ext.asyncio import AsyncSession

from studioloop.config import Settings
from studioloop.db.tenancy import enter_tenant_for_transaction
from studioloop.payments import exceptions as exc
from studioloop.payments.credentials import keys_of
from studioloop.payments.provider_base import (
    CANCELED as CANCELED,
    FAILED as FAILED,
    REQUIRES_ACTION as REQUIRES_ACTION,
    SIGNATURE_TOLERANCE_SECONDS as SIGNATURE_TOLERANCE_SECONDS,
    SUCCEEDED as SUCCEEDED,
    Checkout as Checkout,
    CheckoutRequest as CheckoutRequest,
    PaymentProvider as PaymentProvider,
    ProviderEvent as ProviderEvent,
)
from studioloop.payments.stripe_provider import StripeProvider
from studioloop.payments.yoco_provider import YocoProvider

SANDBOX_CHECKOUT_LIFETIME = timedelta(hours=24)


class SandboxProvider:
    name = "sandbox"
    collects_for_platform = True  # it plays the platform's own account
    charges_platform_fee = True
    SIGNATURE_HEADER = "Sandbox-Signature"

    def __init__(self, settings: Settings) -> None:
        self._key = HKDF(
            algorithm=hashes.SHA256(), length=32, salt=b"studioloop-sandbox-v1", info=b"webhooks"
        ).derive(settings.secret_key.get_secret_value().encode())

    # --- checkout ----------------------------------------------------------------------

    async def create_checkout(self, request: CheckoutRequest, base_url: str) -> Checkout:
        reference = f"sbx_{request.payment_id.hex}"
        path = f"/sandbox/checkout/{request.tenant_id}/{request.payment_id}"
        sig = self.page_signature(request.tenant_id, request.payment_id)
        return Checkout(reference=reference, url=f"{base_url}{path}?sig={sig}")

    def page_signature(self, tenant_id: uuid.UUID, payment_id: uuid.UUID) -> str:
        """Binds a checkout page's address to one payment: nobody can guess another's."""
        message = f"page:{tenant_id}:{payment_id}".encode()
        return hmac.new(self._key, message, hashlib.sha256).hexdigest()[:32]

    def page_signature_valid(self, tenant_id: uuid.UUID, payment_id: uuid.UUID, sig: str) -> bool:
        return hmac.compare_digest(self.page_signature(tenant_id, payment_id), sig)

    async def refund(self, reference: str, amount: int) -> str:
        """The sandbox refunds at once (a real provider may confirm later by webhook)."""
        return f"sbr_{uuid.uuid4().hex}"

    async def charge_saved(self, method_ref: str, request: CheckoutRequest) -> tuple[str, str]:
        """A saved sandbox card pays, unless it is one made to decline (like Stripe's test
        card pm_card_chargeDeclined): its reference contains "declines"."""
        outcome = FAILED if "declines" in method_ref else SUCCEEDED
        return f"sbx_{request.payment_id.hex}", outcome

    async def saved_method(self, reference: str) -> str | None:
        return f"sbx_card_{reference.removeprefix('sbx_')[:16]}"

    async def checkout_outcome(self, reference: str, started: datetime) -> str | None:
        # The sandbox keeps no state of its own: like a Stripe Checkout Session, an
        # unfinished checkout expires after a day.
        if datetime.now(UTC) - started > SANDBOX_CHECKOUT_LIFETIME:
            return CANCELED
        return None

    # --- webhooks ----------------------------------------------------------------------

    def event_body(
        self, event_type: str, *, reference: str, tenant_id: uuid.UUID, payment_id: uuid.UUID
    ) -> bytes:
        event: dict[str, Any] = {
            "id": f"evt_{uuid.uuid4().hex}",
            "type": event_type,
            "created": int(time.time()),
            "data": {
                "reference": reference,
                "metadata": {"tenant_id": str(tenant_id), "payment_id": str(payment_id)},
            },
        }
        return json.dumps(event).encode()

    def sign(self, body: bytes, timestamp: int | None = None) -> str:
        timestamp = int(time.time()) if timestamp is None else timestamp
        signed = f"{timestamp}.".encode() + body
        return f"t={timestamp},v1={hmac.new(self._key, signed, hashlib.sha256).hexdigest()}"

    def verify_webhook(
        self, body: bytes, headers: Mapping[str, str], now: float | None = None
    ) -> ProviderEvent:
        header = headers.get(self.SIGNATURE_HEADER.lower()) or ""
        parts = dict(item.split("=", 1) for item in header.split(",") if "=" in item)
        try:
            timestamp = int(parts["t"])
            given = parts["v1"]
        except (KeyError, ValueError):
            raise exc.InvalidWebhookSignature() from None
        now = time.time() if now is None else now
        if abs(now - timestamp) > SIGNATURE_TOLERANCE_SECONDS:
            raise exc.InvalidWebhookSignature(details={"reason": "stale"})
        expected = self.sign(body, timestamp).split("v1=", 1)[1]
        if not hmac.compare_digest(expected, given):
            raise exc.InvalidWebhookSignature()
        return self.read_event(body.decode())

    @staticmethod
    def read_event(payload: str) -> ProviderEvent:
        try:
            event = json.loads(payload)
            data = event["data"]
            return ProviderEvent(
                id=str(event["id"]),
                type=str(event["type"]),
                reference=data.get("reference"),
                metadata={k: str(v) for k, v in (data.get("metadata") or {}).items()},
            )
        except (ValueError, KeyError, TypeError, AttributeError):
            raise exc.InvalidWebhookPayload() from None


def get_provider(
    name: str, settings: Settings, tenant_settings: Mapping[str, object] | None = None
) -> PaymentProvider:
    """The provider `name`; `tenant_settings` carry a studio's own account with it."""
    if name == "sandbox":
        return SandboxProvider(settings)
    if name == "stripe":
        account = (tenant_settings or {}).get("stripe_account_id")
        return StripeProvider(settings, account if isinstance(account, str) else None)
    raise exc.UnknownProvider(details={"provider": name})


async def load(
    session: AsyncSession,
    name: str,
    settings: Settings,
    tenant_settings: Mapping[str, object] | None = None,
) -> PaymentProvider:
    """The provider `name` for the studio in context, with its own keys where it has them
    (Yoco's are in the database, so this is async; the others are in settings)."""
    if name == "yoco":
        return YocoProvider(settings, await keys_of(session, settings, "yoco"))
    return get_provider(name, settings, tenant_settings)


async def for_webhook(
    session: AsyncSession, name: str, settings: Settings, body: bytes
) -> PaymentProvider:
    """The provider that checks a webhook's signature. A Yoco webhook is signed with the
    studio's own secret: the studio it claims is put in context to read that secret, and
    nothing else in the body is believed until the signature checks out."""
    if name == "yoco":
        await enter_tenant_for_transaction(session, YocoProvider.claimed_tenant(body))
        try:
            return await load(session, name, settings)
        except exc.ProviderNotConfigured:
            raise exc.InvalidWebhookSignature() from None
    return get_provider(name, settings)


def read_stored_event(provider: str, payload: str) -> ProviderEvent:
    """An event stored after its signature was verified; reading it needs no credentials."""
    if provider == "stripe":
        return StripeProvider.read_event(payload)
    if provider == "yoco":
        return YocoProvider.read_event(payload)
    return SandboxProvider.read_event(payload)
