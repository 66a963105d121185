"""The marketplace's rules: what a studio offers there and at what price, booking with
universal credits, a studio's terms, and its statement of what it is owed."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from studioloop.accounts import exceptions as accounts_exc
from studioloop.accounts.models import User
from studioloop.booking import repository as booking_repository, service as booking_service
from studioloop.booking.holds import SeatHold
from studioloop.config import Settings
from studioloop.marketplace import exceptions as exc, pricing, repository
from studioloop.marketplace.models import MarketplaceTerms
from studioloop.marketplace.pricing import Terms
from studioloop.marketplace.schemas import (
    MarketplaceBookingOut,
    StudioSummary,
    TermsIn,
    TermsOut,
)
from studioloop.payments import public as payments_public
from studioloop.tenants import service as tenants_service


@dataclass(frozen=True)
class Offer:
    """One occurrence as the marketplace sells it."""

    studio: StudioSummary
    currency: str
    terms: Terms
    credits: int
    card_price: int | None  # None: credits only
    seats_left: int | None  # of the marketplace's share; None: any free seat


def terms_from(
    settings: Settings,
    payout_rate: int | None,
    commission_basis_points: int | None,
    floor_price: int | None,
) -> Terms:
    """A studio's terms, the platform's defaults where it has none of its own."""
    return Terms(
        payout_rate=payout_rate or settings.marketplace_payout_rate,
        commission_basis_points=(
            settings.marketplace_commission_basis_points
            if commission_basis_points is None
            else commission_basis_points
        ),
        floor_price=floor_price or 0,
    )


async def offer_for(
    session: AsyncSession, settings: Settings, occurrence_id: uuid.UUID, credits_required: int
) -> Offer:
    """The occurrence as the marketplace sells it, or NOT_ON_MARKETPLACE."""
    row = await repository.offer_row(session, occurrence_id)
    if (
        row is None
        or not row.marketplace_enabled
        or row.status not in ("active", "trial")
        or row.kind == "platform"
        or not row.is_active
        or row.is_private
        or row.marketplace_seats == 0
    ):
        raise exc.NotOnMarketplace()
    terms = terms_from(settings, row.payout_rate, row.commission_basis_points, row.floor_price)
    seats_left = (
        None if row.marketplace_seats is None else row.marketplace_seats - row.marketplace_booked
    )
    return Offer(
        studio=StudioSummary(id=row.id, slug=row.slug, name=row.name),
        currency=row.currency,
        terms=terms,
        credits=pricing.credits_for(credits_required, terms),
        card_price=pricing.card_price(row.price, terms, row.payment_provider or "sandbox"),
        seats_left=seats_left,
    )


@dataclass(frozen=True)
class Quote:
    """What booking this class through the marketplace would spend, before it is booked
    (the confirmation step), read the way `book` reads it."""

    class_name: str
    local_start: str  # on the studio's clock
    cancel_by: datetime  # cancelling before this gives the credits back
    offer: Offer


async def quote(
    session: AsyncSession, settings: Settings, user: User, occurrence_id: uuid.UUID
) -> Quote:
    """The price `book` would charge; nothing is written. NOT_ON_MARKETPLACE or
    SCHEDULE_NOT_FOUND as `book` would answer."""
    attempt = await booking_repository.read_attempt(
        session, occurrence_id, user.id, find_studio=True
    )
    if attempt is None:
        raise accounts_exc.InvalidToken()
    facts = attempt.facts
    offer = await offer_for(session, settings, occurrence_id, facts.credits_required)
    return Quote(
        facts.class_name, facts.local_start, facts.start_time - facts.cancellation_window, offer
    )


async def book(
    session: AsyncSession,
    settings: Settings,
    user: User,
    occurrence_id: uuid.UUID,
    *,
    credits_to_use: int | None,
    pay_with: str = "credits",
) -> MarketplaceBookingOut | SeatHold:
    """Book a class at any studio on the marketplace: with universal credits (the studio
    is owed their worth less the commission, recorded with the booking), or by card (the
    seat is held while the member pays; the payment carries the commission as the
    platform's fee)."""
    attempt = await booking_repository.read_attempt(
        session, occurrence_id, user.id, find_studio=True
    )
    if attempt is None:  # the account was closed or suspended since the token was issued
        raise accounts_exc.InvalidToken()
    facts = attempt.facts
    offer = await offer_for(session, settings, occurrence_id, facts.credits_required)
    settlement = pricing.settle(offer.credits, offer.terms)
    commission, card_price = settlement.commission, None
    if pay_with == "card":
        if offer.card_price is None:
            raise exc.CardNotAvailable()
        card_price = offer.card_price
        commission = pricing.settle_card(card_price, offer.terms).commission

    async def settle(booking_id: uuid.UUID) -> None:  # credits only: a card pays on payment
        if settlement.gross:
            await payments_public.settle_marketplace_booking(
                session,
                facts.tenant_id,
                offer.currency,
                booking_id,
                gross=settlement.gross,
                commission=settlement.commission,
                description=f"Marketplace: {facts.class_name}, {facts.local_start}",
            )

    booking = await booking_service.book_on_marketplace(
        session,
        settings,
        attempt,
        credits=offer.credits,
        credits_to_use=credits_to_use,
        marketplace_fee=commission,
        card_price=card_price,
        before_seat=settle,
    )
    if isinstance(booking, SeatHold):
        return booking
    return MarketplaceBookingOut(**booking.model_dump(), studio=offer.studio)


# --- a studio's terms --------------------------------------------------------------------


async def terms_of(session: AsyncSession, settings: Settings, tenant_id: uuid.UUID) -> TermsOut:
    tenant = await tenants_service.get_tenant(session, tenant_id)
    row = await session.get(MarketplaceTerms, tenant_id)
    terms = (
        terms_from(settings, row.payout_rate, row.commission_basis_points, row.floor_price)
        if row is not None
        else terms_from(settings, None, None, None)
    )
    return TermsOut(
        payout_rate=terms.payout_rate,
        commission_basis_points=terms.commission_basis_points,
        floor_price=terms.floor_price,
        currency=tenant.currency,
        marketplace_enabled=tenant.marketplace_enabled,
    )


async def change_terms(
    session: AsyncSession,
    settings: Settings,
    tenant_id: uuid.UUID,
    changes: TermsIn,
    *,
    by_operator: bool,
) -> TermsOut:
    """A studio's admins change its floor price; the platform operator may also change
    its payout rate and commission (an explicit null: back to the platform default)."""
    given = changes.model_dump(exclude_unset=True)
    if not by_operator and ({"payout_rate", "commission_basis_points"} & given.keys()):
        raise exc.CommissionTermsForbidden()
    if "floor_price" in given and given["floor_price"] is None:
        given["floor_price"] = 0
    if given:
        await session.execute(
            insert(MarketplaceTerms)
            .values(tenant_id=tenant_id, **given)
            .on_conflict_do_update(index_elements=["tenant_id"], set_=given)
        )
        session.expire_all()
    return await terms_of(session, settings, tenant_id)
