"""The marketplace: studio terms, marketplace seats, settlement entries, and search.

`marketplace_search` is a SECURITY DEFINER function (decision 0005): the one narrow path
by which a request reads classes across studios. It returns only what a studio publishes
to the marketplace (public, scheduled, upcoming classes open to anyone, of active,
opted-in studios) and
builds its statement from the filters present, so each search is planned for its own
filters instead of a generic plan full of `$n IS NULL OR ...`.

Revision ID: 0023_marketplace
Revises: 0022_chat_attachments
Create Date: 2026-11-28 07:32:53+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from studioloop.config import get_settings

revision: str = "0023_marketplace"
down_revision: str | None = "0022_chat_attachments"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

IN_TENANT = "tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid"
OLD_ENTRY_TYPES = "('payment', 'fee', 'refund', 'fee_refund', 'transfer')"
NEW_ENTRY_TYPES = (
    "('payment', 'fee', 'refund', 'fee_refund', 'transfer', 'marketplace', 'commission', "
    "'marketplace_refund', 'commission_refund')"
)
SEARCH_SIGNATURE = (
    "marketplace_search(double precision, double precision, double precision, "
    "double precision, double precision, double precision, double precision, text, text, "
    "text, timestamptz, timestamptz, boolean, integer, text, double precision, uuid, "
    "integer, integer, integer, double precision)"
)

# Great-circle distance in km from ($1, $2) to the location (haversine; least(1, ...)
# keeps asin in its domain when rounding lands a hair above 1 at antipodes).
DISTANCE = (
    "2 * 6371.0088 * asin(least(1, sqrt("
    "power(sin(radians(l.latitude - $1) / 2), 2) + "
    "cos(radians($1)) * cos(radians(l.latitude)) * "
    "power(sin(radians(l.longitude - $2) / 2), 2))))"
)

SEARCH_FUNCTION = """
CREATE FUNCTION marketplace_search(
    p_lat double precision, p_lng double precision, p_radius_km double precision,
    p_min_lat double precision, p_max_lat double precision,
    p_min_lng double precision, p_max_lng double precision,
    p_class_type text, p_difficulty text, p_query text,
    p_start_from timestamptz, p_start_to timestamptz,
    p_has_spots boolean, p_max_credits integer, p_sort text,
    p_after_key double precision, p_after_id uuid, p_limit integer,
    p_default_payout_rate integer, p_default_commission integer,
    p_after_start double precision)
RETURNS TABLE (
    occurrence_id uuid, tenant_id uuid, tenant_slug text, tenant_name text,
    class_id uuid, class_name text, class_type text, difficulty_level text,
    description text, start_time timestamptz, end_time timestamptz,
    location_name text, address jsonb, latitude double precision,
    longitude double precision, distance_km double precision, spots integer,
    credits integer, price integer, currency text, timezone text,
    sort_key double precision)
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = public AS $fn$
DECLARE
    places text;
    sort_key text;
    sql text;
