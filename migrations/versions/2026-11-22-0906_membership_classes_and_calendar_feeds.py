"""Classes that require a membership; the version in members' secret calendar-feed URLs.

Revision ID: 0007_membership_classes_feeds
Revises: 0006_checkin_scans
Create Date: 2026-11-22 09:06:34.352130+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007_membership_classes_feeds"
down_revision: str | None = "0006_checkin_scans"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "classes",
        sa.Column(
            "requires_membership", sa.Boolean(), server_default=sa.text("false"), nullable=False
        ),
    )
    op.add_column(
        "users",
        sa.Column(
            "calendar_feed_version", sa.Integer(), server_default=sa.text("0"), nullable=False
        ),
    )


def downgrade() -> None:
    op.drop_column("users", "calendar_feed_version")
    op.drop_column("classes", "requires_membership")
