"""`usage_metering`: meters, usage events in monthly partitions, running totals.

`usage_meters` is what a studio counts; `usage_event_keys` holds each received event's id
(idempotency: a unique key across monthly partitions would have to include the month);
`usage_events` is partitioned by month of `occurred_at`, with a DEFAULT partition for
whatever falls outside the months made; `usage_aggregates` and `usage_unique_values` are
the running totals ingestion updates with each batch. All are tenant tables under
row-level security.

`usage_events_keep_partitions(months_ahead, keep_months)` is run daily by the usage
domain's job as the app role, which may not create tables: it is SECURITY DEFINER (owned
by the schema owner) and does only this: make the partitions of this month and the next
`months_ahead`, and drop those wholly older than `keep_months` (the retention setting).

Revision ID: 0034_usage_metering
Revises: 0033_chat_send_cost
Create Date: 2026-12-07 21:00:00+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0034_usage_metering"
down_revision: str | None = "0033_chat_send_cost"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = (
    "usage_meters",
    "usage_event_keys",
    "usage_events",
    "usage_aggregates",
    "usage_unique_values",
)

# A partition is reached through usage_events, whose forced policy confines every query;
# the same policy on the partition itself confines the app role there too. Enabled, not
# forced: the schema owner's upkeep (below) must see every studio's rows of a partition.
IN_TENANT = "tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid"
IN_TENANT_LITERAL = "'" + IN_TENANT.replace("'", "''") + "'"
CONFINE = f"""
CREATE FUNCTION usage_events_confine(partition text) RETURNS void LANGUAGE plpgsql
SET search_path = public, pg_temp AS $$
BEGIN
    EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', partition);
    EXECUTE format('CREATE POLICY tenant_isolation ON %I USING (%s) WITH CHECK (%s)',
                   partition, {IN_TENANT_LITERAL}, {IN_TENANT_LITERAL});
END
$$
"""

KEEP_PARTITIONS = """
CREATE FUNCTION usage_events_keep_partitions(months_ahead integer, keep_months integer)
RETURNS integer LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    first_month date := date_trunc('month', now() AT TIME ZONE 'UTC')::date;
    month date;
    name text;
    made integer := 0;
    part record;
BEGIN
    FOR step IN 0..months_ahead LOOP
        month := (first_month + make_interval(months => step))::date;
        name := 'usage_events_' || to_char(month, 'YYYY_MM');
        CONTINUE WHEN to_regclass(name) IS NOT NULL;
        BEGIN
            EXECUTE format(
                'CREATE TABLE %I PARTITION OF usage_events FOR VALUES FROM (%L) TO (%L)',
                name, month::timestamptz, (month + interval '1 month')::timestamptz
            );
        EXCEPTION WHEN check_violation THEN
            -- The DEFAULT partition holds rows of that month already (the job did not run
            -- for a while): they stay there, stored all the same.
            CONTINUE;
        END;
        PERFORM usage_events_confine(name);
        made := made + 1;
    END LOOP;
    FOR part IN
        SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
        WHERE i.inhparent = 'usage_events'::regclass
          AND c.relname ~ '^usage_events_[0-9]{4}_[0-9]{2}$'
          AND to_date(substr(c.relname, 14), 'YYYY_MM') + interval '1 month'
              <= first_month - make_interval(months => keep_months)
    LOOP
        EXECUTE format('DROP TABLE %I', part.relname);
    END LOOP;
    DELETE FROM usage_events_default
    WHERE occurred_at < first_month - make_interval(months => keep_months);
    RETURN made;
