"""Member invitations, an RLS path to find one by its token, the membership_audit table.

Invitations are user_tenant_roles rows with status `invited` and no user yet. The audit
table is append-only for the app role (UPDATE and DELETE revoked).

Revision ID: 0003_member_invitations
Revises: 0002_job_queue
Create Date: 2026-11-22 08:30:00+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from studioloop.config import get_settings

revision: str = "0003_member_invitations"
down_revision: str | None = "0002_job_queue"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

IN_TENANT = "tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid"
OWN_ROWS = "user_id = NULLIF(current_setting('app.user_id', true), '')::uuid"
# Accepting an invitation finds it by the hash of the emailed token before the tenant is
# known. Only the one row holding that hash becomes visible, and only while the setting is
# present; writes stay confined to the tenant in context (WITH CHECK).
BY_TOKEN = "invitation_token_hash = NULLIF(current_setting('app.invitation_token_hash', true), '')"  # noqa: S105


def upgrade() -> None:
    op.alter_column("user_tenant_roles", "user_id", existing_type=sa.UUID(), nullable=True)
    op.add_column(
        "user_tenant_roles", sa.Column("invited_email", sa.String(length=320), nullable=True)
    )
    op.add_column(
        "user_tenant_roles", sa.Column("invited_first_name", sa.String(length=100), nullable=True)
    )
    op.add_column(
        "user_tenant_roles", sa.Column("invited_last_name", sa.String(length=100), nullable=True)
    )
    op.add_column(
        "user_tenant_roles", sa.Column("invited_phone", sa.String(length=32), nullable=True)
    )
    op.add_column(
        "user_tenant_roles",
        sa.Column("invitation_token_hash", sa.String(length=64), nullable=True),
    )
    op.add_column(
        "user_tenant_roles",
        sa.Column("invitation_expires_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.add_column(
        "user_tenant_roles", sa.Column("invited_at", sa.DateTime(timezone=True), nullable=True)
    )
    op.add_column("user_tenant_roles", sa.Column("invited_by_user_id", sa.UUID(), nullable=True))
    op.create_foreign_key(
        op.f("fk_user_tenant_roles_invited_by_user_id_users"),
        "user_tenant_roles",
        "users",
        ["invited_by_user_id"],
        ["id"],
        ondelete="SET NULL",
    )
    op.create_unique_constraint(
        op.f("uq_user_tenant_roles_tenant_id_invited_email"),
        "user_tenant_roles",
        ["tenant_id", "invited_email"],
    )
    op.create_unique_constraint(
        op.f("uq_user_tenant_roles_invitation_token_hash"),
        "user_tenant_roles",
        ["invitation_token_hash"],
    )
    op.drop_constraint(op.f("ck_user_tenant_roles_status"), "user_tenant_roles", type_="check")
    op.create_check_constraint(
        op.f("ck_user_tenant_roles_status"),
        "user_tenant_roles",
        "status IN ('active', 'inactive', 'invited')",
    )
    op.create_check_constraint(
        op.f("ck_user_tenant_roles_user_or_email"),
        "user_tenant_roles",
        "user_id IS NOT NULL OR invited_email IS NOT NULL",
    )
    op.create_check_constraint(
        op.f("ck_user_tenant_roles_invited_unlinked"),
        "user_tenant_roles",
        "(status = 'invited') = (user_id IS NULL)",
    )
    op.create_check_constraint(
        op.f("ck_user_tenant_roles_invitation_token"),
        "user_tenant_roles",
        "status <> 'invited' OR (invitation_token_hash IS NOT NULL "
        "AND invitation_expires_at IS NOT NULL)",
    )
    op.create_check_constraint(
        op.f("ck_user_tenant_roles_invited_email_lower"),
        "user_tenant_roles",
        "invited_email = lower(invited_email)",
    )
    op.execute("DROP POLICY tenant_isolation ON user_tenant_roles")
    op.execute(
        "CREATE POLICY tenant_isolation ON user_tenant_roles "
        f"USING (({IN_TENANT}) OR ({OWN_ROWS}) OR ({BY_TOKEN})) WITH CHECK ({IN_TENANT})"
    )

    op.create_table(
        "membership_audit",
        sa.Column("tenant_id", sa.UUID(), nullable=False),
        sa.Column("membership_id", sa.UUID(), nullable=False),
        sa.Column("user_id", sa.UUID(), nullable=True),
        sa.Column("actor_user_id", sa.UUID(), nullable=True),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("before", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("after", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("clock_timestamp()"),
            nullable=False,
        ),
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.CheckConstraint(
            "action IN ('invited', 'reinvited', 'invitation_revoked', 'invitation_accepted', "
            "'role_changed', 'status_changed', 'joined')",
            name=op.f("ck_membership_audit_action"),
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_membership_audit_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_membership_audit")),
    )
    op.create_index(
        "ix_membership_audit_tenant_membership",
        "membership_audit",
        ["tenant_id", "membership_id"],
        unique=False,
    )
    op.create_index(
        "ix_membership_audit_tenant_user",
        "membership_audit",
        ["tenant_id", "user_id", "created_at"],
        unique=False,
    )
    _enable_tenant_rls("membership_audit")
    # History is append-only: the app may add and read rows, never rewrite or remove them.
    op.execute(f'REVOKE UPDATE, DELETE ON membership_audit FROM "{app_role()}"')


def downgrade() -> None:
    op.drop_index("ix_membership_audit_tenant_user", table_name="membership_audit")
    op.drop_index("ix_membership_audit_tenant_membership", table_name="membership_audit")
    op.drop_table("membership_audit")

    # Pending invitations have no user and cannot exist under the old schema. FORCE would
    # hide every row from a non-superuser owner here (no tenant in context), so lift it for
    # the delete.
    op.execute("ALTER TABLE user_tenant_roles NO FORCE ROW LEVEL SECURITY")
    op.execute("DELETE FROM user_tenant_roles WHERE user_id IS NULL OR status = 'invited'")
    op.execute("ALTER TABLE user_tenant_roles FORCE ROW LEVEL SECURITY")
    op.execute("DROP POLICY tenant_isolation ON user_tenant_roles")
    op.execute(
        "CREATE POLICY tenant_isolation ON user_tenant_roles "
        f"USING (({IN_TENANT}) OR ({OWN_ROWS})) WITH CHECK ({IN_TENANT})"
    )
    for name in ("invited_email_lower", "invitation_token", "invited_unlinked", "user_or_email"):
        op.drop_constraint(op.f(f"ck_user_tenant_roles_{name}"), "user_tenant_roles", type_="check")
    op.drop_constraint(op.f("ck_user_tenant_roles_status"), "user_tenant_roles", type_="check")
    op.create_check_constraint(
        op.f("ck_user_tenant_roles_status"), "user_tenant_roles", "status IN ('active', 'inactive')"
    )
    op.drop_constraint(
        op.f("uq_user_tenant_roles_invitation_token_hash"), "user_tenant_roles", type_="unique"
    )
    op.drop_constraint(
        op.f("uq_user_tenant_roles_tenant_id_invited_email"), "user_tenant_roles", type_="unique"
    )
    op.drop_constraint(
        op.f("fk_user_tenant_roles_invited_by_user_id_users"),
        "user_tenant_roles",
        type_="foreignkey",
    )
    for column in (
        "invited_by_user_id",
        "invited_at",
        "invitation_expires_at",
        "invitation_token_hash",
        "invited_phone",
        "invited_last_name",
        "invited_first_name",
        "invited_email",
    ):
        op.drop_column("user_tenant_roles", column)
    op.alter_column("user_tenant_roles", "user_id", existing_type=sa.UUID(), nullable=False)


def app_role() -> str:
    return get_settings().database_app_role


def _enable_tenant_rls(table: str) -> None:
    """Enable and force row-level security with the standard tenant policy (frozen copy of
    the first migration's helper, so this migration means the same thing forever)."""
    op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
    op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
    op.execute(
        f"CREATE POLICY tenant_isolation ON {table} USING ({IN_TENANT}) WITH CHECK ({IN_TENANT})"
    )
