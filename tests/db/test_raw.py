"""Plain SQL on the session's connection shares its transaction, savepoints included."""

from __future__ import annotations

import contextlib

from sqlalchemy import text

from studioloop.db import raw
from studioloop.db.engine import Database


class _Undo(Exception):
    pass


async def test_plain_sql_follows_the_session_transaction_and_savepoints(
    database: Database,
) -> None:
    async with database.sessionmaker() as session:
        await raw.execute(session, "CREATE TEMP TABLE raw_probe (v int) ON COMMIT DROP")
        await raw.execute(session, "INSERT INTO raw_probe VALUES (1)")
        with contextlib.suppress(_Undo):
            async with session.begin_nested():
                # The first statement inside the savepoint must really be inside it.
                await raw.execute(session, "INSERT INTO raw_probe VALUES (2)")
                raise _Undo
        await raw.execute(session, "INSERT INTO raw_probe VALUES (3)")
        rows = await raw.fetch_all(session, "SELECT v FROM raw_probe ORDER BY v")
        assert [row.v for row in rows] == [1, 3]
        await session.rollback()

        # A new transaction of the same session (maybe on another pooled connection): the
        # remembered connection is not reused blindly, plain SQL runs in the session's own.
        for _ in range(3):
            mine = await session.scalar(text("SELECT pg_current_xact_id()::text"))
            plain = await raw.fetch_one(session, "SELECT pg_current_xact_id()::text AS id")
            assert plain.id == mine
            await session.commit()
