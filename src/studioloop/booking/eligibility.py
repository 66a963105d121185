"""The booking decision: one ordered list of rules, asked by every way to take a seat.

A direct booking, a marketplace booking, the payment of a seat hold that lapsed, a
promotion from the waitlist and the rush gate all read the same row (`booking_attempt`,
booking/attempt.sql, through `repository.read_attempt`) and ask `decide` what it means.
`decide` is pure: no database, no clock but the `now` it is given. So a rule changed here
changes every path's answer at once (tests/booking/test_one_decision.py shows it), and the
seat statement in repository.py stays the guard that no read can replace.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

from studioloop.booking import exceptions as exc
from studioloop.core.errors import AppError, field_error
from studioloop.scheduling.timetable import (
    DEFAULT_BOOKING_WINDOW_HOURS,
    DEFAULT_CANCELLATION_WINDOW_HOURS,
    effective_window,
)

DEFAULT_WAITLIST_CUTOFF_MINUTES = 60
DEFAULT_SEAT_HOLD_MINUTES = 15


@dataclass(frozen=True)
class OccurrenceFacts:
    """A class occurrence as booking sees it (the SQL function `occurrence_facts`)."""

    id: uuid.UUID
    tenant_id: uuid.UUID
    class_id: uuid.UUID
    class_name: str
    class_type: str
    credits_required: int
    requires_membership: bool
    price: int | None
    currency: str
    start_time: datetime
    end_time: datetime
    status: str
    capacity: int
    booked_count: int
    booking_window: timedelta
    cancellation_window: timedelta
    tenant_settings: dict[str, Any]
    tenant_name: str = ""
    timezone: str = "UTC"
    marketplace_seats: int | None = None  # of its seats the marketplace may fill; None: any
    marketplace_booked: int = 0

    @property
    def local_start(self) -> str:
        """The start as members read it: the studio's wall clock, e.g. "Sat 05 Dec 09:00"."""
        return self.start_time.astimezone(ZoneInfo(self.timezone)).strftime("%a %d %b %H:%M")

    @property
    def full(self) -> bool:
        return self.booked_count >= self.capacity

    @property
    def seat_hold(self) -> timedelta:
        """How long a seat is held while its member pays by card: the studio's
        `seat_hold_minutes` (a booking's hold, and a place offered from the waitlist)."""
        minutes = self.tenant_settings.get("seat_hold_minutes", DEFAULT_SEAT_HOLD_MINUTES)
        valid = isinstance(minutes, int) and 1 <= minutes <= 24 * 60
        return timedelta(minutes=minutes if valid else DEFAULT_SEAT_HOLD_MINUTES)


def facts_from_row(row: Any) -> OccurrenceFacts:
    """The facts from a row of `occurrence_facts` (or `booking_attempt`, which has them)."""
    settings = row.settings or {}
    booking_hours = effective_window(
        row.booking_window_hours,
        row.class_booking_window_hours,
        settings,
        "booking_window_hours",
        DEFAULT_BOOKING_WINDOW_HOURS,
    )
    cancel_hours = effective_window(
        row.cancellation_window_hours,
        row.class_cancellation_window_hours,
        settings,
        "cancellation_window_hours",
        DEFAULT_CANCELLATION_WINDOW_HOURS,
    )
    return OccurrenceFacts(
        id=row.id,
        tenant_id=row.tenant_id,
        class_id=row.class_id,
        class_name=row.class_name,
        class_type=row.class_type,
        credits_required=row.credits_required,
        requires_membership=row.requires_membership,
        price=row.price,
        currency=row.currency,
        start_time=row.start_time,
        end_time=row.end_time,
        status=row.status,
        capacity=row.capacity,
        booked_count=row.booked_count,
        booking_window=timedelta(hours=booking_hours),
        cancellation_window=timedelta(hours=cancel_hours),
        tenant_settings=settings,
        tenant_name=row.tenant_name,
        timezone=row.timezone,
        marketplace_seats=row.marketplace_seats,
        marketplace_booked=row.marketplace_booked,
    )


@dataclass(frozen=True)
class Entitlement:
    """What the member's membership at the studio gives (billing's `member_entitlement`)."""

    has_membership: bool = False
    unlimited: bool = False  # books classes without spending credits...
    unlimited_class_types: frozenset[str] = frozenset()  # ...of these types (empty: all)

    def covers(self, class_type: str) -> bool:
        """A class of this type is booked without credits or payment."""
        return self.unlimited and (
            not self.unlimited_class_types or class_type in self.unlimited_class_types
        )


