"""`studioloop backup`, `restore` and `recover`: the commands; the work is in
db/backup.py, db/restore.py and db/pitr.py (docs/backups.md), imported by the command that
runs it (as in cli.py: the command line starts without loading what it does not run)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from studioloop.cli_settings import read_settings

if TYPE_CHECKING:
    from studioloop.config import Settings


@click.command()
@click.option("--data-dir", type=click.Path(path_type=Path), help="The embedded database's.")
@click.option("--dir", "directory", type=click.Path(path_type=Path), help="Where (BACKUP_DIR).")
@click.option("--keep", type=click.IntRange(min=1), help="Keep the newest N (BACKUP_KEEP).")
@click.option("--keep-days", type=click.IntRange(min=1), help="Delete older (BACKUP_KEEP_DAYS).")
@click.option("--base", is_flag=True, help="A base backup for point-in-time recovery instead.")
def backup(
    data_dir: Path | None,
    directory: Path | None,
    keep: int | None,
    keep_days: int | None,
    base: bool,
) -> None:
    """Back the database up (pg_dump, one consistent snapshot; safe while serving)."""
    from studioloop.db.backup import create_backup, human_size

    settings = read_settings(data_dir)
    if base:
        from studioloop.db.pitr import create_base_backup

        made = _run_database_tool(
            settings,
            lambda owner_url: create_base_backup(
                owner_url,
                directory or settings.backups_dir,
                embedded=settings.uses_embedded_database,
                pg_bin_dir=settings.pg_bin_dir,
                keep=keep or settings.backup_keep,
                keep_days=keep_days or settings.backup_keep_days,
                wal_archive_dir=settings.wal_archive_dir,
            ),
        )
        for path in made.pruned:
            click.echo(f"pruned {path}")
        click.echo(f"{made.path}  {human_size(made.size)}")
        return
    result = _run_database_tool(
        settings,
        lambda owner_url: create_backup(
            owner_url,
            directory or settings.backups_dir,
            embedded=settings.uses_embedded_database,
            pg_bin_dir=settings.pg_bin_dir,
            keep=keep or settings.backup_keep,
            keep_days=keep_days or settings.backup_keep_days,
        ),
    )
    for path in result.pruned:
        click.echo(f"pruned {path}")
    click.echo(f"{result.path}  {human_size(result.size)}")


@click.command()
@click.argument("archive", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--data-dir", type=click.Path(path_type=Path), help="The embedded database's.")
@click.option("--force", is_flag=True, help="Drop a database that is not empty first.")
def restore(archive: Path, data_dir: Path | None, force: bool) -> None:
    """Restore a backup into an empty database (a new --data-dir, or DATABASE_URL's)."""
    from studioloop.db.restore import restore_backup

    settings = read_settings(data_dir)
    result = _run_database_tool(
        settings,
        lambda owner_url: restore_backup(
            owner_url,
            archive,
            app_role=settings.database_app_role,
            embedded=settings.uses_embedded_database,
            pg_bin_dir=settings.pg_bin_dir,
            force=force,
        ),
    )
    revision = ", ".join(result.revision) or "none"
    click.echo(f"Restored {archive} into database {result.database!r}.")
    if result.at_head:
        click.echo(f"Schema at the latest migration ({revision}).")
    else:
        click.echo(
            f"Schema at revision {revision}, this version's latest is "
            f"{', '.join(result.head)}: run `studioloop migrate` before serving."
        )


@click.command()
@click.argument("base", type=click.Path(path_type=Path, file_okay=False, exists=True))
@click.option("--data-dir", type=click.Path(path_type=Path), required=True, help="A new one.")
@click.option("--wal-dir", type=click.Path(path_type=Path), help="The archive (WAL_ARCHIVE_DIR).")
@click.option(
    "--to",
    "target",
    help="Recover up to this moment (ISO 8601; UTC unless it has an offset). Default: all.",
)
def recover(base: Path, data_dir: Path, wal_dir: Path | None, target: str | None) -> None:
    """Point-in-time recovery of the embedded database into a new data directory."""
    from datetime import UTC, datetime

    from studioloop.db.pg_tools import BackupError
    from studioloop.db.pitr import recover as recover_database

    settings = read_settings()
    archive = wal_dir or settings.wal_archive_dir
    if archive is None:
        raise click.ClickException("give --wal-dir (or set WAL_ARCHIVE_DIR)")
    moment = None
    if target:
        try:
            moment = datetime.fromisoformat(target)
        except ValueError as error:
            raise click.ClickException(f"--to: {error}") from error
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
    try:
        recover_database(base, archive, data_dir, target_time=moment)
    except BackupError as error:
        raise click.ClickException(str(error)) from error
    until = moment.isoformat() if moment else "the end of the archive"
    click.echo(f"Recovered into {data_dir} up to {until}.")
    click.echo(f"Start it with: studioloop serve --data-dir {data_dir}")


def _run_database_tool(settings: Settings, work: Callable[[str], Any]) -> Any:
    """Run `work` with the owner's URL; the embedded server (started if need be) is let
    go of afterwards, and stops if no other StudioLoop process uses it."""
    from studioloop.db.embedded import stop_embedded_servers
    from studioloop.db.pg_tools import BackupError
    from studioloop.db.urls import owner_database_url

    try:
        return work(owner_database_url(settings))
    except BackupError as error:
        raise click.ClickException(str(error)) from error
    finally:
        stop_embedded_servers()
