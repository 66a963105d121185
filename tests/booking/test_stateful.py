"""One state machine drives every way to take a seat against one model.

Hypothesis's `RuleBasedStateMachine` (`BookingMachine` below) opens a fresh studio with
four small classes (two overlapping credit classes, one sold for credits or by card, one by
card only) and five new members with studio and universal credits, then runs random
steps through the real HTTP API: direct bookings (confirmed, waitlisted, or a held seat
with its checkout), marketplace bookings (universal credits, or by card), cancellations,
credit grants, corrections and expiry, the studio cancelling a class, paying for a held
seat (in time, late, after cancelling) through the sandbox provider's signed webhook and
the job that applies it, and holds lapsing (a declined card, or the hold's time running
out and the `expire_seat_holds` job); every freed seat goes to the waitlist. From the
state before each step the model (stateful_model.py) predicts the answer, status code and
error code, and what changes; after each step the database-wide invariants
(stateful_checks.py) hold and the database agrees with the model booking by booking and
credit by credit. The statistics printed at the end (`pytest -s`) show what was covered;
COVERED below must always be.

Each example has its own studio and members, so examples never see each other's seats or
credits (the tables are only truncated after the whole test function).

Hypothesis runs the machine in a worker thread; each step's HTTP calls and job functions
run on the test's event loop (the app's database pool lives there) through
`run_coroutine_threadsafe`, while the thread waits.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections import Counter
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any, TypeVar

import psycopg
from hypothesis import HealthCheck, Phase, event, settings, strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from studioloop.booking.tasks import expire_seat_holds
from studioloop.config import Settings, get_settings
from studioloop.credits import service as credits
from studioloop.db.tenancy import enter_tenant_for_transaction
from studioloop.payments.providers import SandboxProvider
from studioloop.payments.tasks import process_webhook_event
from tests.booking.conftest import BookingStudio
from tests.booking.stateful_checks import check_database
from tests.booking.stateful_model import (
    ACTIVE,
    CARD_ONLY_CLASS,
    HOURS_AHEAD,
    MEMBERS,
    PRICE,
    PRICED_CLASS,
    Booked,
    Class,
    Model,
)
from tests.conftest import Api, Owner

T = TypeVar("T")
VALID_DAYS = (None, 5, 30)
MARKETPLACE = "/api/v1/marketplace/bookings"

member_index = st.integers(0, MEMBERS - 1)
class_index = st.integers(0, len(HOURS_AHEAD) - 1)
pick = st.integers(0, 40)
# (capacity, credits_required, marketplace_seats) per class; class 3 costs no credits.
class_shapes = st.tuples(
    *(
        st.tuples(
            st.integers(1, 2),
            st.just(0) if i == CARD_ONLY_CLASS else st.integers(1, 2),
            st.sampled_from([None, 1]) if i in (1, PRICED_CLASS) else st.none(),
        )
        for i in range(len(HOURS_AHEAD))
    )
)
# Each member's opening studio credits (amount, valid days) and universal credits.
opening_credits = st.lists(
    st.tuples(st.integers(0, 3), st.sampled_from(VALID_DAYS)), min_size=MEMBERS, max_size=MEMBERS
)
opening_universal = st.lists(st.integers(0, 3), min_size=MEMBERS, max_size=MEMBERS)
# One rule for them all, so that seats, not credits, are what most steps are about.
credit_changes = st.one_of(
    st.tuples(st.just("grant"), member_index, st.integers(1, 3), st.sampled_from(VALID_DAYS)),
    st.tuples(st.just("take"), member_index, st.integers(1, 2)),
    st.tuples(st.just("grant_universal"), member_index, st.integers(1, 3)),
    st.tuples(st.just("expire"), pick),
)


@dataclass
class World:
    """What every example shares: the test's event loop, app client and database."""

    loop: asyncio.AbstractEventLoop
    api: Api
    owner: dict[str, Any]  # owns every example's studio
    operator: dict[str, Any]  # the platform operator, who grants universal credits
    db: psycopg.Connection[Any]  # the schema owner's, for the invariants
    database: Any
    settings: Settings
    seen: Counter[str] = field(default_factory=Counter)  # what the steps did, over all examples


