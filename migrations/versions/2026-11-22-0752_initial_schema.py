"""Initial schema: tenants, users, per-tenant roles, tokens, codes, email log; the app role and RLS.

Revision ID: 0001_initial
Revises:
Create Date: 2026-11-22 07:52:08.900343+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from studioloop.config import get_settings

revision: str = "0001_initial"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "email_messages",
        sa.Column("to_address", sa.String(length=320), nullable=False),
        sa.Column("subject", sa.String(length=255), nullable=False),
        sa.Column("body_text", sa.Text(), nullable=False),
        sa.Column("body_html", sa.Text(), nullable=True),
        sa.Column("category", sa.String(length=64), nullable=False),
        sa.Column(
            "status", sa.String(length=16), server_default=sa.text("'queued'"), nullable=False
        ),
        sa.Column("attempts", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("provider_message_id", sa.String(length=255), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.CheckConstraint(
            "status IN ('queued', 'sent', 'recorded', 'failed')",
            name=op.f("ck_email_messages_status"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_email_messages")),
        comment="Outgoing email and its delivery state",
    )
    op.create_index(
        op.f("ix_email_messages_created_at"), "email_messages", ["created_at"], unique=False
    )
    op.create_index(
        op.f("ix_email_messages_to_address"), "email_messages", ["to_address"], unique=False
    )
    op.create_table(
        "tenants",
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("slug", sa.String(length=63), nullable=False),
        sa.Column("kind", sa.String(length=32), server_default=sa.text("'studio'"), nullable=False),
        sa.Column("email", sa.String(length=255), nullable=False),
        sa.Column("phone", sa.String(length=32), nullable=True),
        sa.Column(
            "address",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column(
            "settings",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column(
            "subscription_tier",
            sa.String(length=32),
            server_default=sa.text("'starter'"),
            nullable=False,
        ),
        sa.Column(
            "marketplace_enabled", sa.Boolean(), server_default=sa.text("true"), nullable=False
        ),
        sa.Column(
            "status", sa.String(length=32), server_default=sa.text("'active'"), nullable=False
        ),
        sa.Column(
            "timezone",
            sa.String(length=64),
            server_default=sa.text("'Africa/Johannesburg'"),
            nullable=False,
        ),
        sa.Column("currency", sa.String(length=3), server_default=sa.text("'ZAR'"), nullable=False),
        sa.Column("custom_domain", sa.String(length=253), nullable=True),
        sa.Column("custom_domain_verified_at", sa.DateTime(timezone=True), nullable=True),
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
            "kind IN ('studio', 'gym', 'creator', 'training_provider')",
            name=op.f("ck_tenants_kind"),
        ),
        sa.CheckConstraint(
            "slug ~ '^[a-z0-9](?:[a-z0-9-]{1,61}[a-z0-9])$'", name=op.f("ck_tenants_slug_format")
        ),
        sa.CheckConstraint(
            "status IN ('active', 'trial', 'suspended', 'cancelled')",
            name=op.f("ck_tenants_status"),
        ),
        sa.CheckConstraint(
            "subscription_tier IN ('starter', 'growth', 'pro', 'enterprise')",
            name=op.f("ck_tenants_subscription_tier"),
        ),
        sa.CheckConstraint(
            "custom_domain = lower(custom_domain)", name=op.f("ck_tenants_custom_domain_lower")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tenants")),
        sa.UniqueConstraint("custom_domain", name=op.f("uq_tenants_custom_domain")),
        sa.UniqueConstraint("slug", name=op.f("uq_tenants_slug")),
    )
    op.create_table(
        "users",
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("password_hash", sa.String(length=255), nullable=True),
        sa.Column("first_name", sa.String(length=100), nullable=False),
        sa.Column("last_name", sa.String(length=100), nullable=False),
        sa.Column("phone", sa.String(length=32), nullable=True),
        sa.Column("profile_image_url", sa.String(length=2048), nullable=True),
        sa.Column(
            "preferences",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column(
            "status", sa.String(length=32), server_default=sa.text("'active'"), nullable=False
        ),
        sa.Column("email_verified_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "is_platform_owner", sa.Boolean(), server_default=sa.text("false"), nullable=False
        ),
        sa.Column("last_login_at", sa.DateTime(timezone=True), nullable=True),
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
            "status IN ('active', 'inactive', 'banned')", name=op.f("ck_users_status")
        ),
        sa.CheckConstraint("email = lower(email)", name=op.f("ck_users_email_lower")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
        sa.UniqueConstraint("email", name=op.f("uq_users_email")),
    )
    op.create_table(
        "refresh_tokens",
        sa.Column("user_id", sa.UUID(), nullable=False),
        sa.Column("family_id", sa.UUID(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_refresh_tokens_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_refresh_tokens")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_refresh_tokens_token_hash")),
    )
    op.create_index("ix_refresh_tokens_family_id", "refresh_tokens", ["family_id"], unique=False)
    op.create_index(op.f("ix_refresh_tokens_user_id"), "refresh_tokens", ["user_id"], unique=False)
    op.create_table(
        "user_tenant_roles",
        sa.Column("tenant_id", sa.UUID(), nullable=False),
        sa.Column("user_id", sa.UUID(), nullable=False),
        sa.Column("role", sa.String(length=32), nullable=False),
        sa.Column(
            "status", sa.String(length=32), server_default=sa.text("'active'"), nullable=False
        ),
        sa.Column(
            "joined_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
        ),
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.CheckConstraint(
            "role IN ('owner', 'admin', 'instructor', 'member')",
            name=op.f("ck_user_tenant_roles_role"),
        ),
        sa.CheckConstraint(
            "status IN ('active', 'inactive')", name=op.f("ck_user_tenant_roles_status")
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_user_tenant_roles_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_user_tenant_roles_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_user_tenant_roles")),
        sa.UniqueConstraint(
            "tenant_id", "user_id", name=op.f("uq_user_tenant_roles_tenant_id_user_id")
        ),
    )
    op.create_index("ix_user_tenant_roles_user_id", "user_tenant_roles", ["user_id"], unique=False)
    op.create_table(
        "verification_codes",
        sa.Column("user_id", sa.UUID(), nullable=False),
        sa.Column("purpose", sa.String(length=32), nullable=False),
        sa.Column("code_hash", sa.String(length=64), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("attempts", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("consumed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.CheckConstraint(
            "purpose IN ('verify_email', 'password_reset')",
            name=op.f("ck_verification_codes_purpose"),
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_verification_codes_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_verification_codes")),
    )
    op.create_index(
        "ix_verification_codes_user_purpose",
        "verification_codes",
        ["user_id", "purpose"],
        unique=False,
    )

    _create_app_role()
    # Members see their own memberships in every tenant (to list "my studios"); staff see
    # the tenant's. Writes are always confined to the tenant in context.
    _enable_tenant_rls(
        "user_tenant_roles",
        also_visible_when="user_id = NULLIF(current_setting('app.user_id', true), '')::uuid",
    )


def downgrade() -> None:
    _revoke_app_role()
    op.drop_index("ix_verification_codes_user_purpose", table_name="verification_codes")
    op.drop_table("verification_codes")
    op.drop_index("ix_user_tenant_roles_user_id", table_name="user_tenant_roles")
    op.drop_table("user_tenant_roles")
    op.drop_index(op.f("ix_refresh_tokens_user_id"), table_name="refresh_tokens")
    op.drop_index("ix_refresh_tokens_family_id", table_name="refresh_tokens")
    op.drop_table("refresh_tokens")
    op.drop_table("users")
    op.drop_table("tenants")
    op.drop_index(op.f("ix_email_messages_to_address"), table_name="email_messages")
    op.drop_index(op.f("ix_email_messages_created_at"), table_name="email_messages")
    op.drop_table("email_messages")


def app_role() -> str:
    return get_settings().database_app_role


def _create_app_role() -> None:
    role = app_role()
    # The role is cluster-wide and may already exist (another database, an earlier run).
    op.execute(
        f"""
        DO $$ BEGIN
          IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{role}') THEN
            CREATE ROLE "{role}" NOLOGIN NOBYPASSRLS;
          END IF;
        END $$
        """
    )
    # The owner's connections switch to the role (libpq `-c role=`), so it must be a member.
    op.execute(f'GRANT "{role}" TO CURRENT_USER')
    op.execute(f'GRANT USAGE ON SCHEMA public TO "{role}"')
    op.execute(f'GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO "{role}"')
    op.execute(f'GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO "{role}"')
    # Objects later migrations create get the same grants; ledgers revoke UPDATE/DELETE.
    for grant in (
        f'GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO "{role}"',
        f'GRANT USAGE, SELECT ON SEQUENCES TO "{role}"',
        f'GRANT EXECUTE ON FUNCTIONS TO "{role}"',
    ):
        op.execute(f"ALTER DEFAULT PRIVILEGES IN SCHEMA public {grant}")


def _revoke_app_role() -> None:
    role = app_role()
    for revoke in (
        f'REVOKE SELECT, INSERT, UPDATE, DELETE ON TABLES FROM "{role}"',
        f'REVOKE USAGE, SELECT ON SEQUENCES FROM "{role}"',
        f'REVOKE EXECUTE ON FUNCTIONS FROM "{role}"',
    ):
        op.execute(f"ALTER DEFAULT PRIVILEGES IN SCHEMA public {revoke}")
    op.execute(f'REVOKE USAGE ON SCHEMA public FROM "{role}"')
    # The role itself stays: it is shared by every database on the server.


def _enable_tenant_rls(table: str, also_visible_when: str | None = None) -> None:
    """Enable and force row-level security with the standard tenant policy.

    Frozen copy of the policy every tenant table uses; later migrations repeat it rather
    than import it, so this migration means the same thing forever.
    """
    in_tenant = "tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid"
    visible = f"({in_tenant}) OR ({also_visible_when})" if also_visible_when else in_tenant
    op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
    op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
    op.execute(
        f"CREATE POLICY tenant_isolation ON {table} USING ({visible}) WITH CHECK ({in_tenant})"
    )