BEGIN
    -- Typos such as "yoag" still find "Yoga" (word similarity 0.4; pg_trgm's default is
    -- 0.6), while "power" no longer finds "Reformer Pilates" (0.33).
    PERFORM set_config('pg_trgm.word_similarity_threshold', '0.35', true);
    IF p_lat IS NOT NULL THEN
        -- The locations in the box (two btree ranges), within the radius, nearest first:
        -- sorting by distance, the plan then walks the nearest locations' classes in order
        -- and stops at the limit, instead of joining every class time within the radius
        -- to its class and studio before sorting (docs/benchmarks.md).
        places := '(SELECT l.*, d.distance_km FROM locations l
                     CROSS JOIN LATERAL (SELECT __DISTANCE__ AS distance_km) d
                    WHERE l.is_active AND l.latitude IS NOT NULL
                      AND l.latitude BETWEEN $4 AND $5 AND l.longitude BETWEEN $6 AND $7
                      AND d.distance_km <= $3
                    ORDER BY d.distance_km) l';
    ELSE
        places := '(SELECT l.*, NULL::double precision AS distance_km FROM locations l
                    WHERE l.is_active AND l.latitude IS NOT NULL) l';
    END IF;
    sort_key := CASE
        WHEN p_sort = 'distance' AND p_lat IS NOT NULL THEN 'r.distance_km'
        WHEN p_sort = 'price' THEN 'r.credits * 1e10 + extract(epoch FROM r.start_time)'
        ELSE 'extract(epoch FROM r.start_time)::double precision' END;
    sql := 'SELECT r.*, (' || sort_key || ')::double precision FROM (
            SELECT o.id, t.id, t.slug::text, t.name::text, c.id, c.name::text,
                   c.class_type::text, c.difficulty_level::text, c.description,
                   o.start_time, o.end_time, l.name::text, l.address, l.latitude,
                   l.longitude, l.distance_km,
                   greatest(0, least(o.capacity - o.booked_count,
                                     coalesce(c.marketplace_seats - o.marketplace_booked,
                                              o.capacity - o.booked_count)))::integer,
                   greatest(c.credits_required,
                            ceil(coalesce(m.floor_price, 0)::numeric * 10000
                                 / (coalesce(m.payout_rate, $19)
                                    * (10000 - coalesce(m.commission_basis_points, $20)))
                            ))::integer,
                   CASE WHEN c.price IS NULL
                          OR coalesce(t.settings ->> ''payment_provider'', ''sandbox'') = ''yoco''
                        THEN NULL
                        ELSE greatest(c.price,
                                      ceil(coalesce(m.floor_price, 0)::numeric * 10000
                                           / (10000 - coalesce(m.commission_basis_points, $20))
                                      )::integer) END,
                   t.currency::text, t.timezone::text
              FROM ' || places || '
              JOIN class_schedules o ON o.location_id = l.id
              JOIN classes c ON c.id = o.class_id
              JOIN tenants t ON t.id = o.tenant_id
              LEFT JOIN marketplace_terms m ON m.tenant_id = o.tenant_id
             WHERE t.marketplace_enabled AND t.status IN (''active'', ''trial'')
               AND t.kind <> ''platform''
               AND o.status = ''scheduled'' AND o.start_time > now()
               AND o.start_time >= $11 AND o.start_time < $12
               AND c.is_active AND NOT c.is_private AND NOT c.requires_membership
               AND (c.marketplace_seats IS NULL OR c.marketplace_seats > 0)';
    IF p_class_type IS NOT NULL THEN
        sql := sql || ' AND c.class_type = $8';
    END IF;
    IF p_difficulty IS NOT NULL THEN
        sql := sql || ' AND c.difficulty_level = $9';
    END IF;
    IF p_query IS NOT NULL THEN
        sql := sql || ' AND ($10 <% c.name OR $10 <% t.name OR $10 <% c.class_type
                             OR $10 <% l.name)';
    END IF;
    sql := sql || ') r (occurrence_id, tenant_id, tenant_slug, tenant_name, class_id,
               class_name, class_type, difficulty_level, description, start_time, end_time,
               location_name, address, latitude, longitude, distance_km, spots, credits,
               price, currency, timezone)
         WHERE true';
    IF p_has_spots THEN
        sql := sql || ' AND r.spots > 0';
    END IF;
    IF p_max_credits IS NOT NULL THEN
        sql := sql || ' AND r.credits <= $14';
    END IF;
    -- Ties (classes at the same place) go soonest first, then by id: a total order, so
    -- the cursor (key, start, id) pages through without gaps or repeats.
    IF p_after_id IS NOT NULL THEN
        sql := sql || ' AND ((' || sort_key || ')::double precision,
                             extract(epoch FROM r.start_time)::double precision,
                             r.occurrence_id) > ($16, $21, $17)';
    END IF;
    sql := sql || ' ORDER BY ' || sort_key || ', r.start_time, r.occurrence_id LIMIT $18';
    RETURN QUERY EXECUTE sql USING p_lat, p_lng, p_radius_km, p_min_lat, p_max_lat,
        p_min_lng, p_max_lng, p_class_type, p_difficulty, p_query, p_start_from,
        p_start_to, p_has_spots, p_max_credits, p_sort, p_after_key, p_after_id, p_limit,
        p_default_payout_rate, p_default_commission, p_after_start;
