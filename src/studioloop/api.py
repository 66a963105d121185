"""The JSON API under /api/v1: every domain router, behind the global rate limit."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, FastAPI

from studioloop.accounts.router import router as accounts_router
from studioloop.api_keys.dependencies import enforce_rate_limit
from studioloop.api_keys.router import router as api_keys_router
from studioloop.billing.router import router as billing_router
from studioloop.booking.checkin_router import router as checkin_router
from studioloop.booking.router import router as booking_router
from studioloop.chat.router import router as chat_router, websocket_router
from studioloop.core.openapi import API_PREFIX
from studioloop.credits.router import router as credits_router
from studioloop.jobs.router import router as jobs_router
from studioloop.marketplace.router import router as marketplace_router
from studioloop.notifications.router import router as notifications_router
from studioloop.notifications.webhooks import webhook_router as messaging_webhook_router
from studioloop.payments.router import router as payments_router, webhook_router
from studioloop.privacy.router import router as privacy_router
from studioloop.scheduling.router import router as scheduling_router
from studioloop.tenants.router import router as tenants_router
from studioloop.usage.router import router as usage_router

__all__ = ["API_PREFIX", "include_api"]

# Every API route counts against the caller's rate limit (an API key's own, or the user's
# or address's), except providers' webhooks.
RATE_LIMITED = [Depends(enforce_rate_limit)]

# Routes are matched in order: bookings first, because a class opening is the busiest
# moment the API has (none of these paths overlaps another router's).
#
# Each router is included on the app itself, not through an umbrella router: FastAPI
# (0.16x) resolves nested inclusions on every request, re-walking the whole tree below
# each level, which cost a booking about 0.2 ms and a request to the last router 1 ms.
API_ROUTERS: list[tuple[APIRouter, list[Any]]] = [
    (booking_router, RATE_LIMITED),
    (accounts_router, RATE_LIMITED),
    (tenants_router, RATE_LIMITED),
    (notifications_router, RATE_LIMITED),
    (scheduling_router, RATE_LIMITED),
    (credits_router, RATE_LIMITED),
    (billing_router, RATE_LIMITED),
    (payments_router, RATE_LIMITED),
    (checkin_router, RATE_LIMITED),
    (jobs_router, RATE_LIMITED),
    (chat_router, RATE_LIMITED),
    (marketplace_router, RATE_LIMITED),
    (usage_router, RATE_LIMITED),
    (privacy_router, RATE_LIMITED),
    (api_keys_router, RATE_LIMITED),
    # Signed by the provider, not rate-limited per address (see payments/router.py).
    (webhook_router, []),
    (messaging_webhook_router, []),
    (websocket_router, []),
]


def include_api(app: FastAPI) -> None:
    """Every API router, in matching order, on the app."""
    for router, dependencies in API_ROUTERS:
        app.include_router(router, dependencies=dependencies)
