"""Random sequences of bookings, cancellations and credit changes keep the books straight.

Hypothesis draws a few small classes and a list of steps: members book (or join the
waitlist), cancel, get credits (some expiring), lose credits to an adjustment or to expiry,
and the studio cancels a class. Class 2 is also sold by card: a member without the credits
for it gets a held seat, which their payment confirms (even late, if a seat is still free)
or which lapses (declined, or the hold expires). Every step goes through the real HTTP API
(expiry and payments through the jobs' own functions), is checked against a plain-Python
model of the engine, and is followed by the database-wide invariants, read as the schema
owner.

Each example gets a fresh studio (a unique slug) with the same owner and five members, since
the tables are only truncated after the whole test function.
"""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass, field
from typing import Any

import psycopg
import pytest
from hypothesis import HealthCheck, event, example, given, settings, strategies as st

from studioloop.booking.tasks import expire_seat_holds
from studioloop.config import get_settings
from studioloop.credits import service as credits
from studioloop.db.tenancy import enter_tenant_for_transaction
from studioloop.payments.providers import SandboxProvider
from studioloop.payments.tasks import process_webhook_event
from tests.booking.conftest import BookingStudio
from tests.conftest import Api, Owner

MEMBERS = 5
# Two or three days ahead: inside the 7-day booking window, outside the 24 h cancellation
# window and the 60-minute waitlist cut-off, so no step depends on the clock.
# Classes 0 and 1 overlap (60 minutes each, 30 minutes apart); class 2 stands alone.
HOURS_AHEAD = (48.0, 48.5, 52.0)
OVERLAPPING = {(0, 1), (1, 0)}
# KNOWN BUG (see test_waitlist_promotion_respects_schedule_conflicts below): promotion from
# the waitlist does not check the member's other bookings, so it can confirm a member into a
# class that clashes with one they already hold. The model mirrors the engine as it is; once
# the engine skips such candidates (as booking refuses them), set this to True.
PROMOTION_SKIPS_CLASHES = True
VALID_DAYS = (None, 5, 30)
PRICED_CLASS, PRICE = 2, 1000
SEATED = ("confirmed", "held")  # the bookings that take a seat
ACTIVE = ("confirmed", "waitlisted", "held")

member_index = st.integers(0, MEMBERS - 1)
class_index = st.integers(0, len(HOURS_AHEAD) - 1)
# What each step needs, and how often it comes up: mostly bookings and cancellations.
# `often` is a boolean that is True three times in four.
often = st.integers(0, 3).map(bool)
STEPS: dict[str, tuple[int, st.SearchStrategy[tuple[Any, ...]]]] = {
    "book": (16, st.tuples(member_index, class_index, often)),  # join the waitlist if full?
    "cancel": (8, st.tuples(st.integers(0, 40), often)),  # an active booking, or any
    "grant": (4, st.tuples(member_index, st.integers(1, 3), st.sampled_from(VALID_DAYS))),
    "take": (2, st.tuples(member_index, st.integers(1, 2))),
    "expire": (3, st.tuples(st.integers(0, 20))),
    "cancel_class": (1, st.tuples(class_index)),
    "pay": (3, st.tuples(st.integers(0, 40))),  # a held (or lapsed) seat's payment succeeds
    "lapse": (2, st.tuples(st.integers(0, 40), st.booleans())),  # declined, or expired
}
weighted = [name for name, (weight, _) in STEPS.items() for _ in range(weight)]
step = st.sampled_from(weighted).flatmap(lambda name: STEPS[name][1].map(lambda a: (name, *a)))
# Credits each member starts with, and when they expire.
opening = st.lists(
    st.tuples(st.integers(1, 4), st.sampled_from(VALID_DAYS)), min_size=MEMBERS, max_size=MEMBERS
)
# (capacity, credits_required) per class
classes = st.lists(
    st.tuples(st.integers(1, 3), st.integers(1, 2)),
    min_size=len(HOURS_AHEAD),
    max_size=len(HOURS_AHEAD),
)