END
$$
"""


def upgrade() -> None:
    op.create_table(
        "usage_meters",
        sa.Column("tenant_id", sa.UUID(), nullable=False),
        sa.Column("slug", sa.String(length=63), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("event_name", sa.String(length=120), nullable=False),
        sa.Column(
            "property_filter",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column("aggregation", sa.String(length=16), nullable=False),
        sa.Column("value_property", sa.String(length=120), nullable=True),
        sa.Column("unit", sa.String(length=40), server_default=sa.text("'units'"), nullable=False),
        sa.Column(
            "reset",
            sa.String(length=16),
            server_default=sa.text("'billing_period'"),
            nullable=False,
        ),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("archived_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.CheckConstraint(
            "aggregation IN ('count', 'sum', 'max', 'unique_count', 'latest')",
            name=op.f("ck_usage_meters_aggregation"),
        ),
        sa.CheckConstraint(
            "reset IN ('billing_period', 'month', 'never')", name=op.f("ck_usage_meters_reset")
        ),
        sa.CheckConstraint(
            "slug ~ '^[a-z0-9][a-z0-9_-]{0,62}$'", name=op.f("ck_usage_meters_slug_format")
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_usage_meters_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", "tenant_id", name=op.f("pk_usage_meters")),
        sa.UniqueConstraint("tenant_id", "slug", name=op.f("uq_usage_meters_tenant_id_slug")),
    )
    op.create_table(
        "usage_event_keys",
        sa.Column("tenant_id", sa.UUID(), nullable=False),
        sa.Column("event_id", sa.String(length=200), nullable=False),
        sa.Column(
            "received_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_usage_event_keys_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("tenant_id", "event_id", name=op.f("pk_usage_event_keys")),
    )
    op.create_table(
        "usage_events",
        sa.Column("tenant_id", sa.UUID(), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("event_id", sa.String(length=200), nullable=False),
        sa.Column("user_id", sa.UUID(), nullable=False),
        sa.Column("event_name", sa.String(length=120), nullable=False),
        sa.Column("value", sa.Numeric(), nullable=True),
        sa.Column(
            "properties",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column("billing_period_start", sa.DateTime(timezone=True), nullable=True),
        sa.Column("billing_period_end", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "received_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint(
            "tenant_id", "occurred_at", "event_id", name=op.f("pk_usage_events")
        ),
        postgresql_partition_by="RANGE (occurred_at)",
    )
    op.execute("CREATE TABLE usage_events_default PARTITION OF usage_events DEFAULT")
    op.create_table(
        "usage_aggregates",
        sa.Column("tenant_id", sa.UUID(), nullable=False),
        sa.Column("meter_id", sa.UUID(), nullable=False),
        sa.Column("user_id", sa.UUID(), nullable=False),
        sa.Column("period_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("period_end", sa.DateTime(timezone=True), nullable=True),
        sa.Column("value", sa.Numeric(), server_default=sa.text("0"), nullable=False),
        sa.Column("events", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("latest_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["meter_id", "tenant_id"],
            ["usage_meters.id", "usage_meters.tenant_id"],
            name=op.f("fk_usage_aggregates_meter_id_usage_meters"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_usage_aggregates_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_usage_aggregates_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "tenant_id", "meter_id", "user_id", "period_start", name=op.f("pk_usage_aggregates")
        ),
    )
    op.create_index(
        "ix_usage_aggregates_period",
        "usage_aggregates",
        ["tenant_id", "period_start", "meter_id"],
    )
    op.create_table(
        "usage_unique_values",
        sa.Column("tenant_id", sa.UUID(), nullable=False),
        sa.Column("meter_id", sa.UUID(), nullable=False),
        sa.Column("user_id", sa.UUID(), nullable=False),
        sa.Column("period_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["meter_id", "tenant_id"],
            ["usage_meters.id", "usage_meters.tenant_id"],
            name=op.f("fk_usage_unique_values_meter_id_usage_meters"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_usage_unique_values_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "tenant_id",
            "meter_id",
            "user_id",
            "period_start",
            "value",
            name=op.f("pk_usage_unique_values"),
        ),
    )
    for table in TABLES:
        _enable_tenant_rls(table)
    op.execute(CONFINE)
    op.execute("REVOKE ALL ON FUNCTION usage_events_confine(text) FROM PUBLIC")
    op.execute("SELECT usage_events_confine('usage_events_default')")
    op.execute(KEEP_PARTITIONS)
    op.execute("SELECT usage_events_keep_partitions(2, 1200)")


def downgrade() -> None:
    op.execute("DROP FUNCTION usage_events_keep_partitions(integer, integer)")
    op.execute("DROP FUNCTION usage_events_confine(text)")
    op.drop_table("usage_unique_values")
    op.drop_index("ix_usage_aggregates_period", table_name="usage_aggregates")
    op.drop_table("usage_aggregates")
    op.drop_table("usage_events")
    op.drop_table("usage_event_keys")
    op.drop_table("usage_meters")


def _enable_tenant_rls(table: str) -> None:
    """Frozen copy of the standard tenant policy (see 0001_initial)."""
    in_tenant = "tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid"
    op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
    op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
    op.execute(
        f"CREATE POLICY tenant_isolation ON {table} USING ({in_tenant}) WITH CHECK ({in_tenant})"
    )
