"""`api_keys`: a studio's keys for its own server-to-server use of the API.

A key belongs to one studio (a tenant table like the others: row-level security, `(id,
tenant_id)` key, its prefix unique within the studio). Its secret is stored only as a
SHA-256 hash.

A request presenting a key names no studio (`POST /api/v1/usage/events`), so the key must
be found before any studio is in context. `api_key_by_prefix` is the one narrow path for
that: a SECURITY DEFINER function returning the rows with the key's public prefix (with
their studio's status), never a list; the caller compares the hash. The prefix is unique
per studio only (Citus: unique keys include tenant_id, docs/deploy.md), so two studios may
in principle share one; the function returns both and the hash tells them apart. Under
Citus it is a multi-shard index scan on `prefix`, like the invitation token lookup.

Revision ID: 0037_api_keys
Revises: 0036_erasure
Create Date: 2026-12-07 21:30:00+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from studioloop.config import get_settings

revision: str = "0037_api_keys"
down_revision: str | None = "0036_erasure"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

LOOKUP_SIGNATURE = "api_key_by_prefix(text)"
LOOKUP_FUNCTION = """
CREATE FUNCTION api_key_by_prefix(p_prefix text)
RETURNS TABLE (id uuid, tenant_id uuid, secret_hash bytea, scopes text[],
               revoked_at timestamptz, last_used_at timestamptz, tenant_status text)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public AS $$
  SELECT k.id, k.tenant_id, k.secret_hash, k.scopes, k.revoked_at, k.last_used_at,
         t.status::text
    FROM api_keys k JOIN tenants t ON t.id = k.tenant_id
   WHERE k.prefix = p_prefix
$$
"""


def upgrade() -> None:
    op.create_table(
        "api_keys",
        sa.Column("tenant_id", sa.UUID(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("prefix", sa.String(length=8), nullable=False),
        sa.Column("secret_hash", sa.LargeBinary(), nullable=False),
        sa.Column("scopes", postgresql.ARRAY(sa.Text()), nullable=False),
        sa.Column("created_by_user_id", sa.UUID(), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.CheckConstraint("octet_length(secret_hash) = 32", name=op.f("ck_api_keys_secret_hash")),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_api_keys_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["created_by_user_id"],
            ["users.id"],
            name=op.f("fk_api_keys_created_by_user_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", "tenant_id", name=op.f("pk_api_keys")),
        sa.UniqueConstraint("tenant_id", "prefix", name=op.f("uq_api_keys_tenant_id_prefix")),
    )
    op.create_index("ix_api_keys_prefix", "api_keys", ["prefix"])
    _enable_tenant_rls("api_keys")
    # Row-level security is FORCEd, so it binds the owner the function runs as too (see
    # 0023_marketplace): the owner may read the table, the application's role still not.
    op.execute(
        "CREATE POLICY schema_owner_reads ON api_keys FOR SELECT TO CURRENT_USER USING (true)"
    )
    op.execute(LOOKUP_FUNCTION)
    role = get_settings().database_app_role
    op.execute(f"REVOKE ALL ON FUNCTION {LOOKUP_SIGNATURE} FROM PUBLIC")
    op.execute(f'GRANT EXECUTE ON FUNCTION {LOOKUP_SIGNATURE} TO "{role}"')


def downgrade() -> None:
    op.execute(f"DROP FUNCTION {LOOKUP_SIGNATURE}")
    op.drop_index("ix_api_keys_prefix", table_name="api_keys")
    op.drop_table("api_keys")


def _enable_tenant_rls(table: str) -> None:
    """Frozen copy of the standard tenant policy (see 0001_initial)."""
    in_tenant = "tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid"
    op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
    op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
    op.execute(
        f"CREATE POLICY tenant_isolation ON {table} USING ({in_tenant}) WITH CHECK ({in_tenant})"
    )