# --- the model ---------------------------------------------------------------------------


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
    taken: dict[str, int] = field(default_factory=dict)  # lot id -> credits not refunded
    promoted_into_clash: bool = False
    payment_id: str | None = None  # a seat held for a card payment
    payable: bool = False  # its checkout still takes the money

    @property
    def credits_used(self) -> int:
        return sum(self.taken.values())


@dataclass
class Class:
    id: str
    capacity: int
    cost: int
    cancelled: bool = False
    priced: bool = False


class Model:
    def __init__(self, classes: list[Class]) -> None:
        self.classes = classes
        self.lots: list[list[Lot]] = [[] for _ in range(MEMBERS)]
        self.bookings: list[Booked] = []  # in the order they were made
        self.waitlist: list[list[Booked]] = [[] for _ in classes]  # in waitlist order
        self.seq = 0

    def balance(self, member: int) -> int:
        return sum(lot.remaining for lot in self.lots[member])

    def seated(self, cls: int) -> int:
        return sum(1 for b in self.bookings if b.cls == cls and b.status in SEATED)

    def active(self, member: int, cls: int) -> Booked | None:
        return next(
            (b for b in self.bookings if (b.member, b.cls) == (member, cls) and b.status in ACTIVE),
            None,
        )

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

    def refund(self, booking: Booked) -> None:
        lots = {lot.id: lot for lot in self.lots[booking.member]}
        for lot_id, amount in booking.taken.items():
            if lots[lot_id].expired:  # a refund into a lapsed lot expires again at once
                event("refund into an expired lot")
            else:
                lots[lot_id].remaining += amount
        booking.taken = {}

    def clashes(self, member: int, cls: int) -> bool:
        return any(
            b.member == member and b.status in SEATED and (b.cls, cls) in OVERLAPPING
            for b in self.bookings
        )

    def promote(self, cls: int) -> None:
        """The freed seat goes to the first waitlisted member who can pay."""
        cost = self.classes[cls].cost
        for candidate in list(self.waitlist[cls]):
            if PROMOTION_SKIPS_CLASHES and self.clashes(candidate.member, cls):
                continue
            if self.balance(candidate.member) < cost:
                event("promotion skipped a member without credits")
                continue
            if self.clashes(candidate.member, cls):
                event("promotion into a clashing class (known bug)")
                candidate.promoted_into_clash = True
            candidate.taken = self.debit(candidate.member, cost)
            candidate.status = "confirmed"
            self.waitlist[cls].remove(candidate)
            event("promoted from the waitlist")
            return


# --- the steps ---------------------------------------------------------------------------


