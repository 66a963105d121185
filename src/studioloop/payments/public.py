"""What other domains use of payments besides its service, listed here so that the rest of
the domain stays its own (the public-face contracts in pyproject.toml): charging through a
studio's provider and the platform's fee (billing's subscriptions and renewals), receipts
and a full refund (billing), a marketplace booking's settlement (marketplace), and the card
checkout for a held seat (booking's flows). Each is the function of the module that holds
it, under the name a caller outside payments reads best.
"""

from __future__ import annotations

from studioloop.payments.class_payments import checkout_for_hold
from studioloop.payments.payouts import platform_fee, settle_marketplace_booking
from studioloop.payments.providers import FAILED, CheckoutRequest, load as load_provider
from studioloop.payments.receipts import (
    as_attachment as receipt_attachment,
    display_number as receipt_number,
    issue as issue_receipt,
)
from studioloop.payments.refunds import defer_refund_in_full

__all__ = [
    "FAILED",
    "CheckoutRequest",
    "checkout_for_hold",
    "defer_refund_in_full",
    "issue_receipt",
    "load_provider",
    "platform_fee",
    "receipt_attachment",
    "receipt_number",
    "settle_marketplace_booking",
]
