"""Marketplace arithmetic, in integer minor units (the search function in migration 0023
computes the same credit price in SQL; tests hold the two together).

A studio sells a marketplace seat for universal credits. Each credit is worth its payout
rate to the studio (gross). The studio's share of that (net) is gross x (1 - commission
rate), rounded down to the minor unit; the platform's commission is the rest, so the two
always add up to gross. The studio's floor price is the least net it accepts: a class
costs the fewest credits whose net covers it (and never less than its own credit price).
Rounding the net down is what makes that fewest number exact: net >= floor holds exactly
when credits x rate x (10000 - bp) >= floor x 10000.
"""

from __future__ import annotations

from dataclasses import dataclass

BASIS_POINTS = 10_000


@dataclass(frozen=True)
class Terms:
    payout_rate: int  # minor units of the studio's currency per universal credit
    commission_basis_points: int  # 0..9999
    floor_price: int  # minor units the studio takes home at least, per seat


@dataclass(frozen=True)
class Settlement:
    credits: int
    gross: int  # credits x payout rate: what the credits are worth to the studio
    commission: int  # the platform's share of gross
    net: int  # gross - commission: what the studio is owed


def credits_for(credits_required: int, terms: Terms) -> int:
    """The universal credits a class costs: its own credit price, or more if that would
    pay the studio less than its floor price."""
    if terms.floor_price <= 0:
        return credits_required
    per_credit_net = terms.payout_rate * (BASIS_POINTS - terms.commission_basis_points)
    covering = -(-terms.floor_price * BASIS_POINTS // per_credit_net)  # ceil, in integers
    return max(credits_required, covering)


def settle(credits: int, terms: Terms) -> Settlement:
    gross = credits * terms.payout_rate
    net = gross * (BASIS_POINTS - terms.commission_basis_points) // BASIS_POINTS
    return Settlement(credits=credits, gross=gross, commission=gross - net, net=net)


# Studios whose payment provider pays them directly, with no way for the platform to take
# its commission from the payment (migration 0023's search says the same in SQL).
NO_COMMISSION_PROVIDERS = frozenset({"yoco"})


def card_price(class_price: int | None, terms: Terms, provider: str) -> int | None:
    """A class's drop-in price on the marketplace: its own, or more if that would leave
    the studio less than its floor after the commission. None: credits only (the class
    has no price, or the commission could not be taken from a card)."""
    if class_price is None or provider in NO_COMMISSION_PROVIDERS:
        return None
    covering = -(
        -terms.floor_price * BASIS_POINTS // (BASIS_POINTS - terms.commission_basis_points)
    )
    return max(class_price, covering)


def settle_card(price: int, terms: Terms) -> Settlement:
    """A marketplace seat paid by card: the same split of the price as of a credit's
    worth (the studio's share rounded down, the commission the rest)."""
    net = price * (BASIS_POINTS - terms.commission_basis_points) // BASIS_POINTS
    return Settlement(credits=0, gross=price, commission=price - net, net=net)
