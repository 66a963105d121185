"""Scheduling: locations, rooms, classes, weekly series and their occurrences.

Occurrence overlaps (same instructor, same room) are refused by exclusion constraints,
which need btree_gist for the equality parts. Every table is tenant-owned with forced RLS.

Revision ID: 0004_scheduling
Revises: 0003_member_invitations
Create Date: 2026-11-22 08:24:42.025139+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0004_scheduling"
down_revision: str | None = "0003_member_invitations"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


TENANT_TABLES = ("locations", "rooms", "classes", "schedule_series", "class_schedules")
OCCURRENCE_LOOKUP = "id = NULLIF(current_setting('app.occurrence_id', true), '')::uuid"


def upgrade() -> None:
    # Trusted extension (PostgreSQL 13+): the schema owner may create it.
    op.execute("CREATE EXTENSION IF NOT EXISTS btree_gist")
    op.create_table(
        "locations",
        sa.Column("tenant_id", sa.UUID(), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column(
            "address",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column("latitude", sa.Double(), nullable=True),
        sa.Column("longitude", sa.Double(), nullable=True),
        sa.Column("is_active", sa.Boolean(), server_default=sa.text("true"), nullable=False),
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
        sa.CheckConstraint("latitude BETWEEN -90 AND 90", name=op.f("ck_locations_latitude")),
        sa.CheckConstraint("longitude BETWEEN -180 AND 180", name=op.f("ck_locations_longitude")),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_locations_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_locations")),
        sa.UniqueConstraint("tenant_id", "name", name=op.f("uq_locations_tenant_id_name")),
    )
    op.create_table(
        "rooms",
        sa.Column("tenant_id", sa.UUID(), nullable=False),
        sa.Column("location_id", sa.UUID(), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("capacity", sa.Integer(), nullable=False),
        sa.Column("is_active", sa.Boolean(), server_default=sa.text("true"), nullable=False),
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
        sa.CheckConstraint("capacity > 0", name=op.f("ck_rooms_capacity_positive")),
        sa.ForeignKeyConstraint(
            ["location_id"],
            ["locations.id"],
            name=op.f("fk_rooms_location_id_locations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_rooms_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rooms")),
        sa.UniqueConstraint(
            "tenant_id", "location_id", "name", name=op.f("uq_rooms_tenant_id_location_id_name")
        ),
    )
    op.create_index(op.f("ix_rooms_location_id"), "rooms", ["location_id"], unique=False)
    op.create_table(
        "classes",
        sa.Column("tenant_id", sa.UUID(), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("class_type", sa.String(length=40), nullable=False),
        sa.Column("instructor_id", sa.UUID(), nullable=True),
        sa.Column("duration_minutes", sa.Integer(), nullable=False),
        sa.Column("max_capacity", sa.Integer(), nullable=False),
        sa.Column(
            "difficulty_level", sa.String(length=20), server_default="all_levels", nullable=False
        ),
        sa.Column("credits_required", sa.Integer(), server_default=sa.text("1"), nullable=False),
        sa.Column(
            "equipment_needed",
            postgresql.ARRAY(sa.String(length=60)),
            server_default=sa.text("'{}'::varchar[]"),
            nullable=False,
        ),
        sa.Column("is_active", sa.Boolean(), server_default=sa.text("true"), nullable=False),
        sa.Column("price", sa.Integer(), nullable=True),
        sa.Column("location_id", sa.UUID(), nullable=True),
        sa.Column("room_id", sa.UUID(), nullable=True),
        sa.Column("booking_window_hours", sa.Integer(), nullable=True),
        sa.Column("cancellation_window_hours", sa.Integer(), nullable=True),
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
            "difficulty_level IN ('beginner', 'intermediate', 'advanced', 'all_levels')",
            name=op.f("ck_classes_difficulty_level"),
        ),
        sa.CheckConstraint(
            "booking_window_hours IS NULL OR booking_window_hours BETWEEN 0 AND 8760",
            name=op.f("ck_classes_booking_window"),
        ),
        sa.CheckConstraint(
            "cancellation_window_hours IS NULL OR cancellation_window_hours BETWEEN 0 AND 720",
            name=op.f("ck_classes_cancellation_window"),
        ),
        sa.CheckConstraint("credits_required >= 0", name=op.f("ck_classes_credits_required")),
        sa.CheckConstraint("duration_minutes BETWEEN 5 AND 720", name=op.f("ck_classes_duration")),
        sa.CheckConstraint(
            "max_capacity BETWEEN 1 AND 10000", name=op.f("ck_classes_max_capacity")
        ),
        sa.CheckConstraint("price IS NULL OR price >= 0", name=op.f("ck_classes_price")),
        sa.ForeignKeyConstraint(
            ["instructor_id"],
            ["users.id"],
            name=op.f("fk_classes_instructor_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["location_id"],
            ["locations.id"],
            name=op.f("fk_classes_location_id_locations"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["room_id"], ["rooms.id"], name=op.f("fk_classes_room_id_rooms"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_classes_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_classes")),
    )
    op.create_index(
        "ix_classes_tenant_id_is_active", "classes", ["tenant_id", "is_active"], unique=False
    )
    op.create_table(
        "schedule_series",
        sa.Column("tenant_id", sa.UUID(), nullable=False),
        sa.Column("class_id", sa.UUID(), nullable=False),
        sa.Column("weekdays", postgresql.ARRAY(sa.SmallInteger()), nullable=False),
        sa.Column("local_start_time", sa.Time(), nullable=False),
        sa.Column("duration_minutes", sa.Integer(), nullable=False),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column("starts_on", sa.Date(), nullable=False),
        sa.Column("until_date", sa.Date(), nullable=True),
        sa.Column("occurrence_count", sa.Integer(), nullable=True),
        sa.Column("instructor_id", sa.UUID(), nullable=True),
        sa.Column("location_id", sa.UUID(), nullable=True),
        sa.Column("room_id", sa.UUID(), nullable=True),
        sa.Column("capacity", sa.Integer(), nullable=False),
        sa.Column("materialised_through", sa.Date(), nullable=True),
        sa.Column("generated_count", sa.Integer(), server_default=sa.text("0"), nullable=False),
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
            "cardinality(weekdays) BETWEEN 1 AND 7", name=op.f("ck_schedule_series_weekdays")
        ),
        sa.CheckConstraint(
            "duration_minutes BETWEEN 5 AND 720", name=op.f("ck_schedule_series_duration")
        ),
        sa.CheckConstraint(
            "until_date IS NOT NULL OR occurrence_count IS NOT NULL",
            name=op.f("ck_schedule_series_has_end"),
        ),
        sa.ForeignKeyConstraint(
            ["class_id"],
            ["classes.id"],
            name=op.f("fk_schedule_series_class_id_classes"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["instructor_id"],
            ["users.id"],
            name=op.f("fk_schedule_series_instructor_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["location_id"],
            ["locations.id"],
            name=op.f("fk_schedule_series_location_id_locations"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["room_id"],
            ["rooms.id"],
            name=op.f("fk_schedule_series_room_id_rooms"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_schedule_series_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_schedule_series")),
    )
    op.create_index(
        op.f("ix_schedule_series_class_id"), "schedule_series", ["class_id"], unique=False
    )
    op.create_table(
        "class_schedules",
        sa.Column("tenant_id", sa.UUID(), nullable=False),
        sa.Column("class_id", sa.UUID(), nullable=False),
        sa.Column("series_id", sa.UUID(), nullable=True),
        sa.Column("series_date", sa.Date(), nullable=True),
        sa.Column("instructor_id", sa.UUID(), nullable=True),
        sa.Column("substitute_instructor_id", sa.UUID(), nullable=True),
        sa.Column("location_id", sa.UUID(), nullable=True),
        sa.Column("room_id", sa.UUID(), nullable=True),
        sa.Column("start_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("end_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("capacity", sa.Integer(), nullable=False),
        sa.Column("booked_count", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("waitlist_count", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column(
            "status", sa.String(length=16), server_default=sa.text("'scheduled'"), nullable=False
        ),
        sa.Column("cancellation_reason", sa.Text(), nullable=True),
        sa.Column("cancelled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("booking_window_hours", sa.Integer(), nullable=True),
        sa.Column("cancellation_window_hours", sa.Integer(), nullable=True),
        sa.Column("detached", sa.Boolean(), server_default=sa.text("false"), nullable=False),
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
        postgresql.ExcludeConstraint(
            (sa.column("tenant_id"), "="),
            (sa.column("room_id"), "="),
            (sa.text("tstzrange(start_time, end_time)"), "&&"),
            where=sa.text("status <> 'cancelled' AND room_id IS NOT NULL"),
            using="gist",
            name="ex_class_schedules_room_overlap",
        ),
        postgresql.ExcludeConstraint(
            (sa.column("tenant_id"), "="),
            (sa.text("coalesce(substitute_instructor_id, instructor_id)"), "="),
            (sa.text("tstzrange(start_time, end_time)"), "&&"),
            where=sa.text("status <> 'cancelled'"),
            using="gist",
            name="ex_class_schedules_instructor_overlap",
        ),
        sa.CheckConstraint(
            "status IN ('scheduled', 'cancelled', 'completed')",
            name=op.f("ck_class_schedules_status"),
        ),
        sa.CheckConstraint(
            "booked_count >= 0 AND booked_count <= capacity",
            name=op.f("ck_class_schedules_booked_count"),
        ),
        sa.CheckConstraint("capacity > 0", name=op.f("ck_class_schedules_capacity_positive")),
        sa.CheckConstraint(
            "end_time > start_time", name=op.f("ck_class_schedules_ends_after_start")
        ),
        sa.CheckConstraint("waitlist_count >= 0", name=op.f("ck_class_schedules_waitlist_count")),
        sa.ForeignKeyConstraint(
            ["class_id"],
            ["classes.id"],
            name=op.f("fk_class_schedules_class_id_classes"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["instructor_id"],
            ["users.id"],
            name=op.f("fk_class_schedules_instructor_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["location_id"],
            ["locations.id"],
            name=op.f("fk_class_schedules_location_id_locations"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["room_id"],
            ["rooms.id"],
            name=op.f("fk_class_schedules_room_id_rooms"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["series_id"],
            ["schedule_series.id"],
            name=op.f("fk_class_schedules_series_id_schedule_series"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["substitute_instructor_id"],
            ["users.id"],
            name=op.f("fk_class_schedules_substitute_instructor_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_class_schedules_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_class_schedules")),
        sa.UniqueConstraint(
            "tenant_id",
            "series_id",
            "series_date",
            name=op.f("uq_class_schedules_tenant_id_series_id_series_date"),
        ),
    )
    op.create_index(
        op.f("ix_class_schedules_class_id"), "class_schedules", ["class_id"], unique=False
    )
    op.create_index(
        "ix_class_schedules_tenant_start",
        "class_schedules",
        ["tenant_id", "start_time"],
        unique=False,
    )
    for table in TENANT_TABLES:
        # One occurrence may be looked up by id from outside its studio (to book it without
        # naming the studio): only the one named in app.occurrence_id, never a listing.
        extra = OCCURRENCE_LOOKUP if table == "class_schedules" else None
        _enable_tenant_rls(table, also_visible_when=extra)


def downgrade() -> None:
    op.drop_index("ix_class_schedules_tenant_start", table_name="class_schedules")
    op.drop_index(op.f("ix_class_schedules_class_id"), table_name="class_schedules")
    op.drop_table("class_schedules")
    op.drop_index(op.f("ix_schedule_series_class_id"), table_name="schedule_series")
    op.drop_table("schedule_series")
    op.drop_index("ix_classes_tenant_id_is_active", table_name="classes")
    op.drop_table("classes")
    op.drop_index(op.f("ix_rooms_location_id"), table_name="rooms")
    op.drop_table("rooms")
    op.drop_table("locations")


def _enable_tenant_rls(table: str, also_visible_when: str | None = None) -> None:
    """Frozen copy of the standard tenant policy (see 0001_initial)."""
    in_tenant = "tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid"
    visible = f"({in_tenant}) OR ({also_visible_when})" if also_visible_when else in_tenant
    op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
    op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
    op.execute(
        f"CREATE POLICY tenant_isolation ON {table} USING ({visible}) WITH CHECK ({in_tenant})"
    )
