"""The settings a command runs with, shared by the commands of cli.py and cli_backup.py.

Imports inside the function, as in the commands: `studioloop --help` loads neither the
settings nor logging.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from studioloop.config import Settings


def read_settings(
    data_dir: Path | None = None, host: str | None = None, port: int | None = None
) -> Settings:
    """Read settings once, after command-line overrides are placed in the environment."""
    if data_dir is not None:
        os.environ["DATA_DIR"] = str(data_dir)
    from studioloop.config import InsecureSettingsError, get_settings

    get_settings.cache_clear()
    try:
        settings = get_settings()
        if port is not None and "base_url" not in settings.model_fields_set:
            # No BASE_URL anywhere: links in messages (unsubscribe, payment pages) must
            # reach this very server, on the port it was given.
            shown = "127.0.0.1" if host in (None, "0.0.0.0", "::") else host  # noqa: S104
            os.environ["BASE_URL"] = f"http://{shown}:{port}"
            get_settings.cache_clear()
            settings = get_settings()
    except InsecureSettingsError as error:
        raise click.ClickException(str(error)) from error
    from studioloop.core.logging import configure_logging

    configure_logging(settings.log_level, settings.log_renderer)
    return settings
