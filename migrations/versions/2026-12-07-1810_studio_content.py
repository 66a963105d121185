"""`studio_content`: photos for classes, a bio and a photo for each teacher.

A studio's own description, contact, opening hours and photos live in its settings (the
tenants row); a class's photo on the class, and what members read about a teacher (bio,
photo) on that teacher's role at the studio, since a teacher may teach at several studios.
A photo is a small JSON object naming its resized WebP copies in file storage (storage/):
`{"id": "<32 hex>", "widths": [400, 800, 1600], "width": w, "height": h}`.

Revision ID: 0032_studio_content
Revises: 0031_owner_tools
Create Date: 2026-12-07 18:10:00+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0032_studio_content"
down_revision: str | None = "0031_owner_tools"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("classes", sa.Column("photo", postgresql.JSONB(), nullable=True))
    op.add_column("user_tenant_roles", sa.Column("bio", sa.Text(), nullable=True))
    op.add_column("user_tenant_roles", sa.Column("photo", postgresql.JSONB(), nullable=True))


def downgrade() -> None:
    op.drop_column("user_tenant_roles", "photo")
    op.drop_column("user_tenant_roles", "bio")
    op.drop_column("classes", "photo")
