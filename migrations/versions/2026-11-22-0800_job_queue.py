"""Job queue: procrastinate's schema (tables, functions, triggers) at version 3.10.0.

The SQL is a frozen copy of `procrastinate.schema.SchemaManager.get_schema()` from that
release, so this migration creates the same thing whatever procrastinate is installed.
Upgrading procrastinate past a schema change means a new migration that applies the
release's own migration files from `procrastinate/sql/migrations/`.

Revision ID: 0002_job_queue
Revises: 0001_initial
Create Date: 2026-11-22 08:00:00+00:00
"""

from collections.abc import Sequence
from pathlib import Path

from alembic import op

revision: str = "0002_job_queue"
down_revision: str | None = "0001_initial"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SCHEMA_SQL = Path(__file__).resolve().parent.parent / "sql" / "procrastinate_3.10.0.sql"


def upgrade() -> None:
    op.execute(SCHEMA_SQL.read_text(encoding="utf-8"))


def downgrade() -> None:
    op.execute(
        """
        DO $$
        DECLARE item record;
        BEGIN
          FOR item IN SELECT tablename FROM pg_tables
                      WHERE schemaname = 'public' AND tablename LIKE 'procrastinate\\_%'
          LOOP
            EXECUTE format('DROP TABLE IF EXISTS %I CASCADE', item.tablename);
          END LOOP;
          FOR item IN SELECT p.oid::regprocedure AS signature FROM pg_proc p
                      JOIN pg_namespace n ON n.oid = p.pronamespace
                      WHERE n.nspname = 'public' AND p.proname LIKE 'procrastinate\\_%'
          LOOP
            EXECUTE format('DROP FUNCTION IF EXISTS %s CASCADE', item.signature);
          END LOOP;
          FOR item IN SELECT t.typname FROM pg_type t
                      JOIN pg_namespace n ON n.oid = t.typnamespace
                      WHERE n.nspname = 'public' AND t.typname LIKE 'procrastinate\\_%'
                        AND t.typtype IN ('e', 'c')
          LOOP
            EXECUTE format('DROP TYPE IF EXISTS %I CASCADE', item.typname);
          END LOOP;
        END $$
        """
    )
