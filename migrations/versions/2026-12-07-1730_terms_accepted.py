"""`terms_accepted`: when a person accepted the terms and the privacy notice at sign-up.

Revision ID: 0029_terms_accepted
Revises: 0028_booking_core
Create Date: 2026-12-07 17:30:00+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0029_terms_accepted"
down_revision: str | None = "0028_booking_core"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("users", sa.Column("terms_accepted_at", sa.DateTime(timezone=True)))


def downgrade() -> None:
    op.drop_column("users", "terms_accepted_at")
