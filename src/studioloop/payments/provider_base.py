"""What every payment provider is and says: the interface, the checkout and event shapes,
and the event types our state machine understands. Apart from providers.py (the sandbox,
and choosing a studio's provider), which imports each provider's module: those modules need
these names."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

# A webhook signed longer ago than this is refused (a replay of an old capture).
SIGNATURE_TOLERANCE_SECONDS = 300

# What our state machine understands; providers map their own event types onto these.
SUCCEEDED, FAILED, CANCELED, REQUIRES_ACTION = (
    "payment.succeeded",
    "payment.failed",
    "payment.canceled",
    "payment.requires_action",
)


@dataclass(frozen=True)
class Checkout:
    reference: str  # the provider's id for it, stored on the payment
    url: str  # where the member pays


@dataclass(frozen=True)
class ProviderEvent:
    id: str
    type: str
    reference: str | None
    metadata: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class CheckoutRequest:
    payment_id: uuid.UUID
    tenant_id: uuid.UUID
    amount: int
    currency: str
    description: str
    platform_fee: int = 0  # taken by the provider where it can (Stripe application fee)
    save_method: bool = False  # keep the card for charges without the member (renewals)
    customer_email: str | None = None

    def return_url(self, base_url: str) -> str:
        """The page a hosted checkout sends the member back to (web/payment_results.py):
        it shows this payment and the way back to what was bought."""
        return f"{base_url}/payments/done?payment={self.payment_id}&studio={self.tenant_id}"


class PaymentProvider(Protocol):
    name: str
    # Whether the money lands on the platform's account (then the platform owes it to the
    # studio: payments/payouts.py) rather than straight on the studio's.
    collects_for_platform: bool
    # Whether the platform's fee can be taken on its payments (not on a studio's own Yoco).
    charges_platform_fee: bool

    async def create_checkout(self, request: CheckoutRequest, base_url: str) -> Checkout: ...

    def verify_webhook(
        self, body: bytes, headers: Mapping[str, str], now: float | None = None
    ) -> ProviderEvent: ...

    def read_event(self, payload: str) -> ProviderEvent: ...

    async def refund(self, reference: str, amount: int) -> str: ...

    async def charge_saved(self, method_ref: str, request: CheckoutRequest) -> tuple[str, str]:
        """Charge a saved card without the member (a renewal): (reference, one of our
        event types). Providers without saved cards raise ProviderRejected."""
        ...

    async def saved_method(self, reference: str) -> str | None:
        """The card a paid checkout saved (it was opened with `save_method`), to charge
        later; None when the provider keeps none."""
        ...

    async def checkout_outcome(self, reference: str, started: datetime) -> str | None:
        """For reconciliation: what became of a checkout whose webhook never came (one of
        our event types), or None while it is still open."""
        ...
