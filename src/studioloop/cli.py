"""The `studioloop` command.

Each command imports what it runs inside its function, not at the top: `studioloop --help`,
`migrate` or `backup` start in a fraction of a second instead of loading the web app, the
job app and every domain first (seconds).
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from studioloop import __version__
from studioloop.cli_backup import backup, recover, restore
from studioloop.cli_settings import read_settings

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from studioloop.config import Settings


def _migrate(owner_url: str) -> None:
    from studioloop.db.migrate import upgrade

    upgrade(owner_url)


async def _with_session(
    settings: Settings, owner_url: str, work: Callable[[AsyncSession], Awaitable[Any]]
) -> Any:
    from studioloop.db.engine import create_database

    database = create_database(settings, owner_url=owner_url)
    try:
        async with database.sessionmaker() as session:
            result = await work(session)
            await session.commit()
            return result
    finally:
        await database.dispose()


def _load_demo(settings: Settings, owner_url: str) -> None:
    from studioloop.demo import DEMO_PASSWORD, load_demo

    logins = asyncio.run(_with_session(settings, owner_url, lambda s: load_demo(s, settings)))
    click.echo("")
    click.secho(f"Demo logins (password for all: {DEMO_PASSWORD})", bold=True)
    for login in logins:
        click.echo(f"  {login.email:<26} {login.role}")
    click.echo("")


@click.group()
@click.version_option(__version__, prog_name="studioloop")
def main() -> None:
    """StudioLoop: run fitness studios, gyms, instructors and training providers."""


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option(
    "--data-dir",
    type=click.Path(path_type=Path),
    help="Where the embedded database lives (DATA_DIR).",
)
@click.option("--demo/--no-demo", default=False, help="Load the demo studios and logins first.")
def serve(host: str, port: int, data_dir: Path | None, demo: bool) -> None:
    """All in one: API, pages and a job worker; embedded PostgreSQL unless DATABASE_URL is set."""
    settings = read_settings(data_dir, host, port)
    from studioloop.db.urls import owner_database_url

    owner_url = owner_database_url(settings)
    _migrate(owner_url)
    if demo:
        _load_demo(settings, owner_url)
    _run_uvicorn(settings, host, port, run_worker=True)


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--data-dir", type=click.Path(path_type=Path))
@click.option(
    "--workers",
    default=1,
    show_default=True,
    type=click.IntRange(1, 64),
    help="Server processes sharing the port, for more than one CPU (needs DATABASE_URL).",
)
def api(host: str, port: int, data_dir: Path | None, workers: int) -> None:
    """API, pages and WebSockets only (run several behind a load balancer, or --workers)."""
    settings = read_settings(data_dir, host, port)
    if settings.uses_embedded_database:
        if workers > 1:
            raise click.ClickException(
                "--workers above 1 needs DATABASE_URL: the embedded PostgreSQL belongs to "
                "one process."
            )
        from studioloop.db.urls import owner_database_url

        _migrate(owner_database_url(settings))
    if workers > 1:
        _run_uvicorn_workers(host, port, workers)
    else:
        _run_uvicorn(settings, host, port, run_worker=False)


def _run_uvicorn_workers(host: str, port: int, workers: int) -> None:
    """One Python process uses one CPU; uvicorn's supervisor starts `workers` of them on
    the same socket, each building the app from the environment."""
    import shutil
    import tempfile

    import uvicorn

    from studioloop.core.metrics import MULTIPROCESS_DIR

    # A scrape of the shared port reaches one process: the counters go to files the
    # processes share (prometheus_client's multiprocess mode), so each scrape sums them.
    given = os.environ.get(MULTIPROCESS_DIR)
    metrics_dir = Path(given) if given else Path(tempfile.mkdtemp(prefix="studioloop-metrics-"))
    for stale in metrics_dir.glob("*.db"):  # counts of an earlier run must not carry over
        stale.unlink()
    os.environ[MULTIPROCESS_DIR] = str(metrics_dir)
    click.secho(
        f"StudioLoop {__version__} on http://{host}:{port} with {workers} worker processes "
        "(Ctrl+C to stop)",
        bold=True,
    )
    try:
        uvicorn.run(
            "studioloop.app:create_api_app",
            factory=True,
            workers=workers,
            host=host,
            port=port,
            proxy_headers=True,
            log_config=None,
            access_log=False,
        )
    finally:
        if not given:
            shutil.rmtree(metrics_dir, ignore_errors=True)


def freeze_startup_objects() -> None:
    """What is loaded by now (every module, the app and its routes) lives as long as the
    process. Frozen out of the cyclic collector's reach, it is no longer walked by each
    full collection, whose pauses showed in the server's per-minute p99 (docs/benchmarks.md,
    "Soak"). Only where a server starts: a test process creates many apps, and frozen
    objects are never freed."""
    import gc

    gc.collect()
    gc.freeze()


def _run_uvicorn(settings: Settings, host: str, port: int, *, run_worker: bool) -> None:
    import uvicorn

    from studioloop.app import create_app

    app = create_app(settings, run_worker=run_worker)
    freeze_startup_objects()
    click.secho(f"StudioLoop {__version__} on http://{host}:{port}  (Ctrl+C to stop)", bold=True)
    uvicorn.run(
        app,
        host=host,
        port=port,
        proxy_headers=True,
        log_config=None,
        access_log=False,
    )


@main.command()
@click.option(
    "--concurrency", type=int, default=None, help="Jobs run at once (WORKER_CONCURRENCY)."
)
@click.option("--data-dir", type=click.Path(path_type=Path))
@click.option(
    "--metrics-port",
    type=click.IntRange(1, 65535),
    default=None,
    help="Serve this worker's /metrics on this port (WORKER_METRICS_PORT).",
)
def worker(concurrency: int | None, data_dir: Path | None, metrics_port: int | None) -> None:
    """Run background jobs and periodic tasks."""
    settings = read_settings(data_dir)
    from studioloop.core.error_reporting import init_error_reporting

    init_error_reporting(settings)
    port = metrics_port or settings.worker_metrics_port
    if port:
        from prometheus_client import start_http_server

        from studioloop.core.metrics import REGISTRY

        # This process's counters and pool (in a thread of prometheus_client's own); the
        # job queue figures are read from the database by the API's /metrics.
        start_http_server(port, addr=settings.worker_metrics_host, registry=REGISTRY)
        click.echo(f"Worker metrics on http://{settings.worker_metrics_host}:{port}/metrics")

    async def run() -> None:
        from studioloop.db.embedded import stop_embedded_servers
        from studioloop.db.engine import create_database, set_database
        from studioloop.db.urls import libpq_conninfo
        from studioloop.jobs.app import connected_job_app
        from studioloop.jobs.worker import run_job_worker

        # SIGTERM and SIGINT cancel the worker: it lets running jobs finish, then stops.
        # Anything else that stops it starts it again (jobs.worker.run_job_worker).
        main = asyncio.current_task()
        assert main is not None
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, main.cancel)
        database = create_database(settings)
        set_database(database)
        try:
            async with connected_job_app(libpq_conninfo(database.owner_url)) as jobs:
                await run_job_worker(jobs, settings, concurrency or settings.worker_concurrency)
        except asyncio.CancelledError:
            click.echo("StudioLoop worker stopped")
        finally:
            await database.dispose()
            stop_embedded_servers()

    click.secho("StudioLoop worker running (Ctrl+C to stop)", bold=True)
    asyncio.run(run())


@main.command()
@click.option("--revision", default="head", show_default=True, help="Upgrade to this revision.")
@click.option(
    "--downgrade", "downgrade_to", default=None, help="Downgrade to this revision instead."
)
@click.option("--data-dir", type=click.Path(path_type=Path))
def migrate(revision: str, downgrade_to: str | None, data_dir: Path | None) -> None:
    """Apply database migrations (as the schema owner)."""
    settings = read_settings(data_dir)
    from studioloop.db import migrate as migrations
    from studioloop.db.urls import owner_database_url

    owner_url = owner_database_url(settings)
    if downgrade_to:
        migrations.downgrade(owner_url, downgrade_to)
        click.echo(f"Downgraded to {downgrade_to}.")
    else:
        migrations.upgrade(owner_url, revision)
        click.echo(f"Database at {revision}.")


@main.command()
@click.option("--data-dir", type=click.Path(path_type=Path))
def demo(data_dir: Path | None) -> None:
    """Load the demo studios, members and logins (safe to repeat)."""
    settings = read_settings(data_dir)
    from studioloop.db.urls import owner_database_url

    owner_url = owner_database_url(settings)
    _migrate(owner_url)
    _load_demo(settings, owner_url)


@main.command()
@click.option("--email", prompt=True)
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True)
@click.option("--first-name", default="Platform", show_default=True)
@click.option("--last-name", default="Operator", show_default=True)
@click.option("--data-dir", type=click.Path(path_type=Path))
def createsuperuser(
    email: str, password: str, first_name: str, last_name: str, data_dir: Path | None
) -> None:
    """Create (or promote) the platform operator account."""
    from pydantic import EmailStr, TypeAdapter, ValidationError

    from studioloop.accounts.schemas import check_password

    try:
        TypeAdapter(EmailStr).validate_python(email)
        check_password(password)
    except (ValidationError, ValueError) as error:
        raise click.ClickException(f"Invalid input: {error}") from error
    settings = read_settings(data_dir)
    from studioloop.accounts import service as accounts_service
    from studioloop.db.urls import owner_database_url

    owner_url = owner_database_url(settings)
    _migrate(owner_url)
    asyncio.run(
        _with_session(
            settings,
            owner_url,
            lambda s: accounts_service.ensure_verified_user(
                s,
                settings,
                email=email,
                password=password,
                first_name=first_name,
                last_name=last_name,
                platform_owner=True,
            ),
        )
    )
    click.echo(f"Platform operator {email.lower()} is ready.")


@main.group()
def jobs() -> None:
    """Look after the background job queue."""


async def _with_job_manager(data_dir: Path | None, work: Callable[[Any], Awaitable[Any]]) -> Any:
    settings = read_settings(data_dir)
    from studioloop.db.embedded import stop_embedded_servers
    from studioloop.db.engine import create_database
    from studioloop.db.urls import libpq_conninfo
    from studioloop.jobs import admin

    database = create_database(settings)
    try:
        async with admin.job_manager(libpq_conninfo(database.owner_url)) as manager:
            return await work(manager)
    finally:
        await database.dispose()
        stop_embedded_servers()


@jobs.command("status")
@click.option(
    "--data-dir", type=click.Path(path_type=Path), help="The embedded database's (DATA_DIR)."
)
def jobs_status(data_dir: Path | None) -> None:
    """Jobs waiting, running, failed and done per queue, and the latest failed jobs."""
    from studioloop.jobs import admin

    async def work(manager: Any) -> tuple[Any, Any]:
        return await admin.queues(manager), await admin.failed_jobs(manager)

    queues, failed = asyncio.run(_with_job_manager(data_dir, work))
    click.echo(f"{'queue':<16}{'waiting':>9}{'running':>9}{'failed':>8}{'done':>8}")
    for queue in queues:
        click.echo(
            f"{queue.name:<16}{queue.todo:>9}{queue.doing:>9}{queue.failed:>8}{queue.succeeded:>8}"
        )
    if failed:
        click.echo("\nfailed jobs (retry with: studioloop jobs retry JOB_ID)")
        for job in failed:
            click.echo(f"  {job.id:>6}  {job.task:<28} {job.queue:<12} attempts {job.attempts}")
    else:
        click.echo("\nno failed jobs")


@jobs.command("retry")
@click.argument("job_id", type=int)
@click.option(
    "--data-dir", type=click.Path(path_type=Path), help="The embedded database's (DATA_DIR)."
)
def jobs_retry(job_id: int, data_dir: Path | None) -> None:
    """Run a failed job again, now."""
    from studioloop.core.errors import AppError
    from studioloop.jobs import admin

    async def work(manager: Any) -> Any:
        return await admin.retry(manager, job_id)

    try:
        job = asyncio.run(_with_job_manager(data_dir, work))
    except AppError as error:
        raise click.ClickException(error.message) from error
    click.echo(f"job {job.id} ({job.task}) queued to run again")


@main.group()
def usage() -> None:
    """Usage metering upkeep."""


@usage.command("rebuild")
@click.argument("studio")
@click.option(
    "--data-dir", type=click.Path(path_type=Path), help="The embedded database's (DATA_DIR)."
)
def usage_rebuild(studio: str, data_dir: Path | None) -> None:
    """Recompute a studio's usage totals from its stored events (after a restore, or when
    in doubt): the same counting rules as ingestion, in one transaction."""
    settings = read_settings(data_dir)
    from sqlalchemy import text

    from studioloop.db.embedded import stop_embedded_servers
    from studioloop.db.tenancy import enter_tenant_for_transaction
    from studioloop.db.urls import owner_database_url
    from studioloop.usage import rebuild

    async def work(session: AsyncSession) -> int | None:
        found = (
            await session.execute(
                text("SELECT id, timezone FROM tenants WHERE slug = :slug"), {"slug": studio}
            )
        ).first()
        if found is None:
            return None
        await enter_tenant_for_transaction(session, found.id)
        return await rebuild.rebuild(session, found.id, found.timezone)

    try:
        totals = asyncio.run(_with_session(settings, owner_database_url(settings), work))
    finally:
        stop_embedded_servers()
    if totals is None:
        raise click.ClickException(f"There is no studio '{studio}'.")
    click.echo(f"{studio}: {totals} usage totals rebuilt from its events")


main.add_command(backup)
main.add_command(restore)
main.add_command(recover)

if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
