"""An index of failed jobs by task, for /metrics.

Every scrape counts the failed jobs by task; procrastinate keeps finished jobs, so without
an index that count reads the whole jobs table. Failed jobs are few: a partial index on
them keeps the count to a few pages. The index is ours, not procrastinate's: its schema
(migration 0002) is left as it ships.

Revision ID: 0025_failed_jobs_index
Revises: 0024_booking_attempt
Create Date: 2026-12-07 02:30:00+00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0025_failed_jobs_index"
down_revision: str | None = "0024_booking_attempt"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute(
        "CREATE INDEX ix_procrastinate_jobs_failed_task ON procrastinate_jobs (task_name) "
        "WHERE status = 'failed'"
    )


def downgrade() -> None:
    op.execute("DROP INDEX ix_procrastinate_jobs_failed_task")
