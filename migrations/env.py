"""Alembic environment: runs as the schema owner, synchronously, over psycopg 3."""

from __future__ import annotations

from logging.config import fileConfig
from typing import Any

from alembic import context
from sqlalchemy import create_engine, pool

from studioloop.config import get_settings
from studioloop.db.urls import owner_database_url
from studioloop.models import Base
from studioloop.usage.models import EVENT_PARTITION_PREFIX as PARTITIONS

config = context.config
if config.config_file_name is not None and not config.attributes.get("skip_logging_config"):
    fileConfig(config.config_file_name, disable_existing_loggers=False)

target_metadata = Base.metadata


def include_object(
    obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any
) -> bool:
    # procrastinate's tables are created from its own SQL (see the jobs migration) and are
    # not part of our models; without this, autogenerate would propose dropping them.
    if type_ == "table" and name is not None and name.startswith("procrastinate_"):
        return False
    # usage_events' monthly partitions are made by the usage domain's maintenance job.
    if type_ == "table" and reflected and name is not None and name.startswith(PARTITIONS):
        return False
    if reflected and compare_to is None and type_ in {"index", "unique_constraint"}:
        table = getattr(obj, "table", None)
        if table is not None and str(table.name).startswith("procrastinate_"):
            return False
    return True


def run_migrations_online() -> None:
    url = config.attributes.get("url") or owner_database_url(get_settings())
    engine = create_engine(url, poolclass=pool.NullPool)
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            include_object=include_object,
            compare_type=True,
            transaction_per_migration=True,
        )
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


if context.is_offline_mode():
    raise SystemExit("Offline (--sql) migrations are not supported; run against a database.")
run_migrations_online()
