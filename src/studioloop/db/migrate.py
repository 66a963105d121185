"""Run Alembic migrations from code (the `migrate` command, `serve`, tests)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

# A wheel carries the migrations inside the package (see pyproject's force-include); a
# source checkout keeps them at the project root.
_PACKAGED = Path(__file__).resolve().parents[1] / "_migrations"
MIGRATIONS_DIR = (
    _PACKAGED if _PACKAGED.is_dir() else Path(__file__).resolve().parents[3] / "migrations"
)


def alembic_config(url: str | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["skip_logging_config"] = True
    if url:
        config.attributes["url"] = url
    return config


def upgrade(url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(url), revision)


def downgrade(url: str, revision: str) -> None:
    command.downgrade(alembic_config(url), revision)