@dataclass(frozen=True)
class Attempt:
    """One member and one occurrence: the row `booking_attempt` returns."""

    facts: OccurrenceFacts
    user_id: uuid.UUID
    booked: uuid.UUID | None  # their active (confirmed, waitlisted, held) booking of it
    booked_status: str | None
    clash: uuid.UUID | None  # their seated booking of another class overlapping it
    membership_status: str | None  # at this studio; None: not a member (yet)
    future_bookings: int | None  # counted only when the studio caps them
    same_day_bookings: int | None  # of this class type that day, likewise
    entitlement: Entitlement


Channel = Literal["direct", "marketplace", "paid_hold", "promotion"]


@dataclass(frozen=True)
class Intent:
    """How the seat is being asked for.

    - direct: the member books at the studio (`POST /bookings`, the class page);
    - marketplace: the member books through the marketplace, for `marketplace_credits`
      universal credits or (`by_card`) the marketplace's card price;
    - paid_hold: a seat hold lapsed, then its payment arrived: place them if still allowed;
    - promotion: a waitlisted member is offered a freed seat.
    """

    channel: Channel = "direct"
    join_waitlist: bool = False
    credits_to_use: int | None = None
    marketplace_credits: int = 0
    by_card: bool = False


@dataclass(frozen=True)
class Refused:
    error: AppError


@dataclass(frozen=True)
class TakeSeat:
    """Take a seat: `cost` credits (studio credits, or universal ones on the marketplace);
    with `hold_for_card` the seat is held while the member pays by card instead."""

    cost: int
    join_studio: bool  # not a member yet: booking makes them one
    hold_for_card: bool = False


@dataclass(frozen=True)
class JoinWaitlist:
    join_studio: bool


@dataclass(frozen=True)
class ResumeHold:
    """A retry while their seat is held for payment: the same checkout again."""

    booking_id: uuid.UUID
    cost: int


Decision = Refused | TakeSeat | JoinWaitlist | ResumeHold
Rule = Callable[[Attempt, Intent, datetime], "AppError | ResumeHold | None"]


def cost_for(attempt: Attempt, intent: Intent) -> int:
    """What this member spends: universal credits on the marketplace; at the studio its
    credits, none with an unlimited membership covering the class; nothing for a seat
    already being paid by card."""
    if intent.channel == "marketplace":
        return 0 if intent.by_card else intent.marketplace_credits
    if intent.channel == "paid_hold" or attempt.entitlement.covers(attempt.facts.class_type):
        return 0
    return attempt.facts.credits_required


def booking_opens_at(start_time: datetime, booking_window: timedelta) -> datetime:
    """When members may start booking a class: its booking window before the start (the
    rule `class_open` applies; pages use it to say "Booking opens ...")."""
    return start_time - booking_window


# --- the rules, in the order they are asked ----------------------------------------------


def class_open(attempt: Attempt, intent: Intent, now: datetime) -> AppError | None:
    facts = attempt.facts
    if facts.status == "cancelled":
        return exc.ClassCancelled()
    if now >= facts.start_time or facts.status != "scheduled":
        return exc.BookingWindowClosed()
    if intent.channel in ("direct", "marketplace"):
        opens_at = booking_opens_at(facts.start_time, facts.booking_window)
        if now < opens_at:
            return exc.BookingNotOpen(details={"opens_at": opens_at.isoformat()})
    if intent.channel == "promotion":
        cutoff = facts.tenant_settings.get(
            "waitlist_cutoff_minutes", DEFAULT_WAITLIST_CUTOFF_MINUTES
        )
        if isinstance(cutoff, int) and now > facts.start_time - timedelta(minutes=cutoff):
            # Too close to the start: nobody gets a surprise booking.
            return exc.BookingWindowClosed()
    return None


def not_booked_already(attempt: Attempt, intent: Intent, now: datetime) -> Any:
    if attempt.booked is None or intent.channel == "promotion":  # theirs is the waitlisted one
        return None
    if intent.channel == "direct" and attempt.booked_status == "held":
        return ResumeHold(attempt.booked, cost_for(attempt, intent))
    return exc.AlreadyBooked(details={"booking_id": str(attempt.booked)})


def no_clash(attempt: Attempt, intent: Intent, now: datetime) -> AppError | None:
    if attempt.clash is not None:
        return exc.MemberScheduleConflict(details={"booking_id": str(attempt.clash)})
    return None