class Run:
    def __init__(
        self,
        studio: BookingStudio,
        members: list[dict[str, Any]],
        model: Model,
        db: psycopg.Connection[Any],
        database: Any,
    ) -> None:
        self.studio = studio
        self.client = studio.client
        self.members = members
        self.model = model
        self.db = db
        self.database = database
        self.tenant_id = studio.tenant["id"]
        self.log: list[str] = []

    def error_code(self, response: Any) -> str:
        return str(response.json()["error"]["code"])

    async def book(self, member: int, cls: int, wait: bool) -> None:
        m, c = self.model, self.model.classes[cls]
        response = await self.studio.book(self.members[member], c.id, join_waitlist=wait)
        body = response.json()
        active = m.active(member, cls)
        if c.cancelled:
            expected = "CLASS_CANCELLED"
        elif active is not None and active.status == "held":
            expected = "held again"
        elif active is not None:
            expected = "ALREADY_BOOKED"
        elif m.clashes(member, cls):
            expected = "SCHEDULE_CONFLICT"
        elif m.seated(cls) >= c.capacity:
            expected = "waitlisted" if wait else "CLASS_FULL"
        elif m.balance(member) < c.cost:
            expected = "held" if c.priced else "INSUFFICIENT_CREDITS"
        else:
            expected = "confirmed"
        event(f"book: {expected}")
        if expected in ("held", "held again"):
            assert response.status_code == 402, response.text
            assert self.error_code(response) == "PAYMENT_REQUIRED"
            details = body["error"]["details"]
            if active is not None:  # asking again: the same hold and checkout
                assert (details["booking_id"], details["payment_id"]) == (
                    active.id,
                    active.payment_id,
                )
                return
            held = Booked(details["booking_id"], member, cls, "held")
            held.payment_id, held.payable = details["payment_id"], True
            m.bookings.append(held)
            return
        if expected not in ("confirmed", "waitlisted"):
            assert response.status_code in (402, 409), response.text
            assert self.error_code(response) == expected, response.text
            return
        assert response.status_code == 201, response.text
        assert body["status"] == expected, (expected, body)
        booking = Booked(body["id"], member, cls, expected)
        m.bookings.append(booking)
        if expected == "confirmed":
            booking.taken = m.debit(member, c.cost)
            assert body["credits_used"] == c.cost
            assert body["qr_code"]
            assert body["waitlist_position"] is None
        else:
            m.waitlist[cls].append(booking)
            assert body["credits_used"] == 0
            assert body["qr_code"] is None
            assert body["waitlist_position"] == len(m.waitlist[cls])

    async def cancel(self, pick: int, active_only: bool) -> None:
        """The member cancels one of their bookings (or tries again on a cancelled one)."""
        m = self.model
        choices = [b for b in m.bookings if b.status != "cancelled" or not active_only]
        if not choices:
            return
        booking = choices[pick % len(choices)]
        self.log[-1] += f" -> booking of member {booking.member} in class {booking.cls}"
        response = await self.client.delete(
            f"/api/v1/bookings/{booking.id}", headers=self.members[booking.member]["headers"]
        )
        if booking.status not in ACTIVE:
            assert response.status_code == 409, response.text
            assert self.error_code(response) == "NOT_CANCELLABLE"
            return
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["status"] == "cancelled"
        assert body["qr_code"] is None
        assert body["late_cancellation"] is False
        was = booking.status
        booking.status = "cancelled"
        if was == "waitlisted":
            m.waitlist[booking.cls].remove(booking)
            return
        if was == "held":  # nothing was paid yet; a payment after this is refunded
            assert body["credits_refunded"] is None
            m.promote(booking.cls)
            return
        assert body["credits_refunded"] == booking.credits_used
        m.refund(booking)
        m.promote(booking.cls)

    async def grant(self, member: int, amount: int, valid_days: int | None) -> None:
        person = self.members[member]
        known = {lot.id for lots in self.model.lots for lot in lots}
        response = await self.client.post(
            f"{self.studio.base}/users/{person['user']['id']}/credits/adjustments",
            headers=self.studio.owner["headers"],
            json={"amount": amount, "reason": "Top-up", "valid_days": valid_days},
        )
        assert response.status_code == 201, response.text
        new = [
            str(row[0])
            for row in self.db.execute(
                "SELECT id FROM credit_lots WHERE tenant_id = %s", (self.tenant_id,)
            )
            if str(row[0]) not in known
        ]
        assert len(new) == 1, new
        self.model.add_lot(member, new[0], amount, valid_days)
        assert response.json()["credits_balance"] == self.model.balance(member)

    async def take(self, member: int, amount: int) -> None:
        """A negative adjustment by staff."""
        person = self.members[member]
        response = await self.client.post(
            f"{self.studio.base}/users/{person['user']['id']}/credits/adjustments",
            headers=self.studio.owner["headers"],
            json={"amount": -amount, "reason": "Correction"},
        )
        if self.model.balance(member) < amount:
            assert response.status_code == 402, response.text
            assert self.error_code(response) == "INSUFFICIENT_CREDITS"
            return
        assert response.status_code == 201, response.text
        self.model.debit(member, amount)
        assert response.json()["credits_balance"] == self.model.balance(member)

    async def expire(self, pick: int) -> None:
        """An expiring lot reaches its date and the periodic job runs."""
        lots = [lot for lots in self.model.lots for lot in lots if lot.expiring and not lot.expired]
        if not lots:
            return
        lot = lots[pick % len(lots)]
        self.db.execute(
            "UPDATE credit_lots SET expires_at = now() - interval '1 minute' WHERE id = %s",
            (lot.id,),
        )
        async with self.database.sessionmaker() as session:
            await enter_tenant_for_transaction(session, uuid.UUID(self.tenant_id))
            expired = await credits.expire_due(session)
            await session.commit()
        assert expired == lot.remaining
        event("expired a lot" if lot.remaining else "expired an empty lot")
        lot.expired, lot.remaining = True, 0

    async def cancel_class(self, cls: int) -> None:
        c = self.model.classes[cls]
        response = await self.client.post(
            f"{self.studio.base}/schedules/{c.id}/cancel",
            headers=self.studio.owner["headers"],
            json={"reason": "Instructor ill"},
        )
        if c.cancelled:
            assert response.status_code == 409, response.text
            assert self.error_code(response) == "ALREADY_CANCELLED"
            return
        assert response.status_code == 200, response.text
        c.cancelled = True
        event("studio cancelled a class")
        for booking in self.model.bookings:
            if booking.cls == cls and booking.status in ACTIVE:
                self.model.refund(booking)
                booking.status = "cancelled"
        self.model.waitlist[cls] = []

    async def _payment_event(self, payment_id: str, event_type: str) -> None:
        """The sandbox provider's signed webhook, then the job that applies it."""
        sandbox = SandboxProvider(get_settings())
        payment = uuid.UUID(payment_id)
        body = sandbox.event_body(
            event_type,
            reference=f"sbx_{payment.hex}",
            tenant_id=uuid.UUID(self.tenant_id),
            payment_id=payment,
        )
        response = await self.client.post(
            "/api/v1/webhooks/sandbox",
            content=body,
            headers={sandbox.SIGNATURE_HEADER: sandbox.sign(body)},
        )
        assert response.status_code == 200, response.text
        for (stored,) in self.db.execute(
            "SELECT id FROM webhook_events WHERE processed_at IS NULL"
        ).fetchall():
            outcome = await process_webhook_event(webhook_event_id=str(stored))
            assert outcome.startswith("applied"), outcome

    async def pay(self, pick: int) -> None:
        """A member completes a card checkout: in time, late, or after cancelling."""
        m = self.model
        choices = [b for b in m.bookings if b.payable]
        if not choices:
            return
        booking = choices[pick % len(choices)]
        self.log[-1] += f" -> {booking.status} booking of member {booking.member}"
        await self._payment_event(booking.payment_id or "", "payment.succeeded")
        booking.payable = False
        c = m.classes[booking.cls]
        if booking.status == "held":
            event("paid: confirmed")
            booking.status = "confirmed"
        elif booking.status == "expired" and not (
            c.cancelled
            or m.active(booking.member, booking.cls)
            or m.clashes(booking.member, booking.cls)
            or m.seated(booking.cls) >= c.capacity
        ):
            event("paid late: placed")
            booking.status = "confirmed"
        else:
            event(f"paid late: refunded ({booking.status})")

    async def lapse(self, pick: int, declined: bool) -> None:
        """A held seat is let go: the card is declined, or the hold's time runs out."""
        m = self.model
        choices = [b for b in m.bookings if b.status == "held"]
        if not choices:
            return
        booking = choices[pick % len(choices)]
        if declined:
            await self._payment_event(booking.payment_id or "", "payment.failed")
            booking.payable = False
        else:
            self.db.execute(
                "UPDATE bookings SET hold_expires_at = now() - interval '1 second' WHERE id = %s",
                (booking.id,),
            )
            assert await expire_seat_holds(timestamp=0) == 1
        event("hold declined" if declined else "hold expired")
        booking.status = "expired"
        m.promote(booking.cls)

    # --- invariants ------------------------------------------------------------------------

    def rows(self, sql: str) -> list[tuple[Any, ...]]:
        return list(self.db.execute(sql, {"tenant": self.tenant_id}).fetchall())

    def check(self) -> None:
        m = self.model
        # Seats and waitlists: the counters are the bookings, never beyond capacity.
        for occ_id, status, capacity, booked, waiting, confirmed, waitlisted in self.rows(
            "SELECT s.id, s.status, s.capacity, s.booked_count, s.waitlist_count, "
            # A seat held for a card payment counts like a confirmed one.
            "count(*) FILTER (WHERE b.status IN ('confirmed', 'held')), "
            "count(*) FILTER (WHERE b.status = 'waitlisted') "
            "FROM class_schedules s LEFT JOIN bookings b ON b.class_schedule_id = s.id "
            "WHERE s.tenant_id = %(tenant)s GROUP BY s.id, s.tenant_id"
        ):
            assert booked == confirmed <= capacity, (occ_id, booked, confirmed, capacity)
            assert waiting == waitlisted, (occ_id, waiting, waitlisted)
            if status == "cancelled":
                assert confirmed == waitlisted == 0, occ_id
        # At most one active booking per member per class.
        assert not self.rows(
            "SELECT class_schedule_id, user_id FROM bookings "
            "WHERE tenant_id = %(tenant)s AND status IN ('confirmed', 'waitlisted', 'held') "
            "GROUP BY 1, 2 HAVING count(*) > 1"
        )
        # Confirmed bookings hold a QR code; waitlisted and cancelled ones do not.
        assert not self.rows(
            "SELECT id, status FROM bookings WHERE tenant_id = %(tenant)s AND "
            "(status = 'confirmed') <> (qr_code IS NOT NULL)"
        )
        # Credits: balance = ledger sum = lots' remainders, nothing ever negative.
        for account, balance, ledger, lots in self.rows(
            "SELECT a.id, a.balance, "
            "(SELECT coalesce(sum(amount), 0) FROM credit_transactions t "
            " WHERE t.account_id = a.id), "
            "(SELECT coalesce(sum(remaining), 0) FROM credit_lots l WHERE l.account_id = a.id) "
            "FROM credit_accounts a WHERE a.tenant_id = %(tenant)s"
        ):
            assert balance == ledger == lots, (account, balance, ledger, lots)
        assert not self.rows(
            "SELECT id FROM credit_transactions WHERE tenant_id = %(tenant)s AND balance_after < 0"
        )
        assert not self.rows(
            "SELECT id FROM credit_lots WHERE tenant_id = %(tenant)s "
            "AND (remaining < 0 OR remaining > original)"
        )
        # Credits only arrive by an adjustment or a refund of a cancelled booking.
        assert not self.rows(
            "SELECT t.id, t.type FROM credit_transactions t "
            "LEFT JOIN bookings b ON b.id = t.booking_id "
            "WHERE t.tenant_id = %(tenant)s AND t.amount > 0 AND NOT ("
            " t.type = 'adjustment' OR (t.type = 'refund' AND b.status = 'cancelled'))"
        )
        # What each booking took, net of refunds, is what it says it used (0 once cancelled).
        for booking_id, status, used, net in self.rows(
            "SELECT b.id, b.status, b.credits_used, "
            "(SELECT coalesce(sum(amount), 0) FROM credit_transactions t "
            " WHERE t.booking_id = b.id) "
            "FROM bookings b WHERE b.tenant_id = %(tenant)s"
        ):
            assert -net == (used if status == "confirmed" else 0), (booking_id, status, used, net)

        # A held seat always has its open payment; nobody paid twice for one booking.
        assert not self.rows(
            "SELECT b.id FROM bookings b WHERE b.tenant_id = %(tenant)s AND b.status = 'held' "
            "AND NOT EXISTS (SELECT 1 FROM payments p WHERE p.booking_id = b.id "
            "AND p.status = 'pending')"
        )
        assert not self.rows(
            "SELECT booking_id FROM payments WHERE tenant_id = %(tenant)s "
            "GROUP BY booking_id HAVING count(*) > 1"
        )

        # The database agrees with the model, booking by booking and lot by lot.
        statuses = dict(
            self.rows("SELECT id::text, status FROM bookings WHERE tenant_id = %(tenant)s")
        )
        assert statuses == {b.id: b.status for b in m.bookings}
        used = dict(
            self.rows(
                "SELECT id::text, credits_used FROM bookings "
                "WHERE tenant_id = %(tenant)s AND status = 'confirmed'"
            )
        )
        assert used == {b.id: b.credits_used for b in m.bookings if b.status == "confirmed"}
        remaining = dict(
            self.rows("SELECT id::text, remaining FROM credit_lots WHERE tenant_id = %(tenant)s")
        )
        assert remaining == {lot.id: lot.remaining for lots in m.lots for lot in lots}
        waiting_order = self.rows(
            "SELECT class_schedule_id::text, id::text FROM bookings "
            "WHERE tenant_id = %(tenant)s AND status = 'waitlisted' ORDER BY waitlisted_at"
        )
        by_class = {c.id: i for i, c in enumerate(m.classes)}
        for i, waitlist in enumerate(m.waitlist):
            assert [b for c, b in waiting_order if by_class[c] == i] == [b.id for b in waitlist]

        # Nobody holds confirmed places in two classes at the same time, except where the
        # model predicts the known promotion bug (PROMOTION_SKIPS_CLASHES).
        predicted = {b.id for b in m.bookings if b.status == "confirmed" and b.promoted_into_clash}
        for first, second in self.rows(
            "SELECT b1.id::text, b2.id::text FROM bookings b1 "
            "JOIN class_schedules s1 ON s1.id = b1.class_schedule_id "
            "JOIN bookings b2 ON b2.user_id = b1.user_id AND b2.id > b1.id "
            "JOIN class_schedules s2 ON s2.id = b2.class_schedule_id "
            "WHERE b1.tenant_id = %(tenant)s AND b2.tenant_id = %(tenant)s "
            "AND b1.status IN ('confirmed', 'held') AND b2.status IN ('confirmed', 'held') "
            "AND s1.start_time < s2.end_time AND s2.start_time < s1.end_time"
        ):
            assert {first, second} & predicted, ("double-booked", first, second)