def error_code(response: Any) -> str:
    return str(response.json()["error"]["code"])


class BookingMachine(RuleBasedStateMachine):
    world: World  # set on the subclass the test runs

    def __init__(self) -> None:
        super().__init__()
        self.model = Model([], [0] * MEMBERS)
        self.members: list[dict[str, Any]] = []
        self.tenant_id = ""

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self.world.loop).result()

    def note(self, what: str) -> None:
        event(what)
        self.world.seen[what] += 1

    @property
    def client(self) -> Any:
        return self.world.api.client

    # --- the studio, its classes and members ---------------------------------------------

    @initialize(shape=class_shapes, opening=opening_credits, universal=opening_universal)
    def open_studio(
        self,
        shape: tuple[tuple[int, int, int | None], ...],
        opening: list[tuple[int, int | None]],
        universal: list[int],
    ) -> None:
        self.run(self._open_studio(shape))
        for member, (amount, days) in enumerate(opening):
            if amount:
                self.grant(member, amount, days)
        for member, amount in enumerate(universal):
            if amount:
                self.grant_universal(member, amount)
        check_database(self.world.db, self.tenant_id, self.member_ids(), self.model)

    async def _open_studio(self, shape: tuple[tuple[int, int, int | None], ...]) -> None:
        slug = f"stateful-{uuid.uuid4().hex[:12]}"
        studio = self.studio = BookingStudio(self.world.api, slug)
        studio.owner = self.world.owner
        studio.tenant = await self.world.api.create_tenant(studio.owner, slug)
        self.tenant_id = studio.tenant["id"]
        # Classes here have no instructor, location or room (BookingStudio.occurrence).
        studio.instructor, studio.location_id, studio.room_id = {"user": {"id": None}}, None, None
        classes = []
        for i, ((capacity, cost, share), hours) in enumerate(zip(shape, HOURS_AHEAD, strict=True)):
            price = PRICE if i in (PRICED_CLASS, CARD_ONLY_CLASS) else None
            occurrence = await studio.occurrence(
                hours_ahead=hours,
                capacity=capacity,
                credits_required=cost,
                name=f"Class {i}",
                price=price,
                marketplace_seats=share,
            )
            classes.append(Class(occurrence["id"], capacity, cost, price, share))
        self.model = Model(classes, [0] * MEMBERS)
        self.model.note = self.note
        # New members for each example: a member's bookings at every studio count for
        # clashes, and universal credits are not a studio's.
        self.members = await studio.many_members(
            self.world.database, self.world.settings, MEMBERS, credits=0
        )

    def member_ids(self) -> list[str]:
        return [person["user"]["id"] for person in self.members]

    # --- booking ---------------------------------------------------------------------------

    @rule(member=member_index, cls=class_index, wait=st.booleans())
    def book(self, member: int, cls: int, wait: bool) -> None:
        self._book(member, cls, wait)

    def could_wait(self) -> list[tuple[int, int]]:
        """(member, class): a full class the member has no booking of."""
        m = self.model
        return [
            (member, cls)
            for cls, c in enumerate(m.classes)
            if m.full(cls) and not c.cancelled
            for member in range(MEMBERS)
            if m.active(member, cls) is None
        ]

    @precondition(lambda self: self.could_wait())
    @rule(pick=pick)
    def join_waitlist(self, pick: int) -> None:
        """A member asks for a full class, ready to wait."""
        choices = self.could_wait()
        self._book(*choices[pick % len(choices)], True)

    def _book(self, member: int, cls: int, wait: bool) -> None:
        m, c = self.model, self.model.classes[cls]
        response = self.run(self.studio.book(self.members[member], c.id, join_waitlist=wait))
        expected = m.predict_direct(member, cls, wait)
        self.note(f"book: {expected}")
        if expected in ("held", "held again"):
            self._held(response, member, cls, marketplace=False, again=expected == "held again")
            return
        if expected not in ("confirmed", "waitlisted"):
            assert response.status_code in (402, 409), response.text
            assert error_code(response) == expected, response.text
            return
        assert response.status_code == 201, response.text
        body = response.json()
        assert (body["status"], body["booking_type"]) == (expected, "direct"), body
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

    @rule(member=member_index, cls=class_index, card=st.booleans())
    def book_on_marketplace(self, member: int, cls: int, card: bool) -> None:
        m, c = self.model, self.model.classes[cls]
        body = {"class_schedule_id": c.id, **({"pay_with": "card"} if card else {})}
        response = self.run(
            self.client.post(MARKETPLACE, headers=self.members[member]["headers"], json=body)
        )
        expected = m.predict_marketplace(member, cls, card)
        self.note(f"marketplace{' by card' if card else ''}: {expected}")
        if expected == "held":
            self._held(response, member, cls, marketplace=True, again=False)
            return
        if expected == "not free":  # see MARKETPLACE_GIVES_CARD_ONLY_SEATS_AWAY
            assert response.status_code != 201, response.text
            return
        if expected != "confirmed":
            assert response.status_code in (402, 404, 409), response.text
            assert error_code(response) == expected, response.text
            return
        assert response.status_code == 201, response.text
        answer = response.json()
        assert (answer["status"], answer["booking_type"]) == ("confirmed", "marketplace"), answer
        assert answer["credits_used"] == c.cost
        assert answer["qr_code"]
        assert answer["studio"]["id"] == self.tenant_id
        booking = Booked(answer["id"], member, cls, "confirmed", marketplace=True)
        booking.universal = c.cost
        m.universal[member] -= c.cost
        m.bookings.append(booking)

    def _held(
        self, response: Any, member: int, cls: int, *, marketplace: bool, again: bool
    ) -> None:
        """402 PAYMENT_REQUIRED: a seat held (or, asked again, the same one) and its checkout."""
        assert response.status_code == 402, response.text
        assert error_code(response) == "PAYMENT_REQUIRED", response.text
        details = response.json()["error"]["details"]
        assert details["checkout_url"].startswith("http://testserver/sandbox/checkout/")
        if again:
            active = self.model.active(member, cls)
            assert active is not None
            if active.payment_id is None:  # a seat offered from the waitlist: its checkout
                self.note("promoted hold: checkout opened")
                assert details["booking_id"] == active.id
                active.payment_id, active.payable = details["payment_id"], True
                return
            assert (details["booking_id"], details["payment_id"]) == (
                active.id,
                active.payment_id,
            )
            return
        held = Booked(details["booking_id"], member, cls, "held", marketplace=marketplace)
        held.payment_id, held.payable = details["payment_id"], True
        self.model.bookings.append(held)

    # --- cancelling ------------------------------------------------------------------------

    @precondition(lambda self: any(b.status in ACTIVE for b in self.model.bookings))
    @rule(pick=pick, active_only=st.integers(0, 3).map(bool))
    def cancel(self, pick: int, active_only: bool) -> None:
        """The member cancels one of their bookings (or tries again on an ended one)."""
        m = self.model
        choices = [b for b in m.bookings if b.status in ACTIVE or not active_only]
        booking = choices[pick % len(choices)]
        response = self.run(
            self.client.delete(
                f"/api/v1/bookings/{booking.id}", headers=self.members[booking.member]["headers"]
            )
        )
        if booking.status not in ACTIVE:
            assert response.status_code == 409, response.text
            assert error_code(response) == "NOT_CANCELLABLE"
            return
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["status"] == "cancelled"
        assert body["qr_code"] is None
        assert body["late_cancellation"] is False
        self.note(f"cancelled a {booking.status} booking")
        if booking.status == "waitlisted":
            booking.status = "cancelled"
            m.waitlist[booking.cls].remove(booking)
        elif booking.status == "held":  # nothing paid yet; a payment after this is refunded
            assert body["credits_refunded"] is None
            m.free_seat(booking, "cancelled")
        else:
            assert body["credits_refunded"] == m.refund(booking), body
            m.free_seat(booking, "cancelled")

    @precondition(
        # Once per example, and not before there is something to cancel.
        lambda self: (
            len(self.model.bookings) >= 6 and not any(c.cancelled for c in self.model.classes)
        )
    )
    @rule(cls=class_index)
    def cancel_class(self, cls: int) -> None:
        """The studio cancels a class (once per example): every booking ends, refunded."""
        c = self.model.classes[cls]
        response = self.run(
            self.client.post(
                f"{self.studio.base}/schedules/{c.id}/cancel",
                headers=self.studio.owner["headers"],
                json={"reason": "Instructor ill"},
            )
        )
        assert response.status_code == 200, response.text
        c.cancelled = True
        for booking in self.model.bookings:
            if booking.cls == cls and booking.status in ACTIVE:
                self.model.refund(booking)
                booking.status = "cancelled"
        self.model.waitlist[cls] = []

    # --- credits ---------------------------------------------------------------------------

    @rule(change=credit_changes)
    def change_credits(self, change: tuple[Any, ...]) -> None:
        """Studio credits granted, corrected or expiring; universal credits granted."""
        name, *args = change
        getattr(self, name)(*args)

    def grant(self, member: int, amount: int, valid_days: int | None) -> None:
        """Staff add studio credits: a new lot."""
        person = self.members[member]
        known = {lot.id for lots in self.model.lots for lot in lots}
        response = self.run(
            self.client.post(
                f"{self.studio.base}/users/{person['user']['id']}/credits/adjustments",
                headers=self.studio.owner["headers"],
                json={"amount": amount, "reason": "Top-up", "valid_days": valid_days},
            )
        )
        assert response.status_code == 201, response.text
        new = [
            str(row[0])
            for row in self.world.db.execute(
                "SELECT id FROM credit_lots WHERE tenant_id = %s", (self.tenant_id,)
            )
            if str(row[0]) not in known
        ]
        assert len(new) == 1, new
        self.model.add_lot(member, new[0], amount, valid_days)
        assert response.json()["credits_balance"] == self.model.balance(member)

    def take(self, member: int, amount: int) -> None:
        """Staff correct a member's studio credits downwards."""
        person = self.members[member]
        response = self.run(
            self.client.post(
                f"{self.studio.base}/users/{person['user']['id']}/credits/adjustments",
                headers=self.studio.owner["headers"],
                json={"amount": -amount, "reason": "Correction"},
            )
        )
        if self.model.balance(member) < amount:
            assert response.status_code == 402, response.text
            assert error_code(response) == "INSUFFICIENT_CREDITS"
            return
        assert response.status_code == 201, response.text
        self.model.debit(member, amount)
        assert response.json()["credits_balance"] == self.model.balance(member)

    def grant_universal(self, member: int, amount: int) -> None:
        """The platform operator adds universal credits (for the marketplace)."""
        person = self.members[member]
        response = self.run(
            self.client.post(
                f"/api/v1/users/{person['user']['id']}/credits/universal/adjustments",
                headers=self.world.operator["headers"],
                json={"amount": amount, "reason": "Marketplace gift", "valid_days": 60},
            )
        )
        assert response.status_code == 201, response.text
        self.model.universal[member] += amount
        assert response.json()["credits_balance"] == self.model.universal[member]

    def expire(self, pick: int) -> None:
        """An expiring lot reaches its date and the periodic job runs."""
        lots = [lot for lots in self.model.lots for lot in lots if lot.expiring and not lot.expired]
        if not lots:
            return
        lot = lots[pick % len(lots)]
        self.world.db.execute(
            "UPDATE credit_lots SET expires_at = now() - interval '1 minute' WHERE id = %s",
            (lot.id,),
        )
        expired = self.run(self._expire_credits())
        assert expired == lot.remaining
        self.note("expired a lot" if lot.remaining else "expired an empty lot")
        lot.expired, lot.remaining = True, 0

    async def _expire_credits(self) -> int:
        async with self.world.database.sessionmaker() as session:
            await enter_tenant_for_transaction(session, uuid.UUID(self.tenant_id))
            expired: int = await credits.expire_due(session)
            await session.commit()
        return expired

    # --- card payments and seat holds --------------------------------------------------------

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
        for (stored,) in self.world.db.execute(
            "SELECT id FROM webhook_events WHERE processed_at IS NULL"
        ).fetchall():
            outcome = await process_webhook_event(webhook_event_id=str(stored))
            assert outcome.startswith("applied"), outcome

    @precondition(lambda self: any(b.payable for b in self.model.bookings))
    @rule(pick=pick)
    def pay(self, pick: int) -> None:
        """A member completes a card checkout: in time, late, or after cancelling."""
        m = self.model
        choices = [b for b in m.bookings if b.payable]
        booking = choices[pick % len(choices)]
        self.run(self._payment_event(booking.payment_id or "", "payment.succeeded"))
        booking.payable = False
        if booking.status == "held":
            self.note("paid: confirmed")
            booking.status = "confirmed"
        elif booking.status == "expired" and m.late_payment_places(booking):
            self.note("paid late: placed")
            booking.status = "confirmed"
        else:
            self.note(f"paid late: refunded ({booking.status})")

    @precondition(lambda self: any(b.status == "held" for b in self.model.bookings))
    @rule(pick=pick, declined=st.booleans())
    def lapse(self, pick: int, declined: bool) -> None:
        """A held seat is let go: the card is declined, or the hold's time runs out."""
        m = self.model
        choices = [b for b in m.bookings if b.status == "held"]
        booking = choices[pick % len(choices)]
        if declined and booking.payment_id is not None:
            self.run(self._payment_event(booking.payment_id, "payment.failed"))
            booking.payable = False
        else:
            self.world.db.execute(
                "UPDATE bookings SET hold_expires_at = now() - interval '1 second' WHERE id = %s",
                (booking.id,),
            )
            assert self.run(expire_seat_holds(timestamp=0)) == 1
        self.note("hold declined" if declined and booking.payment_id else "hold expired")
        m.free_seat(booking, "expired")

    # --- after every step ------------------------------------------------------------------

    @invariant()
    def database_agrees(self) -> None:
        if self.tenant_id:
            check_database(self.world.db, self.tenant_id, self.member_ids(), self.model)


