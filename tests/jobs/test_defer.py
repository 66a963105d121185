"""Jobs deferred in the request's transaction: the row procrastinate would write, or none."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from procrastinate import exceptions as procrastinate_errors

from studioloop.booking.job_names import ANNOUNCE_BOOKING
from studioloop.booking.tasks import announce_booking
from studioloop.db import raw
from studioloop.db.engine import Database
from studioloop.jobs.defer import defer_in_transaction, send_deferred
from tests.conftest import Owner

JOB_COLUMNS = "queue_name, task_name, priority, lock, queueing_lock, args, scheduled_at, status"


async def test_a_deferred_job_is_the_row_procrastinate_writes(
    database: Database, owner_db: Owner
) -> None:
    later = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)
    async with database.sessionmaker() as session, session.begin():
        ours = await defer_in_transaction(
            session, ANNOUNCE_BOOKING, schedule_at=later, booking_id="b", event="e", tenant_id="t"
        )
        connection = await session.connection()
        driver = (await connection.get_raw_connection()).driver_connection
        theirs = await announce_booking.configure(connection=driver, schedule_at=later).defer_async(
            booking_id="b", event="e", tenant_id="t"
        )
    rows = owner_db.rows(
        f"SELECT {JOB_COLUMNS} FROM procrastinate_jobs WHERE id IN (%s, %s) ORDER BY id",
        ours,
        theirs,
    )
    assert len(rows) == 2 and rows[0] == rows[1]
    assert rows[0][1] == "announce_booking"
    assert rows[0][5] == {"booking_id": "b", "event": "e", "tenant_id": "t"}
    assert rows[0][6] == later and rows[0][7] == "todo"


async def test_a_job_rolls_back_with_its_transaction(database: Database, owner_db: Owner) -> None:
    async with database.sessionmaker() as session:
        await defer_in_transaction(
            session, ANNOUNCE_BOOKING, booking_id="b", event="e", tenant_id="t"
        )
        await session.rollback()
    assert owner_db.value("SELECT count(*) FROM procrastinate_jobs") == 0


async def test_a_queueing_lock_refuses_a_second_job(database: Database, owner_db: Owner) -> None:
    async with database.sessionmaker() as session, session.begin():
        await defer_in_transaction(
            session, ANNOUNCE_BOOKING, queueing_lock="one", booking_id="b", event="e", tenant_id="t"
        )
    with pytest.raises(procrastinate_errors.AlreadyEnqueued):
        async with database.sessionmaker() as session, session.begin():
            await defer_in_transaction(
                session,
                ANNOUNCE_BOOKING,
                queueing_lock="one",
                booking_id="c",
                event="e",
                tenant_id="t",
            )
    args = owner_db.value("SELECT args FROM procrastinate_jobs WHERE queueing_lock = 'one'")
    assert args["booking_id"] == "b"


async def test_a_job_sent_in_a_pipeline_is_the_same_row(
    database: Database, owner_db: Owner
) -> None:
    """`send_deferred` (used inside the booking's pipeline) writes what
    `defer_in_transaction` writes; a task with a queueing lock of its own is refused,
    since its conflict could not be told from the block's other errors."""
    async with database.sessionmaker() as session, session.begin():
        await defer_in_transaction(
            session, ANNOUNCE_BOOKING, booking_id="b", event="e", tenant_id="t"
        )
        async with raw.pipeline(session):
            await send_deferred(session, ANNOUNCE_BOOKING, booking_id="b", event="e", tenant_id="t")
    rows = owner_db.rows(f"SELECT {JOB_COLUMNS} FROM procrastinate_jobs ORDER BY id")
    assert len(rows) == 2 and rows[0] == rows[1]

    async with database.sessionmaker() as session, session.begin():
        with pytest.raises(ValueError, match="queueing lock"):
            await send_deferred(session, "close_finished_classes")


async def test_a_name_no_task_has_is_refused(database: Database, owner_db: Owner) -> None:
    async with database.sessionmaker() as session, session.begin():
        with pytest.raises(procrastinate_errors.TaskNotFound):
            await defer_in_transaction(session, "announce_bookings", booking_id="b")
    assert owner_db.value("SELECT count(*) FROM procrastinate_jobs") == 0
