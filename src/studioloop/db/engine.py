"""Engines and the session factory, created once per process.

The app connects as the owner's URL but switches to DATABASE_APP_ROLE as the connection
starts (libpq `options=-c role=...`), unless APP_DATABASE_URL logs in as that role directly.
Either way every query runs under row-level security; only migrations run as the owner.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from studioloop.config import Settings
from studioloop.db.urls import normalise_url, owner_database_url


@dataclass
class Database:
    owner_url: str
    engine: AsyncEngine
    sessionmaker: async_sessionmaker[AsyncSession]

    async def dispose(self) -> None:
        await self.engine.dispose()


def create_database(settings: Settings, owner_url: str | None = None) -> Database:
    owner_url = owner_url or owner_database_url(settings)
    connect_args: dict[str, object] = {}
    if settings.app_database_url:
        app_url = normalise_url(settings.app_database_url)
    else:
        app_url = owner_url
        connect_args["options"] = f"-c role={settings.database_app_role}"
    engine = create_async_engine(
        app_url,
        pool_size=settings.database_pool_size,
        max_overflow=settings.database_max_overflow,
        pool_pre_ping=True,
        connect_args=connect_args,
    )
    sessionmaker = async_sessionmaker(engine, expire_on_commit=False, autoflush=True)
    return Database(owner_url=owner_url, engine=engine, sessionmaker=sessionmaker)


_database: Database | None = None


def set_database(database: Database | None) -> None:
    """Install the process's database (done once at start-up, and by tests)."""
    global _database
    _database = database


def get_database() -> Database:
    if _database is None:
        raise RuntimeError("The database has not been initialised in this process.")
    return _database
