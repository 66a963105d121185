"""Check-in scans uploaded by offline door devices (each nonce applied once).

Revision ID: 0006_checkin_scans
Revises: 0005_credits_and_bookings
Create Date: 2026-11-22 08:54:28.521442+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006_checkin_scans"
down_revision: str | None = "0005_credits_and_bookings"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "checkin_scans",
        sa.Column("tenant_id", sa.UUID(), nullable=False),
        sa.Column("nonce", sa.String(length=100), nullable=False),
        sa.Column("device_id", sa.String(length=100), nullable=False),
        sa.Column("booking_id", sa.UUID(), nullable=True),
        sa.Column("result", sa.String(length=40), nullable=False),
        sa.Column("scanned_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "received_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("scanned_by_user_id", sa.UUID(), nullable=True),
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.ForeignKeyConstraint(
            ["booking_id"],
            ["bookings.id"],
            name=op.f("fk_checkin_scans_booking_id_bookings"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["scanned_by_user_id"],
            ["users.id"],
            name=op.f("fk_checkin_scans_scanned_by_user_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_checkin_scans_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_checkin_scans")),
        sa.UniqueConstraint("tenant_id", "nonce", name=op.f("uq_checkin_scans_tenant_id_nonce")),
    )
    op.create_index("ix_checkin_scans_booking", "checkin_scans", ["booking_id"], unique=False)
    in_tenant = "tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid"
    op.execute("ALTER TABLE checkin_scans ENABLE ROW LEVEL SECURITY")
    op.execute("ALTER TABLE checkin_scans FORCE ROW LEVEL SECURITY")
    op.execute(
        f"CREATE POLICY tenant_isolation ON checkin_scans USING ({in_tenant}) WITH CHECK ({in_tenant})"
    )


def downgrade() -> None:
    op.drop_index("ix_checkin_scans_booking", table_name="checkin_scans")
    op.drop_table("checkin_scans")
