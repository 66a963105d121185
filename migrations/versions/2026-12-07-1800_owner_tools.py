"""`owner_tools`: plans in the studio's own order, and staff notes about members.

`membership_plans.sort_order` lets the owner order plans on the Prices page (credit
packs have had one since they were added). `member_notes` holds what staff write about
one of the studio's people; it is a tenant table like the others (row-level security,
`(id, tenant_id)` key) and no member-facing page or API reads it.

Revision ID: 0031_owner_tools
Revises: 0030_search_ranks_class_names
Create Date: 2026-12-07 18:00:00+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0031_owner_tools"
down_revision: str | None = "0030_search_ranks_class_names"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "membership_plans",
        sa.Column("sort_order", sa.Integer(), server_default=sa.text("0"), nullable=False),
    )
    op.create_table(
        "member_notes",
        sa.Column("tenant_id", sa.UUID(), nullable=False),
        sa.Column("user_id", sa.UUID(), nullable=False),
        sa.Column("author_user_id", sa.UUID(), nullable=True),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_member_notes_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_member_notes_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["author_user_id"],
            ["users.id"],
            name=op.f("fk_member_notes_author_user_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", "tenant_id", name=op.f("pk_member_notes")),
    )
    op.create_index(
        "ix_member_notes_member", "member_notes", ["tenant_id", "user_id", "created_at"]
    )
    _enable_tenant_rls("member_notes")


def downgrade() -> None:
    op.drop_index("ix_member_notes_member", table_name="member_notes")
    op.drop_table("member_notes")
    op.drop_column("membership_plans", "sort_order")


def _enable_tenant_rls(table: str) -> None:
    """Frozen copy of the standard tenant policy (see 0001_initial)."""
    in_tenant = "tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid"
    op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
    op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
    op.execute(
        f"CREATE POLICY tenant_isolation ON {table} USING ({in_tenant}) WITH CHECK ({in_tenant})"
    )
