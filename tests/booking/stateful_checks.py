"""The invariants the booking state machine (test_stateful.py) checks after every step,
read as the schema owner (no row-level security): database-wide rules that hold whatever
the steps were, then the database against the model, booking by booking and credit by
credit."""

from __future__ import annotations

from typing import Any

import psycopg

from studioloop.tenants.models import PLATFORM_TENANT_ID
from tests.booking.stateful_model import Model


def check_database(
    db: psycopg.Connection[Any], tenant_id: str, members: list[str], model: Model
) -> None:
    params = {"tenant": tenant_id, "platform": PLATFORM_TENANT_ID, "members": members}

    def rows(sql: str) -> list[tuple[Any, ...]]:
        return list(db.execute(sql, params).fetchall())

    # Seats and waitlists: the counters are the bookings, never beyond capacity; a held
    # seat counts like a confirmed one; a marketplace seat is also one of its share.
    for occ_id, status, capacity, booked, waiting, market, seated, waitlisted, marketed in rows(
        "SELECT s.id, s.status, s.capacity, s.booked_count, s.waitlist_count, "
        "s.marketplace_booked, "
        "count(b.id) FILTER (WHERE b.status IN ('confirmed', 'held')), "
        "count(b.id) FILTER (WHERE b.status = 'waitlisted'), "
        "count(b.id) FILTER (WHERE b.status IN ('confirmed', 'held') "
        "                    AND b.booking_type = 'marketplace') "
        "FROM class_schedules s LEFT JOIN bookings b ON b.class_schedule_id = s.id "
        "WHERE s.tenant_id = %(tenant)s GROUP BY s.id, s.tenant_id"
    ):
        assert booked == seated <= capacity, (occ_id, booked, seated, capacity)
        assert waiting == waitlisted, (occ_id, waiting, waitlisted)
        assert market == marketed, (occ_id, market, marketed)
        if status == "cancelled":
            assert seated == waitlisted == 0, occ_id
    # At most one active booking per member per class: nobody is both booked (or holding
    # a seat) and waitlisted for the same class.
    assert not rows(
        "SELECT class_schedule_id, user_id, array_agg(status) FROM bookings "
        "WHERE tenant_id = %(tenant)s AND status IN ('confirmed', 'waitlisted', 'held') "
        "GROUP BY 1, 2 HAVING count(*) > 1"
    )
    # Confirmed bookings hold a QR code, nothing else does; a held seat has its deadline.
    assert not rows(
        "SELECT id, status FROM bookings WHERE tenant_id = %(tenant)s AND "
        "((status = 'confirmed') <> (qr_code IS NOT NULL) "
        " OR (status = 'held' AND hold_expires_at IS NULL))"
    )

    # Credits, the studio's and the members' universal ones: balance = ledger sum = the
    # lots' remainders, nothing ever negative.
    accounts = (
        "(a.tenant_id = %(tenant)s "
        " OR (a.tenant_id = %(platform)s AND a.user_id::text = ANY(%(members)s)))"
    )
    for account, balance, ledger, lots in rows(
        "SELECT a.id, a.balance, "
        "(SELECT coalesce(sum(amount), 0) FROM credit_transactions t "
        " WHERE t.account_id = a.id), "
        "(SELECT coalesce(sum(remaining), 0) FROM credit_lots l WHERE l.account_id = a.id) "
        f"FROM credit_accounts a WHERE {accounts}"
    ):
        assert balance == ledger == lots, (account, balance, ledger, lots)
    assert not rows(
        "SELECT t.id FROM credit_transactions t JOIN credit_accounts a ON a.id = t.account_id "
        f"WHERE {accounts} AND t.balance_after < 0"
    )
    assert not rows(
        "SELECT l.id FROM credit_lots l JOIN credit_accounts a ON a.id = l.account_id "
        f"WHERE {accounts} AND (l.remaining < 0 OR l.remaining > l.original)"
    )
    # Credits only arrive by an adjustment or as the refund of a cancelled booking.
    assert not rows(
        "SELECT t.id, t.type FROM credit_transactions t "
        "JOIN credit_accounts a ON a.id = t.account_id "
        "LEFT JOIN bookings b ON b.id = t.booking_id "
        f"WHERE {accounts} AND t.amount > 0 AND NOT ("
        " t.type = 'adjustment' OR (t.type = 'refund' AND b.status = 'cancelled'))"
    )
    # What each booking took, net of refunds, is what it says it used (0 unless confirmed).
    for booking_id, status, used, net in rows(
        "SELECT b.id, b.status, b.credits_used, "
        "(SELECT coalesce(sum(amount), 0) FROM credit_transactions t "
        " WHERE t.booking_id = b.id) "
        "FROM bookings b WHERE b.tenant_id = %(tenant)s"
    ):
        assert -net == (used if status == "confirmed" else 0), (booking_id, status, used, net)

    # A held seat always has its open payment, except a seat offered from the waitlist
    # whose member has not opened its checkout yet (no payment at all); nobody paid twice
    # for one booking.
    assert not rows(
        "SELECT b.id FROM bookings b WHERE b.tenant_id = %(tenant)s AND b.status = 'held' "
        "AND NOT EXISTS (SELECT 1 FROM payments p WHERE p.booking_id = b.id "
        "AND p.status = 'pending') "
        "AND (b.promoted_at IS NULL "
        "     OR EXISTS (SELECT 1 FROM payments p WHERE p.booking_id = b.id))"
    )
    assert not rows(
        "SELECT booking_id FROM payments WHERE tenant_id = %(tenant)s "
        "GROUP BY booking_id HAVING count(*) > 1"
    )
    # Nobody holds seats in two classes at the same time.
    assert not rows(
        "SELECT b1.id, b2.id FROM bookings b1 "
        "JOIN class_schedules s1 ON s1.id = b1.class_schedule_id "
        "JOIN bookings b2 ON b2.user_id = b1.user_id AND b2.id > b1.id "
        "JOIN class_schedules s2 ON s2.id = b2.class_schedule_id "
        "WHERE b1.tenant_id = %(tenant)s AND b2.tenant_id = %(tenant)s "
        "AND b1.status IN ('confirmed', 'held') AND b2.status IN ('confirmed', 'held') "
        "AND s1.start_time < s2.end_time AND s2.start_time < s1.end_time"
    )

    # The database agrees with the model, booking by booking and credit by credit.
    found = {
        booking_id: (status, marketplace, used)
        for booking_id, status, marketplace, used in rows(
            "SELECT id::text, status, booking_type = 'marketplace', credits_used "
            "FROM bookings WHERE tenant_id = %(tenant)s"
        )
    }
    expected = {b.id: (b.status, b.marketplace, b.credits_used) for b in model.bookings}
    # credits_used is what a booking paid; the model forgets it once refunded.
    assert {
        k: (status, market, used if status == "confirmed" else None)
        for k, (status, market, used) in found.items()
    } == {
        k: (status, market, used if status == "confirmed" else None)
        for k, (status, market, used) in expected.items()
    }
    remaining = dict(
        rows(
            "SELECT l.id::text, l.remaining FROM credit_lots l "
            "JOIN credit_accounts a ON a.id = l.account_id WHERE a.tenant_id = %(tenant)s"
        )
    )
    assert remaining == {lot.id: lot.remaining for lots in model.lots for lot in lots}
    balances = dict(
        rows(
            "SELECT a.user_id::text, a.balance FROM credit_accounts a "
            "WHERE a.tenant_id = %(tenant)s"
        )
    )
    assert [balances.get(member, 0) for member in members] == [
        model.balance(i) for i in range(len(members))
    ]
    universal = dict(
        rows(
            "SELECT a.user_id::text, a.balance FROM credit_accounts a "
            "WHERE a.tenant_id = %(platform)s AND a.user_id::text = ANY(%(members)s)"
        )
    )
    assert [universal.get(member, 0) for member in members] == model.universal
    waiting_order = rows(
        "SELECT class_schedule_id::text, id::text FROM bookings "
        "WHERE tenant_id = %(tenant)s AND status = 'waitlisted' ORDER BY waitlisted_at"
    )
    by_class = {c.id: i for i, c in enumerate(model.classes)}
    for i, waitlist in enumerate(model.waitlist):
        assert [b for c, b in waiting_order if by_class[c] == i] == [b.id for b in waitlist]
