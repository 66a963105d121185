"""`citus_unique_keys`: the last three unique keys without tenant_id get it.

Citus can only enforce a unique constraint on a distributed table if it includes the
distribution column (docs/deploy.md, "Citus"). These three were unique on their own, but
nothing relied on that across studios: `chat_messages.seq` comes from an identity
sequence, a receipt belongs to one payment of the same studio, and a provider's payment
reference is looked up within the studio named by the webhook's metadata. Each becomes the
same constraint with tenant_id in front.

Revision ID: 0027_citus_unique_keys
Revises: 0026_citus_tenant_keys
Create Date: 2026-12-07 03:10:00+00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0027_citus_unique_keys"
down_revision: str | None = "0026_citus_tenant_keys"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# (table, old constraint, its columns, new constraint)
UNIQUE_KEYS = [
    ("chat_messages", "uq_chat_messages_seq", ["seq"], "uq_chat_messages_tenant_id_seq"),
    ("receipts", "uq_receipts_payment_id", ["payment_id"], "uq_receipts_tenant_id_payment_id"),
    (
        "payments",
        "uq_payments_provider_provider_reference",
        ["provider", "provider_reference"],
        "uq_payments_tenant_id_provider_provider_reference",
    ),
]


def upgrade() -> None:
    for table, old, columns, new in UNIQUE_KEYS:
        op.create_unique_constraint(new, table, ["tenant_id", *columns])
        op.drop_constraint(old, table, type_="unique")


def downgrade() -> None:
    for table, old, columns, new in UNIQUE_KEYS:
        op.create_unique_constraint(old, table, columns)
        op.drop_constraint(new, table, type_="unique")
