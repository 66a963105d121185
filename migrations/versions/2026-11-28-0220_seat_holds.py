"""Seat holds: a class paid for by card keeps its seat (`held`) until the payment
succeeds, or the hold lapses (`expired`).

Revision ID: 0012_seat_holds
Revises: 0011_receipts
Create Date: 2026-11-28 02:20:04.047476+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012_seat_holds"
down_revision: str | None = "0011_receipts"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OLD_STATUSES = "('confirmed', 'waitlisted', 'cancelled', 'completed', 'no_show')"
NEW_STATUSES = "('confirmed', 'waitlisted', 'held', 'cancelled', 'completed', 'no_show', 'expired')"


def _one_active_index(statuses: str) -> None:
    op.drop_index("uq_bookings_one_active_per_member", table_name="bookings")
    op.create_index(
        "uq_bookings_one_active_per_member",
        "bookings",
        ["tenant_id", "class_schedule_id", "user_id"],
        unique=True,
        postgresql_where=sa.text(f"status IN {statuses}"),
    )


def upgrade() -> None:
    op.add_column("bookings", sa.Column("hold_expires_at", sa.DateTime(timezone=True)))
    op.create_index(
        "ix_bookings_hold_expiry",
        "bookings",
        ["hold_expires_at"],
        unique=False,
        postgresql_where=sa.text("status = 'held'"),
    )
    op.drop_constraint(op.f("ck_bookings_status"), "bookings", type_="check")
    op.create_check_constraint(op.f("ck_bookings_status"), "bookings", f"status IN {NEW_STATUSES}")
    op.create_check_constraint(
        op.f("ck_bookings_hold_expiry"),
        "bookings",
        "status <> 'held' OR hold_expires_at IS NOT NULL",
    )
    _one_active_index("('confirmed', 'waitlisted', 'held')")

    op.add_column("payments", sa.Column("booking_id", sa.UUID(), nullable=True))
    op.add_column("payments", sa.Column("checkout_url", sa.Text(), nullable=True))
    op.create_index("ix_payments_booking", "payments", ["booking_id"], unique=False)
    op.create_foreign_key(
        op.f("fk_payments_booking_id_bookings"),
        "payments",
        "bookings",
        ["booking_id"],
        ["id"],
        ondelete="SET NULL",
    )
    op.drop_constraint(op.f("ck_payments_purpose"), "payments", type_="check")
    op.create_check_constraint(
        op.f("ck_payments_purpose"), "payments", "purpose IN ('credit_pack', 'class_booking')"
    )


def downgrade() -> None:
    op.execute("DELETE FROM payments WHERE purpose = 'class_booking'")
    op.drop_constraint(op.f("ck_payments_purpose"), "payments", type_="check")
    op.create_check_constraint(
        op.f("ck_payments_purpose"), "payments", "purpose IN ('credit_pack')"
    )
    op.drop_constraint(op.f("fk_payments_booking_id_bookings"), "payments", type_="foreignkey")
    op.drop_index("ix_payments_booking", table_name="payments")
    op.drop_column("payments", "checkout_url")
    op.drop_column("payments", "booking_id")

    # Holds have no place in the old model: an unpaid hold becomes a cancellation.
    op.execute("UPDATE bookings SET status = 'cancelled' WHERE status IN ('held', 'expired')")
    _one_active_index("('confirmed', 'waitlisted')")
    op.drop_constraint(op.f("ck_bookings_hold_expiry"), "bookings", type_="check")
    op.drop_constraint(op.f("ck_bookings_status"), "bookings", type_="check")
    op.create_check_constraint(op.f("ck_bookings_status"), "bookings", f"status IN {OLD_STATUSES}")
    op.drop_index(
        "ix_bookings_hold_expiry",
        table_name="bookings",
        postgresql_where=sa.text("status = 'held'"),
    )
    op.drop_column("bookings", "hold_expires_at")
