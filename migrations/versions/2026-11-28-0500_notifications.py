"""Notifications on every channel: the email log becomes `notifications`; preferences,
opt-outs, push subscriptions and studios' own templates.

Revision ID: 0019_notifications
Revises: 0018_subscription_upgrades
Create Date: 2026-11-28 05:00:00+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0019_notifications"
down_revision: str | None = "0018_subscription_upgrades"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TENANT = "NULLIF(current_setting('app.tenant_id', true), '')::uuid"
USER = "NULLIF(current_setting('app.user_id', true), '')::uuid"
IN_TENANT = f"tenant_id = {TENANT}"
# Platform messages (sign-up codes) are seen only outside any studio's context; a member
# sees their own messages from every studio; the platform operator's tools see all.
PLATFORM_VIEW = "current_setting('app.platform_view', true) = 'on'"
NOTIFICATIONS_VISIBLE = (
    f"(tenant_id IS NULL AND {TENANT} IS NULL) OR ({IN_TENANT}) "
    f"OR (user_id = {USER}) OR ({PLATFORM_VIEW})"
)
NOTIFICATIONS_WRITABLE = f"tenant_id IS NULL OR {IN_TENANT}"

STATUSES = "('queued', 'sent', 'delivered', 'read', 'recorded', 'failed', 'skipped')"
OLD_STATUSES = "('queued', 'sent', 'recorded', 'failed')"


def _isolate(table: str, using: str, check: str) -> None:
    op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
    op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
    op.execute(f"CREATE POLICY tenant_isolation ON {table} USING ({using}) WITH CHECK ({check})")


def upgrade() -> None:
    op.rename_table("email_messages", "notifications")
    op.alter_column("notifications", "to_address", new_column_name="recipient")
    op.alter_column("notifications", "category", new_column_name="event")
    op.alter_column("notifications", "subject", nullable=True)
    op.execute("ALTER TABLE notifications RENAME CONSTRAINT pk_email_messages TO pk_notifications")
    op.execute("ALTER INDEX ix_email_messages_created_at RENAME TO ix_notifications_created_at")
    op.execute("ALTER INDEX ix_email_messages_to_address RENAME TO ix_notifications_recipient")
    op.execute("ALTER TABLE notifications DROP CONSTRAINT ck_email_messages_status")
    op.create_check_constraint(
        op.f("ck_notifications_status"), "notifications", f"status IN {STATUSES}"
    )
    op.create_table_comment(
        "notifications",
        "Outgoing messages (email, WhatsApp, SMS, push) and their delivery state",
        existing_comment="Outgoing email and its delivery state",
    )
    op.add_column("notifications", sa.Column("tenant_id", sa.UUID(), nullable=True))
    op.add_column("notifications", sa.Column("user_id", sa.UUID(), nullable=True))
    op.add_column(
        "notifications",
        sa.Column(
            "channel", sa.String(length=16), server_default=sa.text("'email'"), nullable=False
        ),
    )
    op.add_column(
        "notifications",
        sa.Column(
            "payload",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
    )
    op.add_column(
        "notifications",
        sa.Column("critical", sa.Boolean(), server_default=sa.text("false"), nullable=False),
    )
    op.add_column("notifications", sa.Column("dedup_key", sa.String(length=200), nullable=True))
    op.add_column("notifications", sa.Column("fallback_from_id", sa.UUID(), nullable=True))
    for column in ("send_after", "not_after", "delivered_at", "read_at"):
        op.add_column("notifications", sa.Column(column, sa.DateTime(timezone=True), nullable=True))
    op.create_check_constraint(
        op.f("ck_notifications_channel"),
        "notifications",
        "channel IN ('email', 'whatsapp', 'sms', 'push')",
    )
    op.create_foreign_key(
        op.f("fk_notifications_tenant_id_tenants"),
        "notifications",
        "tenants",
        ["tenant_id"],
        ["id"],
        ondelete="CASCADE",
    )
    op.create_foreign_key(
        op.f("fk_notifications_user_id_users"),
        "notifications",
        "users",
        ["user_id"],
        ["id"],
        ondelete="SET NULL",
    )
    op.create_foreign_key(
        op.f("fk_notifications_fallback_from_id_notifications"),
        "notifications",
        "notifications",
        ["fallback_from_id"],
        ["id"],
        ondelete="SET NULL",
    )
    op.create_index(
        "uq_notifications_dedup_key",
        "notifications",
        ["dedup_key"],
        unique=True,
        postgresql_where=sa.text("dedup_key IS NOT NULL"),
    )
    op.create_index(
        "ix_notifications_history", "notifications", ["tenant_id", "user_id", "created_at"]
    )
    op.create_index(
        op.f("ix_notifications_provider_message_id"), "notifications", ["provider_message_id"]
    )
    op.drop_constraint(
        "fk_email_attachments_email_id_email_messages", "email_attachments", type_="foreignkey"
    )
    op.create_foreign_key(
        op.f("fk_email_attachments_email_id_notifications"),
        "email_attachments",
        "notifications",
        ["email_id"],
        ["id"],
        ondelete="CASCADE",
    )
    _isolate("notifications", NOTIFICATIONS_VISIBLE, NOTIFICATIONS_WRITABLE)

    op.create_table(
        "notification_preferences",
        sa.Column("tenant_id", sa.UUID(), nullable=False),
        sa.Column("user_id", sa.UUID(), nullable=False),
        sa.Column(
            "channels",
            postgresql.ARRAY(sa.String(length=16)),
            server_default=sa.text("'{}'::varchar[]"),
            nullable=False,
        ),
        sa.Column("booking_updates", sa.Boolean(), server_default=sa.text("true"), nullable=False),
        sa.Column("reminders", sa.Boolean(), server_default=sa.text("true"), nullable=False),
        sa.Column("reminder_hours", postgresql.ARRAY(sa.Integer()), nullable=True),
        sa.Column("marketing", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("quiet_hours_start", sa.Time(), nullable=True),
        sa.Column("quiet_hours_end", sa.Time(), nullable=True),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.CheckConstraint(
            "(quiet_hours_start IS NULL) = (quiet_hours_end IS NULL)",
            name=op.f("ck_notification_preferences_quiet_hours_pair"),
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_notification_preferences_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_notification_preferences_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notification_preferences")),
        sa.UniqueConstraint(
            "tenant_id", "user_id", name=op.f("uq_notification_preferences_tenant_id_user_id")
        ),
    )
    _isolate("notification_preferences", IN_TENANT, IN_TENANT)

    op.create_table(
        "channel_opt_outs",
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("address", sa.String(length=320), nullable=False),
        sa.Column("reason", sa.String(length=64), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("channel", "address", name=op.f("pk_channel_opt_outs")),
    )
    op.create_table(
        "push_subscriptions",
        sa.Column("user_id", sa.UUID(), nullable=False),
        sa.Column("endpoint", sa.Text(), nullable=False),
        sa.Column("p256dh", sa.String(length=200), nullable=False),
        sa.Column("auth", sa.String(length=100), nullable=False),
        sa.Column("user_agent", sa.String(length=300), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("last_sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_push_subscriptions_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_push_subscriptions")),
        sa.UniqueConstraint("endpoint", name=op.f("uq_push_subscriptions_endpoint")),
    )
    op.create_index(
        op.f("ix_push_subscriptions_user_id"), "push_subscriptions", ["user_id"], unique=False
    )
    op.create_table(
        "notification_templates",
        sa.Column("tenant_id", sa.UUID(), nullable=False),
        sa.Column("event", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("locale", sa.String(length=16), server_default=sa.text("'en'"), nullable=False),
        sa.Column("subject", sa.String(length=255), nullable=True),
        sa.Column("body_text", sa.Text(), nullable=False),
        sa.Column("body_html", sa.Text(), nullable=True),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.CheckConstraint(
            "kind IN ('email', 'text')", name=op.f("ck_notification_templates_kind")
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_notification_templates_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notification_templates")),
        sa.UniqueConstraint(
            "tenant_id",
            "event",
            "kind",
            "locale",
            name=op.f("uq_notification_templates_tenant_id_event_kind_locale"),
        ),
    )
    _isolate("notification_templates", IN_TENANT, IN_TENANT)


def downgrade() -> None:
    op.drop_table("notification_templates")
    op.drop_index(op.f("ix_push_subscriptions_user_id"), table_name="push_subscriptions")
    op.drop_table("push_subscriptions")
    op.drop_table("channel_opt_outs")
    op.drop_table("notification_preferences")

    op.execute("DROP POLICY tenant_isolation ON notifications")
    op.execute("ALTER TABLE notifications NO FORCE ROW LEVEL SECURITY")
    op.execute("ALTER TABLE notifications DISABLE ROW LEVEL SECURITY")
    op.drop_constraint(
        op.f("fk_email_attachments_email_id_notifications"), "email_attachments", type_="foreignkey"
    )
    # Messages on other channels have no place in an email log.
    op.execute("DELETE FROM notifications WHERE channel <> 'email'")
    op.execute("UPDATE notifications SET status = 'sent' WHERE status IN ('delivered', 'read')")
    op.execute("UPDATE notifications SET status = 'failed' WHERE status = 'skipped'")
    op.execute("UPDATE notifications SET subject = '' WHERE subject IS NULL")
    op.drop_index(op.f("ix_notifications_provider_message_id"), table_name="notifications")
    op.drop_index("ix_notifications_history", table_name="notifications")
    op.drop_index("uq_notifications_dedup_key", table_name="notifications")
    for name in ("fallback_from_id_notifications", "user_id_users", "tenant_id_tenants"):
        op.drop_constraint(op.f(f"fk_notifications_{name}"), "notifications", type_="foreignkey")
    op.drop_constraint(op.f("ck_notifications_channel"), "notifications", type_="check")
    for column in (
        "read_at",
        "delivered_at",
        "not_after",
        "send_after",
        "fallback_from_id",
        "dedup_key",
        "critical",
        "payload",
        "channel",
        "user_id",
        "tenant_id",
    ):
        op.drop_column("notifications", column)
    op.create_table_comment(
        "notifications",
        "Outgoing email and its delivery state",
        existing_comment="Outgoing messages (email, WhatsApp, SMS, push) and their delivery state",
    )
    op.drop_constraint(op.f("ck_notifications_status"), "notifications", type_="check")
    op.execute(
        f"ALTER TABLE notifications ADD CONSTRAINT ck_email_messages_status CHECK (status IN {OLD_STATUSES})"
    )
    op.execute("ALTER INDEX ix_notifications_recipient RENAME TO ix_email_messages_to_address")
    op.execute("ALTER INDEX ix_notifications_created_at RENAME TO ix_email_messages_created_at")
    op.execute("ALTER TABLE notifications RENAME CONSTRAINT pk_notifications TO pk_email_messages")
    op.alter_column("notifications", "subject", nullable=False)
    op.alter_column("notifications", "event", new_column_name="category")
    op.alter_column("notifications", "recipient", new_column_name="to_address")
    op.rename_table("notifications", "email_messages")
    op.create_foreign_key(
        "fk_email_attachments_email_id_email_messages",
        "email_attachments",
        "email_messages",
        ["email_id"],
        ["id"],
        ondelete="CASCADE",
    )
