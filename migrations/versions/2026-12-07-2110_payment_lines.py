"""`payment_lines`: what a payment and its receipt are made of, when more than one thing.

A renewal with usage past a tier's soft caps is the membership's price plus a line per
metered overage; `payments.lines` and `receipts.lines` keep them ([{description,
quantity, unit_amount, amount}], minor units), empty for a payment of one thing.

Revision ID: 0035_payment_lines
Revises: 0034_usage_metering
Create Date: 2026-12-07 21:10:00+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0035_payment_lines"
down_revision: str | None = "0034_usage_metering"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    for table in ("payments", "receipts"):
        op.add_column(
            table,
            sa.Column(
                "lines",
                postgresql.JSONB(astext_type=sa.Text()),
                server_default=sa.text("'[]'::jsonb"),
                nullable=False,
            ),
        )


def downgrade() -> None:
    for table in ("receipts", "payments"):
        op.drop_column(table, "lines")
