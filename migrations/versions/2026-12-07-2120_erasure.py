"""`erasure`: a person's data erased on request (GDPR / POPIA), and the record that it was.

- `users.status` may be `erased`: the row stays (bookings, the ledger and payments point at
  it) with every personal field anonymised, and it can never sign in again.
- `erasure_records`: when an account was erased, by whom and why, and how many rows of each
  kind were touched; never the erased data. Platform-level, like `users` (an erasure spans
  every studio), and append-only (the application may not UPDATE or DELETE it).
- Two SECURITY DEFINER functions, because an erasure crosses studios and touches two
  append-only tables the application may not update:
  `erasure_tenants(user, email)` names the studios holding anything of the person (the
  service then erases there, one studio at a time, under row-level security), and
  `erase_user_history(user, email, name, body)` blanks their chat messages (rows kept, so
  a room's `seq` and counts stay) and their chat guest records, and drops the name, email
  and phone from the membership history's before/after.

Revision ID: 0036_erasure
Revises: 0035_payment_lines
Create Date: 2026-12-07 21:20:00+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from studioloop.config import get_settings

revision: str = "0036_erasure"
down_revision: str | None = "0035_payment_lines"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# As for the marketplace's search function: row-level security binds the schema owner too, so
# the functions' owner gets a policy of its own on what they read or blank. The
# application's role is not the owner: nothing changes for requests.
OWNER_FINDS = (
    "credit_accounts",
    "subscriptions",
    "member_notes",
    "chat_rooms",
    "notification_preferences",
    "notifications",
)
OWNER_ERASES = ("chat_messages", "chat_guests", "membership_audit")

TENANTS_SIGNATURE = "erasure_tenants(uuid, text)"
HISTORY_SIGNATURE = "erase_user_history(uuid, text, text, text)"

TENANTS_FUNCTION = """
CREATE FUNCTION erasure_tenants(p_user uuid, p_email text)
RETURNS SETOF uuid
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public AS $$
  SELECT tenant_id FROM user_tenant_roles WHERE user_id = p_user OR invited_email = p_email
  UNION SELECT tenant_id FROM bookings WHERE user_id = p_user
  UNION SELECT tenant_id FROM credit_accounts WHERE user_id = p_user
  UNION SELECT tenant_id FROM payments WHERE user_id = p_user
  UNION SELECT tenant_id FROM subscriptions WHERE user_id = p_user
  UNION SELECT tenant_id FROM member_notes WHERE user_id = p_user
  UNION SELECT tenant_id FROM chat_rooms WHERE opened_by_user_id = p_user
  UNION SELECT tenant_id FROM chat_guests WHERE email = p_email
  UNION SELECT tenant_id FROM notification_preferences WHERE user_id = p_user
  UNION SELECT tenant_id FROM notifications
         WHERE tenant_id IS NOT NULL AND (user_id = p_user OR recipient = p_email)
$$
"""

HISTORY_FUNCTION = """
CREATE FUNCTION erase_user_history(p_user uuid, p_email text, p_name text, p_body text)
RETURNS TABLE (chat_messages bigint, chat_guests bigint, membership_history bigint)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public AS $fn$
DECLARE
  v_messages bigint;
  v_guests bigint;
  v_history bigint;
BEGIN
  UPDATE chat_messages m
     SET body = p_body, sender_name = p_name, attachment_key = NULL, attachment_name = NULL,
         attachment_type = NULL, attachment_size = NULL
   WHERE m.sender_user_id = p_user
      OR m.sender_guest_id IN (SELECT g.id FROM chat_guests g WHERE g.email = p_email);
  GET DIAGNOSTICS v_messages = ROW_COUNT;
  UPDATE chat_guests g SET name = p_name, email = 'erased-' || g.id || '@erased.invalid'
   WHERE g.email = p_email;
  GET DIAGNOSTICS v_guests = ROW_COUNT;
  UPDATE membership_audit a
     SET before = CASE WHEN jsonb_typeof(a.before) = 'object'
                       THEN a.before - ARRAY['email', 'first_name', 'last_name', 'phone']
                       ELSE a.before END,
         after = CASE WHEN jsonb_typeof(a.after) = 'object'
                      THEN a.after - ARRAY['email', 'first_name', 'last_name', 'phone']
                      ELSE a.after END
   WHERE a.user_id = p_user
      OR a.membership_id IN (SELECT r.id FROM user_tenant_roles r WHERE r.user_id = p_user)
      OR a.before ->> 'email' = p_email
      OR a.after ->> 'email' = p_email;
  GET DIAGNOSTICS v_history = ROW_COUNT;
  RETURN QUERY SELECT v_messages, v_guests, v_history;
END
$fn$
"""


def upgrade() -> None:
    op.drop_constraint(op.f("ck_users_status"), "users", type_="check")
    op.create_check_constraint(
        "status", "users", "status IN ('active', 'inactive', 'banned', 'erased')"
    )
    op.create_table(
        "erasure_records",
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("user_id", sa.UUID(), nullable=False),
        sa.Column("requested_by", sa.String(length=64), nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=True),
        sa.Column(
            "counts",
            sa.dialects.postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column(
            "completed_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_erasure_records_user_id_users"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_erasure_records")),
    )
    op.create_index(op.f("ix_erasure_records_user_id"), "erasure_records", ["user_id"])
    role = get_settings().database_app_role
    op.execute(f'REVOKE UPDATE, DELETE ON erasure_records FROM "{role}"')

    for table in OWNER_FINDS:
        op.execute(
            f"CREATE POLICY schema_owner_finds ON {table} FOR SELECT TO CURRENT_USER USING (true)"
        )
    for table in OWNER_ERASES:
        op.execute(
            f"CREATE POLICY schema_owner_erases ON {table} FOR ALL TO CURRENT_USER "
            "USING (true) WITH CHECK (true)"
        )
    op.execute(TENANTS_FUNCTION)
    op.execute(HISTORY_FUNCTION)
    for function in (TENANTS_SIGNATURE, HISTORY_SIGNATURE):
        op.execute(f"REVOKE ALL ON FUNCTION {function} FROM PUBLIC")
        op.execute(f'GRANT EXECUTE ON FUNCTION {function} TO "{role}"')


def downgrade() -> None:
    op.execute(f"DROP FUNCTION {HISTORY_SIGNATURE}")
    op.execute(f"DROP FUNCTION {TENANTS_SIGNATURE}")
    for table in OWNER_ERASES:
        op.execute(f"DROP POLICY schema_owner_erases ON {table}")
    for table in OWNER_FINDS:
        op.execute(f"DROP POLICY schema_owner_finds ON {table}")
    op.drop_index(op.f("ix_erasure_records_user_id"), table_name="erasure_records")
    op.drop_table("erasure_records")
    # An erased account stays unusable: inactive, with its anonymised fields.
    op.execute("UPDATE users SET status = 'inactive' WHERE status = 'erased'")
    op.drop_constraint(op.f("ck_users_status"), "users", type_="check")
    op.create_check_constraint("status", "users", "status IN ('active', 'inactive', 'banned')")
