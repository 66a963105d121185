"""Where the database is: the owner's URL (migrations) and the app's (everything else)."""

from __future__ import annotations

from sqlalchemy.engine import make_url

from studioloop.config import Settings
from studioloop.db.embedded import start_embedded_server


def owner_database_url(settings: Settings) -> str:
    """The URL of the role that owns the schema; starts the embedded server when needed."""
    if settings.database_url is None:
        return start_embedded_server(
            settings.data_dir,
            wal_archive_dir=settings.wal_archive_dir,
            wal_archive_timeout=settings.wal_archive_timeout,
        )
    return normalise_url(settings.database_url)


def normalise_url(url: str) -> str:
    """Accept plain `postgresql://` URLs and use the psycopg 3 driver for them."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres", "postgresql+psycopg2", "postgresql+asyncpg"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


def libpq_conninfo(url: str) -> str:
    """A libpq URL (for psycopg directly, e.g. procrastinate's pool)."""
    parsed = make_url(url).set(drivername="postgresql")
    return parsed.render_as_string(hide_password=False)
