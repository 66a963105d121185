"""The JSON API under /api/v1: every domain router, behind the global rate limit."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from studioloop.accounts.router import router as accounts_router
from studioloop.billing.router import router as billing_router
from studioloop.booking.calendar_router import router as calendar_router
from studioloop.booking.checkin_router import router as checkin_router
from studioloop.booking.router import router as booking_router
from studioloop.chat.router import router as chat_router, websocket_router
from studioloop.core.openapi import API_PREFIX
from studioloop.core.ratelimit import enforce_global_limit
from studioloop.credits.router import router as credits_router
from studioloop.jobs.router import router as jobs_router
from studioloop.marketplace.router import router as marketplace_router
from studioloop.notifications.router import router as notifications_router
from studioloop.notifications.webhooks import webhook_router as messaging_webhook_router
from studioloop.payments.router import router as payments_router, webhook_router
from studioloop.scheduling.router import router as scheduling_router
from studioloop.tenants.router import router as tenants_router

__all__ = ["API_PREFIX", "api_router"]

# Every API route counts against the caller's rate limit, except providers' webhooks.
limited_router = APIRouter(dependencies=[Depends(enforce_global_limit)])
# Routes are matched in order: bookings first, because a class opening is the busiest
# moment the API has (none of these paths overlaps another router's).
limited_router.include_router(booking_router)
limited_router.include_router(accounts_router)
limited_router.include_router(tenants_router)
limited_router.include_router(notifications_router)
limited_router.include_router(scheduling_router)
limited_router.include_router(credits_router)
limited_router.include_router(billing_router)
limited_router.include_router(payments_router)
limited_router.include_router(checkin_router)
limited_router.include_router(calendar_router)
limited_router.include_router(jobs_router)
limited_router.include_router(chat_router)
limited_router.include_router(marketplace_router)

api_router = APIRouter()
api_router.include_router(limited_router)
# Signed by the provider, not rate-limited per address (see payments/router.py).
api_router.include_router(webhook_router)
api_router.include_router(messaging_webhook_router)
api_router.include_router(websocket_router)