def seat_free(attempt: Attempt, intent: Intent, now: datetime) -> AppError | None:
    """Answered before the costlier rules: in a rush most attempts end here."""
    facts = attempt.facts
    if facts.full and not (intent.channel == "direct" and intent.join_waitlist):
        return exc.ClassFull(details={"capacity": facts.capacity})
    if (
        intent.channel == "marketplace"
        and facts.marketplace_seats is not None
        and facts.marketplace_booked >= facts.marketplace_seats
    ):
        # The studio's own members may still find seats; the marketplace's share is gone.
        return exc.ClassFull(
            "The places this studio offers on the marketplace are taken for this class.",
            details={"marketplace_seats_left": 0},
        )
    return None


def membership_usable(attempt: Attempt, intent: Intent, now: datetime) -> AppError | None:
    if attempt.membership_status not in (None, "active"):
        return exc.MembershipInactive()
    return None


def within_limits(attempt: Attempt, intent: Intent, now: datetime) -> AppError | None:
    """The studio's fairness caps (none by default). A promotion's own waitlisted booking
    was counted when the member joined, so promotions are not asked again."""
    if intent.channel not in ("direct", "marketplace"):
        return None
    rules = attempt.facts.tenant_settings
    max_future = rules.get("max_future_bookings")
    if isinstance(max_future, int) and 0 < max_future <= (attempt.future_bookings or 0):
        return exc.BookingLimitReached(details={"max_future_bookings": max_future})
    per_day = rules.get("max_daily_bookings_per_class_type")
    if isinstance(per_day, int) and 0 < per_day <= (attempt.same_day_bookings or 0):
        return exc.BookingLimitReached(
            details={
                "max_daily_bookings_per_class_type": per_day,
                "class_type": attempt.facts.class_type,
            }
        )
    return None


def membership_covers(attempt: Attempt, intent: Intent, now: datetime) -> AppError | None:
    """Members-only classes need an active membership of the studio (which a marketplace
    booking never brings)."""
    if attempt.facts.requires_membership and (
        intent.channel == "marketplace" or not attempt.entitlement.has_membership
    ):
        return exc.MembershipRequired()
    return None


def credits_as_asked(attempt: Attempt, intent: Intent, now: datetime) -> AppError | None:
    """A client may state what it expects to pay; a different price refuses the booking."""
    if intent.credits_to_use is None:
        return None
    cost = cost_for(attempt, intent)
    if intent.credits_to_use != cost:
        unit = "universal credit(s)" if intent.channel == "marketplace" else "credit(s)"
        return field_error("credits_to_use", f"this class costs you {cost} {unit}")
    return None


def paid_by_card(attempt: Attempt, intent: Intent, now: datetime) -> AppError | None:
    """A class sold by card only (a price, no credits) is never given away: universal
    credits cannot buy it (it costs 0 of them), so the marketplace refuses it unless paid
    by card. (At the studio, and to a member promoted from the waitlist, `decide` holds
    the seat for a card payment instead; a membership covering the class still books it.)"""
    facts = attempt.facts
    if facts.price is None or facts.credits_required > 0:
        return None
    if intent.channel == "marketplace" and not intent.by_card:
        return exc.PaymentRequired(
            "This class is sold by card only: book it with pay_with card.",
            details={"pay_with": "card"},
        )
    return None


RULES: list[Rule] = [
    class_open,
    not_booked_already,
    no_clash,
    seat_free,
    membership_usable,
    within_limits,
    membership_covers,
    paid_by_card,
    credits_as_asked,
]


def decide(attempt: Attempt, intent: Intent, now: datetime) -> Decision:
    """What happens to this attempt: refused (the first rule that says no), or the seat
    to take, the waitlist to join, the hold to resume."""
    for rule in RULES:
        answer = rule(attempt, intent, now)
        if isinstance(answer, AppError):
            return Refused(answer)
        if answer is not None:
            return answer
    join_studio = attempt.membership_status is None
    if attempt.facts.full:  # only a direct booking asking for the waitlist gets here
        return JoinWaitlist(join_studio)
    cost = cost_for(attempt, intent)
    card_only = sold_by_card_only(attempt, intent, cost)
    return TakeSeat(cost, join_studio, hold_for_card=card_only or intent.by_card)


def sold_by_card_only(attempt: Attempt, intent: Intent, cost: int) -> bool:
    """A seat that costs no credits but has a card price (and no membership covering it)
    is held for a card payment, at the studio and when offered from the waitlist."""
    facts = attempt.facts
    return (
        intent.channel in ("direct", "promotion")
        and cost == 0
        and facts.price is not None
        and not attempt.entitlement.covers(facts.class_type)
    )


def refusal_of(decision: Decision) -> AppError | None:
    return decision.error if isinstance(decision, Refused) else None
