"""The request's database session: one transaction per request, committed by the request.

Services only flush. The transaction commits after the endpoint returns and before the
response is sent (`scope="function"`), so a commit failure still becomes an error response
and a client never sees success for a change that was not stored.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends
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
