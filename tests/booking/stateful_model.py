"""The plain-Python model the booking state machine (test_stateful.py) checks the product
against: seats, held seats, waitlists, studio credits (lot by lot) and universal credits.

Each `predict_*` answers what the API must say to a request in the model's current state,
before the step is taken; the machine then applies the answer to the model. Nothing here
touches the database or the app.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from hypothesis import event

MEMBERS = 5
# Two to three days ahead: inside the 7-day booking window, outside the 24 h cancellation
# window and the 60-minute waitlist cut-off, so no step depends on the clock.
# Classes 0 and 1 overlap (60 minutes each, 30 minutes apart); classes 2 and 3 stand alone.
HOURS_AHEAD = (48.0, 48.5, 52.0, 56.0)
OVERLAPPING = {(0, 1), (1, 0)}
# Class 2 is sold for credits or by card (a member short of credits gets a held seat);
# class 3 by card only (`credits_required: 0`); classes 0 and 1 for credits only.
PRICED_CLASS, CARD_ONLY_CLASS, PRICE = 2, 3, 1000
SEATED = ("confirmed", "held")  # the bookings that take a seat
ACTIVE = ("confirmed", "waitlisted", "held")

# Bugs this model found, now fixed (rule `paid_by_card` and `decide` in
# booking/eligibility.py; the regression tests are in test_stateful_findings.py). Set a flag
# back to True only to see what the engine did before: a waitlisted member promoted into a
# class sold by card only (credits_required 0, a price) was confirmed without paying
# anything, and the marketplace booked such a class for 0 universal credits. Now such a
# promotion (and one of a member short of credits for a class with a card price) holds the
# seat for the member to pay.
PROMOTION_GIVES_CARD_ONLY_SEATS_AWAY = False
MARKETPLACE_GIVES_CARD_ONLY_SEATS_AWAY = False


@dataclass
class Lot:
    id: str
    order: tuple[bool, int, int]  # soonest-expiring first, never-expiring last, then age
    original: int
    remaining: int
    expiring: bool
    expired: bool = False


@dataclass
class Booked:
    id: str
    member: int
    cls: int
    status: str
    marketplace: bool = False
    taken: dict[str, int] = field(default_factory=dict)  # studio lot id -> credits not refunded
    universal: int = 0  # universal credits not refunded (a marketplace booking)
    payment_id: str | None = None  # a seat held for a card payment
    payable: bool = False  # its checkout still takes the money

    @property
    def credits_used(self) -> int:
        return sum(self.taken.values()) + self.universal


@dataclass
class Class:
    id: str
    capacity: int
    cost: int  # credits_required
    price: int | None = None
    marketplace_seats: int | None = None
    cancelled: bool = False

    @property
    def card_only(self) -> bool:
        return self.cost == 0 and self.price is not None


class Model:
    def __init__(self, classes: list[Class], universal: list[int]) -> None:
        self.classes = classes
        self.lots: list[list[Lot]] = [[] for _ in range(MEMBERS)]
        self.universal = list(universal)  # each member's universal credits
        self.bookings: list[Booked] = []  # in the order they were made
        self.waitlist: list[list[Booked]] = [[] for _ in classes]  # in waitlist order
        self.seq = 0
        self.note: Callable[[str], None] = event  # told what happened, for statistics

    # --- reading the state ---------------------------------------------------------------

    def balance(self, member: int) -> int:
        return sum(lot.remaining for lot in self.lots[member])

    def seated(self, cls: int) -> int:
        return sum(1 for b in self.bookings if b.cls == cls and b.status in SEATED)

    def marketplace_seated(self, cls: int) -> int:
        return sum(
            1 for b in self.bookings if b.cls == cls and b.status in SEATED and b.marketplace
        )

    def full(self, cls: int) -> bool:
        return self.seated(cls) >= self.classes[cls].capacity

    def marketplace_full(self, cls: int) -> bool:
        share = self.classes[cls].marketplace_seats
        return self.full(cls) or (share is not None and self.marketplace_seated(cls) >= share)

    def active(self, member: int, cls: int) -> Booked | None:
        return next(
            (b for b in self.bookings if (b.member, b.cls) == (member, cls) and b.status in ACTIVE),
            None,
        )

    def clashes(self, member: int, cls: int) -> bool:
        return any(
            b.member == member and b.status in SEATED and (b.cls, cls) in OVERLAPPING
            for b in self.bookings
        )

    # --- what the API must answer ----------------------------------------------------------

    def predict_direct(self, member: int, cls: int, wait: bool) -> str:
        """`POST /bookings`: a booking status, "held", "held again" or an error code."""
        c, active = self.classes[cls], self.active(member, cls)
        if c.cancelled:
            return "CLASS_CANCELLED"
        if active is not None and active.status == "held":
            return "held again"
        if active is not None:
            return "ALREADY_BOOKED"
        if self.clashes(member, cls):
            return "SCHEDULE_CONFLICT"
        if self.full(cls):
            return "waitlisted" if wait else "CLASS_FULL"
        if c.card_only:
            return "held"
        if self.balance(member) < c.cost:
            return "held" if c.price is not None else "INSUFFICIENT_CREDITS"
        return "confirmed"

    def predict_marketplace(self, member: int, cls: int, card: bool) -> str:
        """`POST /marketplace/bookings` (universal credits, or `pay_with: card`)."""
        c = self.classes[cls]
        if card and c.price is None:
            return "CARD_NOT_AVAILABLE"
        if c.cancelled:
            return "CLASS_CANCELLED"
        if self.active(member, cls) is not None:  # the marketplace never resumes a hold
            return "ALREADY_BOOKED"
        if self.clashes(member, cls):
            return "SCHEDULE_CONFLICT"
        if self.marketplace_full(cls):  # there is no marketplace waitlist
            return "CLASS_FULL"
        if card:
            return "held"
        if c.card_only and not MARKETPLACE_GIVES_CARD_ONLY_SEATS_AWAY:
            return "not free"
        if self.universal[member] < c.cost:
            return "INSUFFICIENT_CREDITS"
        return "confirmed"

    def late_payment_places(self, booking: Booked) -> bool:
        """Money for a lapsed hold places the member if the booking rules still allow it."""
        c = self.classes[booking.cls]
        return not (
            c.cancelled
            or self.active(booking.member, booking.cls)
            or self.clashes(booking.member, booking.cls)
            or (self.marketplace_full if booking.marketplace else self.full)(booking.cls)
        )

    # --- studio credits --------------------------------------------------------------------

    def add_lot(self, member: int, lot_id: str, amount: int, valid_days: int | None) -> None:
        self.seq += 1
        order = (valid_days is None, valid_days or 0, self.seq)
        self.lots[member].append(Lot(lot_id, order, amount, amount, valid_days is not None))

    def debit(self, member: int, amount: int) -> dict[str, int]:
        assert self.balance(member) >= amount
        taken: dict[str, int] = {}
        for lot in sorted(self.lots[member], key=lambda lot: lot.order):
            part = min(lot.remaining, amount)
            if part:
                lot.remaining -= part
                taken[lot.id] = part
                amount -= part
        return taken

    def refund(self, booking: Booked) -> int:
        """Give back what the booking was paid with in credits; how many."""
        refunded = booking.credits_used
        self.universal[booking.member] += booking.universal
        lots = {lot.id: lot for lot in self.lots[booking.member]}
        for lot_id, amount in booking.taken.items():
            if lots[lot_id].expired:  # a refund into a lapsed lot expires again at once
                self.note("refund into an expired lot")
            else:
                lots[lot_id].remaining += amount
        booking.taken, booking.universal = {}, 0
        return refunded

    # --- the waitlist ----------------------------------------------------------------------

    def promote(self, cls: int) -> None:
        """The freed seat goes to the first waitlisted member who may take it and can pay."""
        c = self.classes[cls]
        for candidate in list(self.waitlist[cls]):
            if self.full(cls):
                return
            if self.clashes(candidate.member, cls):
                self.note("promotion skipped a member booked at that time")
                continue
            if c.card_only and PROMOTION_GIVES_CARD_ONLY_SEATS_AWAY:
                self.note("promoted into a card-only class for nothing (known bug)")
            elif c.card_only or self.balance(candidate.member) < c.cost:
                if c.price is None:
                    self.note("promotion skipped a member without credits")
                    continue
                # Offered as a hold to pay for by card; its checkout opens when asked.
                candidate.status = "held"
                self.waitlist[cls].remove(candidate)
                self.note("promoted into a held seat")
                return
            candidate.taken = self.debit(candidate.member, c.cost)
            candidate.status = "confirmed"
            self.waitlist[cls].remove(candidate)
            self.note("promoted from the waitlist")
            return

    def free_seat(self, booking: Booked, status: str) -> None:
        """A seated booking ends (cancelled, or its hold lapsed): the waitlist moves up."""
        booking.status = status
        self.promote(booking.cls)
