"""A studio connects its own Stripe account through Stripe's hosted onboarding (Connect
Express), so its payments become destination charges paid straight to it.

The new account is kept as `stripe_account_pending` in the studio's settings until Stripe
says it can take charges; only then does it become `stripe_account_id`, which checkouts
and payouts use. Until then the studio's payments stay on the platform's account (and
in its payout ledger), so nothing is ever sent to an account that cannot take it.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from studioloop.config import Settings
from studioloop.payments import exceptions as exc
from studioloop.payments.stripe_provider import StripeProvider
from studioloop.tenants import service as tenants_service


@dataclass(frozen=True)
class ConnectState:
    account_id: str | None
    status: str  # none, pending, connected
    charges_enabled: bool
    payouts_enabled: bool
    onboarding_url: str | None = None


async def start_onboarding(
    session: AsyncSession, settings: Settings, tenant_id: uuid.UUID, base_url: str
) -> ConnectState:
    """A link to Stripe's onboarding, creating the studio's account the first time."""
    tenant = await tenants_service.get_tenant(session, tenant_id)
    tenant_settings = tenant.settings or {}
    if tenant_settings.get("stripe_account_id"):
        raise exc.AlreadyConnected(details={"account_id": tenant_settings["stripe_account_id"]})
    stripe = StripeProvider(settings)
    pending = tenant_settings.get("stripe_account_pending")
    if not isinstance(pending, str):
        country = (tenant.address or {}).get("country")
        pending = await stripe.create_connected_account(
            tenant.email, country, key=f"connect-{tenant.id}"
        )
        await tenants_service.merge_settings(
            session, tenant.id, {"stripe_account_pending": pending}
        )
    back = f"{base_url}/payments/connected?studio={tenant.slug}"
    url = await stripe.onboarding_link(pending, refresh_url=back, return_url=back)
    return ConnectState(pending, "pending", False, False, onboarding_url=url)


async def refresh(session: AsyncSession, settings: Settings, tenant_id: uuid.UUID) -> ConnectState:
    """Ask Stripe where onboarding stands; a pending account that can take charges is
    connected from now on."""
    tenant_settings = await tenants_service.settings_of(session, tenant_id)
    connected = tenant_settings.get("stripe_account_id")
    pending = tenant_settings.get("stripe_account_pending")
    account = connected if isinstance(connected, str) else pending
    if not isinstance(account, str):
        return ConnectState(None, "none", False, False)
    charges, payouts = await StripeProvider(settings).account_state(account)
    if account == pending and charges:
        await tenants_service.merge_settings(
            session, tenant_id, {"stripe_account_id": account, "stripe_account_pending": None}
        )
        connected = account
    status = "connected" if account == connected else "pending"
    return ConnectState(account, status, charges, payouts)
