"""Aggregate figures for the platform operator's console.

Row-level security confines the application to one studio at a time, which is right for
everything except the operator's totals across studios. These SECURITY DEFINER functions
return counts and sums only (no names, no addresses), and the application calls them only
for the platform operator.

Revision ID: 0020_platform_stats
Revises: 0019_notifications
Create Date: 2026-11-28 05:40:00+00:00
"""

from collections.abc import Sequence

from alembic import op

from studioloop.config import get_settings

revision: str = "0020_platform_stats"
down_revision: str | None = "0019_notifications"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute(
        """
        CREATE FUNCTION platform_tenant_stats(since timestamptz)
        RETURNS TABLE (tenant_id uuid, members bigint, bookings bigint, revenue bigint)
        LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public AS $$
          SELECT t.id,
                 (SELECT count(*) FROM user_tenant_roles r
                   WHERE r.tenant_id = t.id AND r.status = 'active'),
                 (SELECT count(*) FROM bookings b
                   WHERE b.tenant_id = t.id AND b.created_at >= since),
                 (SELECT coalesce(sum(p.amount - p.amount_refunded), 0) FROM payments p
                   WHERE p.tenant_id = t.id AND p.succeeded_at >= since)::bigint
            FROM tenants t
        $$
        """
    )
    op.execute(
        """
        CREATE FUNCTION platform_signups(since timestamptz) RETURNS bigint
        LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public AS $$
          SELECT count(*) FROM users WHERE created_at >= since
        $$
        """
    )
    role = get_settings().database_app_role
    for function in ("platform_tenant_stats(timestamptz)", "platform_signups(timestamptz)"):
        op.execute(f"REVOKE ALL ON FUNCTION {function} FROM PUBLIC")
        op.execute(f'GRANT EXECUTE ON FUNCTION {function} TO "{role}"')


def downgrade() -> None:
    op.execute("DROP FUNCTION platform_signups(timestamptz)")
    op.execute("DROP FUNCTION platform_tenant_stats(timestamptz)")
