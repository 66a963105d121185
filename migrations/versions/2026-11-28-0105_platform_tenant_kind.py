"""The platform's own tenant kind, which holds members' universal marketplace credits.

Revision ID: 0008_platform_tenant_kind
Revises: 0007_membership_classes_feeds
Create Date: 2026-11-28 01:05:00+00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0008_platform_tenant_kind"
down_revision: str | None = "0007_membership_classes_feeds"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

STUDIO_KINDS = "('studio', 'gym', 'creator', 'training_provider')"


def upgrade() -> None:
    op.drop_constraint(op.f("ck_tenants_kind"), "tenants", type_="check")
    op.create_check_constraint(
        op.f("ck_tenants_kind"),
        "tenants",
        "kind IN ('studio', 'gym', 'creator', 'training_provider', 'platform')",
    )


def downgrade() -> None:
    # The platform tenant and the universal credits it holds cannot exist in the older
    # schema; a downgrade removes them (their rows cascade with the tenant).
    op.execute("DELETE FROM tenants WHERE kind = 'platform'")
    op.drop_constraint(op.f("ck_tenants_kind"), "tenants", type_="check")
    op.create_check_constraint(op.f("ck_tenants_kind"), "tenants", f"kind IN {STUDIO_KINDS}")