# --- the test ----------------------------------------------------------------------------


@pytest.fixture
def people() -> dict[str, Any]:
    """Users made once per test function and shared by its examples (each a new studio)."""
    return {}


async def _fresh_studio(
    api: Api, people: dict[str, Any], shape: list[tuple[int, int]]
) -> tuple[BookingStudio, list[dict[str, Any]], list[Class]]:
    if not people:
        people["owner"] = await api.signup(first_name="Owner")
        people["members"] = [await api.signup(first_name="Member") for _ in range(MEMBERS)]
    slug = f"stateful-{uuid.uuid4().hex[:12]}"
    studio = BookingStudio(api, slug)
    studio.owner = people["owner"]
    studio.tenant = await api.create_tenant(studio.owner, slug)
    # Classes here have no instructor, location or room (BookingStudio.occurrence sets None).
    studio.instructor, studio.location_id, studio.room_id = {"user": {"id": None}}, None, None
    for person in people["members"]:
        await api.join(person, slug)
    made = []
    for i, ((capacity, cost), hours) in enumerate(zip(shape, HOURS_AHEAD, strict=True)):
        occurrence = await studio.occurrence(
            hours_ahead=hours,
            capacity=capacity,
            credits_required=cost,
            name=f"Class {i}",
            price=PRICE if i == PRICED_CLASS else None,
        )
        made.append(Class(occurrence["id"], capacity, cost, priced=i == PRICED_CLASS))
    return studio, people["members"], made