DEFAULT_EXAMPLES = 8
# What the default budget always gets to (most of it many times over).
COVERED = {
    "book: confirmed",
    "book: waitlisted",
    "book: held",
    "marketplace: confirmed",
    "marketplace by card: held",
    "cancelled a confirmed booking",
    "paid: confirmed",
    "hold expired",
    "hold declined",
    "promoted from the waitlist",
    "promoted into a held seat",
}
MACHINE_SETTINGS = settings(
    max_examples=int(os.environ.get("STATEFUL_EXAMPLES", str(DEFAULT_EXAMPLES))),
    stateful_step_count=int(os.environ.get("STATEFUL_STEPS", "40")),
    deadline=None,
    # The same examples every run (a landing must not depend on luck, and COVERED is
    # checked); STATEFUL_EXPLORE=1 draws new ones. Each example has its own studio and
    # members either way, so examples never meet.
    derandomize=not os.environ.get("STATEFUL_EXPLORE"),
    database=None,
    # Every step is HTTP and SQL, so shrinking a failure takes many minutes: by default a
    # failure is reported as found (at most STATEFUL_STEPS steps, each printed);
    # STATEFUL_SHRINK=1 shrinks it first.
    phases=[Phase.explicit, Phase.reuse, Phase.generate]
    + ([Phase.shrink] if os.environ.get("STATEFUL_SHRINK") else []),
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)


async def test_every_way_to_book_agrees_with_the_model(
    api: Api, owner_db: Owner, database: Any, settings: Settings
) -> None:
    owner = await api.signup(first_name="Owner")
    operator = await api.signup(first_name="Operator")
    owner_db.rows("UPDATE users SET is_platform_owner = true WHERE email = %s", operator["email"])
    with psycopg.connect(owner_db.conninfo, autocommit=True) as db:
        world = World(asyncio.get_running_loop(), api, owner, operator, db, database, settings)
        machine = type("Machine", (BookingMachine,), {"world": world})
        await asyncio.to_thread(run_state_machine_as_test, machine, settings=MACHINE_SETTINGS)
    print("\n".join(f"{count:5} {what}" for what, count in sorted(world.seen.items())))
    if MACHINE_SETTINGS.derandomize and MACHINE_SETTINGS.max_examples >= DEFAULT_EXAMPLES:
        # The model must not drift into a corner: every way to take a seat was taken.
        assert not COVERED - set(world.seen), sorted(COVERED - set(world.seen))
