"""Upgrade payments are told apart from period payments (purpose subscription_upgrade).

Revision ID: 0018_subscription_upgrades
Revises: 0017_email_attachments
Create Date: 2026-11-28 03:28:00+00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0018_subscription_upgrades"
down_revision: str | None = "0017_email_attachments"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _purposes(values: str) -> None:
    op.drop_constraint(op.f("ck_payments_purpose"), "payments", type_="check")
    op.create_check_constraint(op.f("ck_payments_purpose"), "payments", f"purpose IN {values}")


def upgrade() -> None:
    _purposes("('credit_pack', 'class_booking', 'subscription', 'subscription_upgrade')")


def downgrade() -> None:
    op.execute(
        "UPDATE payments SET purpose = 'subscription' WHERE purpose = 'subscription_upgrade'"
    )
    _purposes("('credit_pack', 'class_booking', 'subscription')")
