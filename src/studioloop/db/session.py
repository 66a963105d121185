"""The request's database session: one transaction per request, committed by the request.

Services only flush. The transaction commits after the endpoint returns and before the
response is sent (`scope="function"`), so a commit failure still becomes an error response
and a client never sees success for a change that was not stored.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from studioloop.core.errors import AppError
from studioloop.db.engine import get_database


async def get_db_session() -> AsyncIterator[AsyncSession]:
    async with get_database().sessionmaker() as session:
        try:
            yield session
        except AppError as exc:
            if exc.keep_changes:
                await session.commit()
            else:
                await session.rollback()
            raise
        except BaseException:
            await session.rollback()
            raise
        else:
            await session.commit()


DbSession = Annotated[AsyncSession, Depends(get_db_session, scope="function")]

ON_REPLICA = "studioloop.on_replica"


async def get_read_session() -> AsyncIterator[AsyncSession]:
    """A session for public reads that may be a little stale (docs/scaling.md): on the
    read replica while it is close enough behind, else on the primary. Nothing is ever
    committed: its transaction is rolled back when the request ends, so a write made
    through it by mistake is lost on the primary and refused on the replica."""
    database = get_database()
    sessionmaker, on_replica = await database.read_sessionmaker()
    async with sessionmaker() as session:
        session.info[ON_REPLICA] = on_replica
        try:
            yield session
        except DBAPIError as error:
            if on_replica and error.connection_invalidated and database.replica is not None:
                database.replica.distrust()
            raise


ReadSession = Annotated[AsyncSession, Depends(get_read_session, scope="function")]