END
$fn$
""".replace("__DISTANCE__", DISTANCE.replace("'", "''"))


# The tables the SECURITY DEFINER functions read (this one's, and 0020's operator totals).
# Row-level security is FORCEd, so it binds their owner too, and a function running as the
# owner would see no studio at all unless the owner is a superuser or BYPASSRLS (as the
# embedded database's is, but a managed one's is usually not). The owner may read them:
# it could lift row-level security from its own tables anyway. The application's role is
# not the owner, so nothing changes for requests.
DEFINER_READS = (
    "class_schedules",
    "classes",
    "locations",
    "marketplace_terms",
    "user_tenant_roles",
    "bookings",
    "payments",
)


def upgrade() -> None:
    # Trusted since PostgreSQL 13: the schema owner may create it without superuser.
    op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    op.create_table(
        "marketplace_terms",
        sa.Column("tenant_id", sa.UUID(), nullable=False),
        sa.Column("payout_rate", sa.Integer(), nullable=True),
        sa.Column("commission_basis_points", sa.Integer(), nullable=True),
        sa.Column("floor_price", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "commission_basis_points IS NULL OR commission_basis_points BETWEEN 0 AND 9999",
            name=op.f("ck_marketplace_terms_commission"),
        ),
        sa.CheckConstraint("floor_price >= 0", name=op.f("ck_marketplace_terms_floor_price")),
        sa.CheckConstraint(
            "payout_rate IS NULL OR payout_rate > 0",
            name=op.f("ck_marketplace_terms_payout_rate"),
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_marketplace_terms_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("tenant_id", name=op.f("pk_marketplace_terms")),
    )
    op.execute("ALTER TABLE marketplace_terms ENABLE ROW LEVEL SECURITY")
    op.execute("ALTER TABLE marketplace_terms FORCE ROW LEVEL SECURITY")
    op.execute(
        f"CREATE POLICY tenant_isolation ON marketplace_terms USING ({IN_TENANT}) "
        f"WITH CHECK ({IN_TENANT})"
    )

    op.add_column(
        "class_schedules",
        sa.Column("marketplace_booked", sa.Integer(), server_default=sa.text("0"), nullable=False),
    )
    op.create_check_constraint(
        "marketplace_booked",
        "class_schedules",
        "marketplace_booked >= 0 AND marketplace_booked <= booked_count",
    )
    op.create_index(
        "ix_class_schedules_location_start",
        "class_schedules",
        ["location_id", "start_time"],
        unique=False,
        postgresql_where=sa.text("status = 'scheduled'"),
    )
    op.add_column(
        "classes",
        sa.Column("is_private", sa.Boolean(), server_default=sa.text("false"), nullable=False),
    )
    op.add_column("classes", sa.Column("marketplace_seats", sa.Integer(), nullable=True))
    op.create_check_constraint(
        "marketplace_seats", "classes", "marketplace_seats IS NULL OR marketplace_seats >= 0"
    )
    op.create_index(
        "ix_classes_name_trgm",
        "classes",
        ["name"],
        unique=False,
        postgresql_using="gin",
        postgresql_ops={"name": "gin_trgm_ops"},
    )
    op.create_index(
        "ix_locations_coordinates",
        "locations",
        ["latitude", "longitude"],
        unique=False,
        postgresql_where=sa.text("latitude IS NOT NULL AND is_active"),
    )
    op.add_column("payout_entries", sa.Column("booking_id", sa.UUID(), nullable=True))
    op.alter_column(
        "payout_entries",
        "entry_type",
        existing_type=sa.String(length=16),
        type_=sa.String(length=24),
        existing_nullable=False,
    )
    op.create_index(
        "ix_payout_entries_booking",
        "payout_entries",
        ["booking_id"],
        unique=False,
        postgresql_where=sa.text("booking_id IS NOT NULL"),
    )
    op.drop_constraint(op.f("ck_payout_entries_entry_type"), "payout_entries", type_="check")
    op.create_check_constraint("entry_type", "payout_entries", f"entry_type IN {NEW_ENTRY_TYPES}")
    op.create_index(
        "ix_tenants_name_trgm",
        "tenants",
        ["name"],
        unique=False,
        postgresql_using="gin",
        postgresql_ops={"name": "gin_trgm_ops"},
    )

    for table in DEFINER_READS:
        op.execute(
            f"CREATE POLICY schema_owner_reads ON {table} FOR SELECT TO CURRENT_USER USING (true)"
        )
    op.execute(SEARCH_FUNCTION)
    role = get_settings().database_app_role
    op.execute(f"REVOKE ALL ON FUNCTION {SEARCH_SIGNATURE} FROM PUBLIC")
    op.execute(f'GRANT EXECUTE ON FUNCTION {SEARCH_SIGNATURE} TO "{role}"')


def downgrade() -> None:
    op.execute(f"DROP FUNCTION {SEARCH_SIGNATURE}")
    for table in DEFINER_READS:
        op.execute(f"DROP POLICY schema_owner_reads ON {table}")
    op.drop_index("ix_tenants_name_trgm", table_name="tenants")
    op.execute(
        "DELETE FROM payout_entries WHERE entry_type IN "
        "('marketplace', 'commission', 'marketplace_refund', 'commission_refund')"
    )
    op.drop_constraint(op.f("ck_payout_entries_entry_type"), "payout_entries", type_="check")
    op.create_check_constraint("entry_type", "payout_entries", f"entry_type IN {OLD_ENTRY_TYPES}")
    op.alter_column(
        "payout_entries",
        "entry_type",
        existing_type=sa.String(length=24),
        type_=sa.String(length=16),
        existing_nullable=False,
    )
    op.drop_index("ix_payout_entries_booking", table_name="payout_entries")
    op.drop_column("payout_entries", "booking_id")
    op.drop_index("ix_locations_coordinates", table_name="locations")
    op.drop_index("ix_classes_name_trgm", table_name="classes")
    op.drop_constraint(op.f("ck_classes_marketplace_seats"), "classes", type_="check")
    op.drop_column("classes", "marketplace_seats")
    op.drop_column("classes", "is_private")
    op.drop_index("ix_class_schedules_location_start", table_name="class_schedules")
    op.drop_constraint(
        op.f("ck_class_schedules_marketplace_booked"), "class_schedules", type_="check"
    )
    op.drop_column("class_schedules", "marketplace_booked")
    op.drop_table("marketplace_terms")
    # pg_trgm stays: dropping an extension another object may have come to use is unsafe.