@settings(
    max_examples=int(os.environ.get("STATEFUL_EXAMPLES", "15")),
    deadline=None,
    # CI replays the same examples (a landing must not depend on luck); locally each run
    # explores new ones.
    derandomize=bool(os.environ.get("CI")),
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(shape=classes, opening=opening, steps=st.lists(step, min_size=10, max_size=25))
# Always replayed: member 1 waits for class 0, books the clashing class 1, and must not be
# promoted into class 0 when it frees up (a bug this test found).
@example(
    shape=[(1, 1)] * 3,
    opening=[(2, None)] * MEMBERS,
    steps=[("book", 0, 0, False), ("book", 1, 0, True), ("book", 1, 1, False), ("cancel", 0, True)],
)
async def test_random_sequences_keep_bookings_and_credits_consistent(
    api: Api,
    owner_db: Owner,
    database: Any,
    people: dict[str, Any],
    shape: list[tuple[int, int]],
    opening: list[tuple[int, int | None]],
    steps: list[tuple[Any, ...]],
) -> None:
    studio, members, made = await _fresh_studio(api, people, shape)
    grants = [("grant", i, amount, days) for i, (amount, days) in enumerate(opening)]
    with psycopg.connect(owner_db.conninfo, autocommit=True) as db:
        run = Run(studio, members, Model(made), db, database)
        run.check()
        for number, (name, *args) in enumerate(grants + steps):
            run.log.append(f"{number}: {name}{tuple(args)}")
            try:
                await getattr(run, name)(*args)
                run.check()
            except AssertionError as error:
                raise AssertionError(
                    f"after steps {' | '.join(run.log)} with classes {shape}: {error}"
                ) from error


async def test_waitlist_promotion_respects_schedule_conflicts(
    studio: BookingStudio, client: Any
) -> None:
    """The minimal sequence: booking refuses a clash (SCHEDULE_CONFLICT), promotion does not."""
    wanted = await studio.occurrence(hours_ahead=48, capacity=1, name="Class 0")
    clashing = await studio.occurrence(hours_ahead=48.5, capacity=1, name="Class 1")
    holder, waiter = [await studio.new_member(credits=2) for _ in range(2)]
    seat = (await studio.book(holder, wanted["id"])).json()
    waiting = (await studio.book(waiter, wanted["id"], join_waitlist=True)).json()
    assert waiting["status"] == "waitlisted"
    assert (await studio.book(waiter, clashing["id"])).json()["status"] == "confirmed"
    freed = await client.delete(f"/api/v1/bookings/{seat['id']}", headers=holder["headers"])
    assert freed.status_code == 200, freed.text
    after = await client.get(f"/api/v1/bookings/{waiting['id']}", headers=waiter["headers"])
    # Promotion follows the booking rule: a member confirmed in a clashing class is skipped
    # (and not charged), rather than booked into two classes at once.
    assert after.json()["status"] != "confirmed", after.json()


async def test_a_clash_is_reported_before_a_full_class(studio: BookingStudio) -> None:
    """Found by the state machine: a member booked at that time who tries a full, clashing
    class hears SCHEDULE_CONFLICT (joining its waitlist would not help them either)."""
    mine = await studio.occurrence(hours_ahead=48, capacity=1, name="Class 0")
    full = await studio.occurrence(hours_ahead=48.5, capacity=1, name="Class 1")
    member, other = [await studio.new_member(credits=2) for _ in range(2)]
    assert (await studio.book(member, mine["id"])).json()["status"] == "confirmed"
    assert (await studio.book(other, full["id"])).json()["status"] == "confirmed"
    answer = await studio.book(member, full["id"])
    assert answer.status_code == 409
    assert answer.json()["error"]["code"] == "SCHEDULE_CONFLICT"
