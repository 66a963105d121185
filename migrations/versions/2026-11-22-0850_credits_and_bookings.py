"""Credits (accounts, lots, append-only ledger, packages), bookings, idempotency keys.

Revision ID: 0005_credits_and_bookings
Revises: 0004_scheduling
Create Date: 2026-11-22 08:45:43.694351+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from studioloop.config import get_settings

revision: str = "0005_credits_and_bookings"
down_revision: str | None = "0004_scheduling"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "idempotency_keys",
        sa.Column("user_id", sa.UUID(), nullable=False),
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("endpoint", sa.String(length=255), nullable=False),
        sa.Column("request_hash", sa.String(length=64), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("response", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("user_id", "key", name=op.f("pk_idempotency_keys")),
    )
    op.create_table(
        "credit_accounts",
        sa.Column("tenant_id", sa.UUID(), nullable=False),
        sa.Column("user_id", sa.UUID(), nullable=False),
        sa.Column("balance", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("total_purchased", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint("balance >= 0", name=op.f("ck_credit_accounts_balance_not_negative")),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_credit_accounts_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_credit_accounts_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_credit_accounts")),
        sa.UniqueConstraint(
            "tenant_id", "user_id", name=op.f("uq_credit_accounts_tenant_id_user_id")
        ),
    )
    op.create_index(
        op.f("ix_credit_accounts_user_id"), "credit_accounts", ["user_id"], unique=False
    )
    op.create_table(
        "credit_packages",
        sa.Column("tenant_id", sa.UUID(), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("credits", sa.Integer(), nullable=False),
        sa.Column("price", sa.Integer(), nullable=False),
        sa.Column("validity_days", sa.Integer(), nullable=True),
        sa.Column("is_active", sa.Boolean(), server_default=sa.text("true"), nullable=False),
        sa.Column("sort_order", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint("credits > 0", name=op.f("ck_credit_packages_credits_positive")),
        sa.CheckConstraint("price >= 0", name=op.f("ck_credit_packages_price")),
        sa.CheckConstraint(
            "validity_days IS NULL OR validity_days > 0",
            name=op.f("ck_credit_packages_validity_days"),
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_credit_packages_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_credit_packages")),
        sa.UniqueConstraint("tenant_id", "name", name=op.f("uq_credit_packages_tenant_id_name")),
    )
    op.create_table(
        "credit_lots",
        sa.Column("tenant_id", sa.UUID(), nullable=False),
        sa.Column("account_id", sa.UUID(), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("original", sa.Integer(), nullable=False),
        sa.Column("remaining", sa.Integer(), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("package_id", sa.UUID(), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.CheckConstraint(
            "source IN ('purchase', 'adjustment', 'grant', 'transfer')",
            name=op.f("ck_credit_lots_source"),
        ),
        sa.CheckConstraint("original > 0", name=op.f("ck_credit_lots_original_positive")),
        sa.CheckConstraint(
            "remaining >= 0 AND remaining <= original", name=op.f("ck_credit_lots_remaining")
        ),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["credit_accounts.id"],
            name=op.f("fk_credit_lots_account_id_credit_accounts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["package_id"],
            ["credit_packages.id"],
            name=op.f("fk_credit_lots_package_id_credit_packages"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_credit_lots_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_credit_lots")),
    )
    op.create_index(
        "ix_credit_lots_account_open",
        "credit_lots",
        ["account_id", "expires_at"],
        unique=False,
        postgresql_where=sa.text("remaining > 0"),
    )
    op.create_table(
        "credit_transactions",
        sa.Column("tenant_id", sa.UUID(), nullable=False),
        sa.Column("account_id", sa.UUID(), nullable=False),
        sa.Column("user_id", sa.UUID(), nullable=False),
        sa.Column("type", sa.String(length=16), nullable=False),
        sa.Column("amount", sa.Integer(), nullable=False),
        sa.Column("balance_after", sa.Integer(), nullable=False),
        sa.Column("lot_id", sa.UUID(), nullable=True),
        sa.Column("booking_id", sa.UUID(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("actor_user_id", sa.UUID(), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.CheckConstraint(
            "type IN ('purchase', 'usage', 'refund', 'transfer', 'expiry', 'adjustment')",
            name=op.f("ck_credit_transactions_type"),
        ),
        sa.CheckConstraint("amount <> 0", name=op.f("ck_credit_transactions_amount_not_zero")),
        sa.CheckConstraint("balance_after >= 0", name=op.f("ck_credit_transactions_balance_after")),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["credit_accounts.id"],
            name=op.f("fk_credit_transactions_account_id_credit_accounts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["actor_user_id"],
            ["users.id"],
            name=op.f("fk_credit_transactions_actor_user_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["lot_id"],
            ["credit_lots.id"],
            name=op.f("fk_credit_transactions_lot_id_credit_lots"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_credit_transactions_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_credit_transactions_user_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_credit_transactions")),
    )
    op.create_index(
        "ix_credit_transactions_account_created",
        "credit_transactions",
        ["account_id", "created_at"],
        unique=False,
    )
    op.create_index(
        "ix_credit_transactions_booking",
        "credit_transactions",
        ["booking_id"],
        unique=False,
        postgresql_where=sa.text("booking_id IS NOT NULL"),
    )
    op.create_table(
        "bookings",
        sa.Column("tenant_id", sa.UUID(), nullable=False),
        sa.Column("user_id", sa.UUID(), nullable=False),
        sa.Column("class_schedule_id", sa.UUID(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column(
            "booking_type", sa.String(length=16), server_default=sa.text("'direct'"), nullable=False
        ),
        sa.Column("credits_used", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("qr_code", sa.Text(), nullable=True),
        sa.Column("qr_expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("check_in_time", sa.DateTime(timezone=True), nullable=True),
        sa.Column("waitlisted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("promoted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("cancelled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("cancellation_reason", sa.Text(), nullable=True),
        sa.Column("cancelled_by_user_id", sa.UUID(), nullable=True),
        sa.Column(
            "late_cancellation", sa.Boolean(), server_default=sa.text("false"), nullable=False
        ),
        sa.Column("marketplace_fee", sa.Integer(), nullable=True),
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "booking_type IN ('direct', 'marketplace')", name=op.f("ck_bookings_booking_type")
        ),
        sa.CheckConstraint(
            "status IN ('confirmed', 'waitlisted', 'cancelled', 'completed', 'no_show')",
            name=op.f("ck_bookings_status"),
        ),
        sa.CheckConstraint("credits_used >= 0", name=op.f("ck_bookings_credits_used")),
        sa.ForeignKeyConstraint(
            ["cancelled_by_user_id"],
            ["users.id"],
            name=op.f("fk_bookings_cancelled_by_user_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["class_schedule_id"],
            ["class_schedules.id"],
            name=op.f("fk_bookings_class_schedule_id_class_schedules"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_bookings_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_bookings_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bookings")),
    )
    op.create_index(
        "ix_bookings_occurrence_status",
        "bookings",
        ["class_schedule_id", "status", "waitlisted_at"],
        unique=False,
    )
    op.create_index("ix_bookings_user_status", "bookings", ["user_id", "status"], unique=False)
    op.create_index(
        "uq_bookings_one_active_per_member",
        "bookings",
        ["tenant_id", "class_schedule_id", "user_id"],
        unique=True,
        postgresql_where=sa.text("status IN ('confirmed', 'waitlisted')"),
    )
    for table in ("credit_accounts", "credit_lots", "credit_transactions", "credit_packages"):
        _enable_tenant_rls(table)
    # Members list their own bookings across studios (app.user_id), like memberships.
    _enable_tenant_rls(
        "bookings",
        also_visible_when="user_id = NULLIF(current_setting('app.user_id', true), '')::uuid",
    )
    # The ledger is append-only: the application may add rows, never change or remove them.
    role = get_settings().database_app_role
    op.execute(f'REVOKE UPDATE, DELETE ON credit_transactions FROM "{role}"')


def downgrade() -> None:
    op.drop_index(
        "uq_bookings_one_active_per_member",
        table_name="bookings",
        postgresql_where=sa.text("status IN ('confirmed', 'waitlisted')"),
    )
    op.drop_index("ix_bookings_user_status", table_name="bookings")
    op.drop_index("ix_bookings_occurrence_status", table_name="bookings")
    op.drop_table("bookings")
    op.drop_index(
        "ix_credit_transactions_booking",
        table_name="credit_transactions",
        postgresql_where=sa.text("booking_id IS NOT NULL"),
    )
    op.drop_index("ix_credit_transactions_account_created", table_name="credit_transactions")
    op.drop_table("credit_transactions")
    op.drop_index(
        "ix_credit_lots_account_open",
        table_name="credit_lots",
        postgresql_where=sa.text("remaining > 0"),
    )
    op.drop_table("credit_lots")
    op.drop_table("credit_packages")
    op.drop_index(op.f("ix_credit_accounts_user_id"), table_name="credit_accounts")
    op.drop_table("credit_accounts")
    op.drop_table("idempotency_keys")


def _enable_tenant_rls(table: str, also_visible_when: str | None = None) -> None:
    """Frozen copy of the standard tenant policy (see 0001_initial)."""
    in_tenant = "tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid"
    visible = f"({in_tenant}) OR ({also_visible_when})" if also_visible_when else in_tenant
    op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
    op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
    op.execute(
        f"CREATE POLICY tenant_isolation ON {table} USING ({visible}) WITH CHECK ({in_tenant})"
    )
