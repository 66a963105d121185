"""`citus_tenant_keys`: every tenant table's key and references carry tenant_id.

Citus distributes a table by one column (here tenant_id) and can only enforce a primary key
that includes it, and a foreign key between two distributed tables that pairs it on both
sides (docs/deploy.md, "Citus"). So the primary keys become `(id, tenant_id)` (id first: a
lookup by id alone still uses the index) and `chat_read_markers`'s `(tenant_id, room_id,
reader)`; and each reference from one tenant table to another becomes
`(x_id, tenant_id) -> (id, tenant_id)`, which also makes the database refuse a row that
points at another studio's row. `ON DELETE SET NULL` names the id column only (PostgreSQL
15+) so that it never clears the row's tenant_id. Behaviour is otherwise unchanged.

Revision ID: 0026_citus_tenant_keys
Revises: 0025_failed_jobs_index
Create Date: 2026-12-07 03:00:00+00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0026_citus_tenant_keys"
down_revision: str | None = "0025_failed_jobs_index"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = [
    "bookings",
    "chat_guests",
    "chat_messages",
    "chat_rooms",
    "checkin_scans",
    "class_schedules",
    "classes",
    "credit_accounts",
    "credit_lots",
    "credit_packages",
    "credit_transactions",
    "locations",
    "membership_audit",
    "membership_plans",
    "notification_preferences",
    "notification_templates",
    "payment_events",
    "payment_refunds",
    "payments",
    "payout_entries",
    "provider_credentials",
    "receipts",
    "rooms",
    "schedule_series",
    "subscriptions",
    "user_tenant_roles",
]

# (table, column, referenced table, ON DELETE)
FOREIGN_KEYS = [
    ("bookings", "class_schedule_id", "class_schedules", "CASCADE"),
    ("chat_messages", "room_id", "chat_rooms", "CASCADE"),
    ("chat_messages", "sender_guest_id", "chat_guests", "CASCADE"),
    ("chat_read_markers", "room_id", "chat_rooms", "CASCADE"),
    ("chat_rooms", "opened_by_guest_id", "chat_guests", "CASCADE"),
    ("checkin_scans", "booking_id", "bookings", "CASCADE"),
    ("class_schedules", "class_id", "classes", "CASCADE"),
    ("class_schedules", "location_id", "locations", "SET NULL"),
    ("class_schedules", "room_id", "rooms", "SET NULL"),
    ("class_schedules", "series_id", "schedule_series", "SET NULL"),
    ("classes", "location_id", "locations", "SET NULL"),
    ("classes", "room_id", "rooms", "SET NULL"),
    ("credit_lots", "account_id", "credit_accounts", "CASCADE"),
    ("credit_lots", "package_id", "credit_packages", "SET NULL"),
    ("credit_transactions", "account_id", "credit_accounts", "CASCADE"),
    ("credit_transactions", "lot_id", "credit_lots", "SET NULL"),
    ("payment_events", "payment_id", "payments", "CASCADE"),
    ("payment_refunds", "payment_id", "payments", "CASCADE"),
    ("payments", "booking_id", "bookings", "SET NULL"),
    ("payments", "credit_lot_id", "credit_lots", "SET NULL"),
    ("payments", "package_id", "credit_packages", "SET NULL"),
    ("payments", "plan_id", "membership_plans", "SET NULL"),
    ("payments", "subscription_id", "subscriptions", "SET NULL"),
    ("payout_entries", "payment_id", "payments", "SET NULL"),
    ("receipts", "payment_id", "payments", "CASCADE"),
    ("rooms", "location_id", "locations", "CASCADE"),
    ("schedule_series", "class_id", "classes", "CASCADE"),
    ("schedule_series", "location_id", "locations", "SET NULL"),
    ("schedule_series", "room_id", "rooms", "SET NULL"),
    ("subscriptions", "next_plan_id", "membership_plans", "SET NULL"),
    ("subscriptions", "plan_id", "membership_plans", "RESTRICT"),
]


def _name(table: str, column: str, referred: str) -> str:
    return f"fk_{table}_{column}_{referred}"


def _drop_foreign_keys() -> None:
    for table, column, referred, _action in FOREIGN_KEYS:
        op.drop_constraint(_name(table, column, referred), table, type_="foreignkey")


def _set_primary_key(table: str, columns: str) -> None:
    op.execute(
        f"ALTER TABLE {table} DROP CONSTRAINT pk_{table}, "
        f"ADD CONSTRAINT pk_{table} PRIMARY KEY ({columns})"
    )


def upgrade() -> None:
    _drop_foreign_keys()
    for table in TABLES:
        _set_primary_key(table, "id, tenant_id")
    _set_primary_key("chat_read_markers", "tenant_id, room_id, reader")
    for table, column, referred, action in FOREIGN_KEYS:
        on_delete = f"SET NULL ({column})" if action == "SET NULL" else action
        op.execute(
            f"ALTER TABLE {table} ADD CONSTRAINT {_name(table, column, referred)} "
            f"FOREIGN KEY ({column}, tenant_id) REFERENCES {referred} (id, tenant_id) "
            f"ON DELETE {on_delete}"
        )


def downgrade() -> None:
    _drop_foreign_keys()
    for table in TABLES:
        _set_primary_key(table, "id")
    _set_primary_key("chat_read_markers", "room_id, reader")
    for table, column, referred, action in FOREIGN_KEYS:
        op.execute(
            f"ALTER TABLE {table} ADD CONSTRAINT {_name(table, column, referred)} "
            f"FOREIGN KEY ({column}) REFERENCES {referred} (id) ON DELETE {action}"
        )
