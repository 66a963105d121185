"""`studioloop restore`: a `studioloop backup` archive into an empty database.

Roles live in the cluster, not in a database, so pg_dump does not carry them: the archive
only grants privileges to the app role (DATABASE_APP_ROLE). The role is created here the
way the first migration creates it (NOLOGIN NOBYPASSRLS, granted to the owner so the
owner's connections can switch to it); the archive's own GRANTs then give it exactly the
privileges it had, including the revoked UPDATE and DELETE on the append-only ledgers.
Objects are restored as owned by the restoring user (--no-owner), who is the owner that
runs later migrations; its default privileges for the app role, which the archive records
under the original owner's name, are set again for it.

pg_restore runs in a single transaction and stops at the first error: a failed restore
leaves the database as empty as it was.
"""

from __future__ import annotations

import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from psycopg import sql
from sqlalchemy import create_engine, pool

from studioloop.db.migrate import alembic_config
from studioloop.db.pg_tools import (
    BackupError,
    Connection,
    PgTools,
    choose_tools,
    embedded_bin_dir,
    run_tool,
    server_major,
)

# What the first migration grants by default on objects later migrations create; kept in
# step with migrations/versions/2026-11-22-0752_initial_schema.py (migrations are frozen,
# so they cannot import this).
_DEFAULT_PRIVILEGES = (
    "GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {role}",
    "GRANT USAGE, SELECT ON SEQUENCES TO {role}",
    "GRANT EXECUTE ON FUNCTIONS TO {role}",
)


@dataclass(frozen=True)
class RestoreResult:
    database: str
    tools: PgTools
    dumped_from_major: int | None
    replaced: bool
    revision: tuple[str, ...]
    head: tuple[str, ...]

    @property
    def at_head(self) -> bool:
        return set(self.revision) == set(self.head)


def restore_backup(
    owner_url: str,
    archive: Path,
    *,
    app_role: str,
    embedded: bool,
    pg_bin_dir: Path | None = None,
    force: bool = False,
) -> RestoreResult:
    if not archive.is_file():
        raise BackupError(f"{archive}: no such backup file")
    connection = Connection.from_sqlalchemy_url(owner_url)
    server = server_major(connection)
    tools = choose_tools("pg_restore", server, embedded=embedded, pg_bin_dir=pg_bin_dir)
    contents = _table_of_contents(tools, archive)
    dumped_from = re.search(r"Dumped from database version: (\d+)", contents)
    dumped_from_major = int(dumped_from.group(1)) if dumped_from else None

    # Every check first, so a refused restore changes nothing.
    relations = _relation_count(connection)
    if relations and not force:
        raise BackupError(
            f"the {connection.described()} is not empty ({relations} tables, views or "
            "sequences): restore into an empty database (or a new --data-dir), or add "
            "--force to drop this database and replace it with the backup"
        )
    grantees = _grantees(tools, archive, contents)
    missing = sorted(grantees - _existing_roles(connection) - {app_role})
    if missing:
        raise BackupError(
            "the backup grants privileges to roles this server does not have: "
            f"{', '.join(missing)}; create them (CREATE ROLE name NOLOGIN) or set "
            "DATABASE_APP_ROLE to the role the backup was made with, and run again"
        )

    if relations:
        _recreate_database(connection)
    _ensure_app_role(connection, app_role)
    with tempfile.NamedTemporaryFile("w", suffix=".list") as listing:
        # The archive's default privileges name the original owner, who may not exist
        # here; they are set again below for the restoring owner.
        listing.write(
            "".join(line + "\n" for line in contents.splitlines() if " DEFAULT ACL " not in line)
        )
        listing.flush()
        try:
            run_tool(
                tools,
                "pg_restore",
                [
                    "--no-owner",
                    "--single-transaction",
                    "--exit-on-error",
                    f"--use-list={listing.name}",
                    f"--dbname={connection.url}",
                    str(archive),
                ],
                connection,
            )
        except BackupError as error:
            if dumped_from_major and dumped_from_major > server:
                raise BackupError(
                    f"{error}\n(the backup comes from PostgreSQL {dumped_from_major}; "
                    f"PostgreSQL does not support loading it into an older server, {server})"
                ) from error
            raise
    _set_default_privileges(connection, app_role)
    with connection.connect() as conn:
        conn.execute("ANALYZE")  # pg_restore brings no planner statistics
    revision, head = schema_revision(owner_url)
    return RestoreResult(
        connection.database, tools, dumped_from_major, bool(relations), revision, head
    )


def _table_of_contents(tools: PgTools, archive: Path) -> str:
    try:
        return run_tool(tools, "pg_restore", ["--list", str(archive)])
    except BackupError as error:
        bundled = embedded_bin_dir()
        if "unsupported version" in str(error) and tools.bin_dir != bundled:
            raise BackupError(
                f"{archive} was written by a newer pg_dump than this pg_restore "
                f"({tools.bin_dir}, version {tools.major}) can read: set PG_BIN_DIR to a "
                f"newer PostgreSQL's bin directory, e.g. {bundled} (restoring into an "
                "older major version of PostgreSQL than the backup's is not supported)"
            ) from error
        raise BackupError(
            f"{archive} is not a backup this pg_restore ({tools.major}) can read: {error}"
        ) from error


def _grantees(tools: PgTools, archive: Path, contents: str) -> set[str]:
    """The roles the archive's GRANT and REVOKE statements name (PUBLIC aside)."""
    acl_lines = [line for line in contents.splitlines() if re.search(r"\d+ ACL ", line)]
    if not acl_lines:
        return set()
    with tempfile.NamedTemporaryFile("w", suffix=".list") as listing:
        listing.write("".join(line + "\n" for line in acl_lines))
        listing.flush()
        script = run_tool(
            tools, "pg_restore", [f"--use-list={listing.name}", "--file=-", str(archive)]
        )
    roles: set[str] = set()
    for statement in re.findall(r"^(?:GRANT|REVOKE)\b.*?;$", script, flags=re.MULTILINE):
        target = re.split(r"\s(?:TO|FROM)\s", statement.removesuffix(";"))[-1]
        target = target.replace(" WITH GRANT OPTION", "")
        for name in target.split(","):
            name = name.strip()
            if name and name != "PUBLIC":
                roles.add(name[1:-1].replace('""', '"') if name.startswith('"') else name)
    return roles


def _relation_count(connection: Connection) -> int:
    with connection.connect() as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f') "
            "AND n.nspname NOT IN ('pg_catalog', 'information_schema') "
            "AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp%'"
        ).fetchone()
    assert row is not None
    return int(str(row[0]))


def _existing_roles(connection: Connection) -> set[str]:
    with connection.connect() as conn:
        return {str(row[0]) for row in conn.execute("SELECT rolname FROM pg_roles")}


def _recreate_database(connection: Connection) -> None:
    """--force: drop the target database (ending its sessions) and create it empty."""
    maintenance = connection.with_database(
        "template1" if connection.database == "postgres" else "postgres"
    )
    name = sql.Identifier(connection.database)
    try:
        with maintenance.connect() as conn:
            conn.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(name))
            conn.execute(sql.SQL("CREATE DATABASE {}").format(name))
    except Exception as error:
        raise BackupError(
            f"--force could not drop and create the {connection.described()} ({error}); "
            "create an empty database yourself and restore into it"
        ) from error


def _ensure_app_role(connection: Connection, app_role: str) -> None:
    role = sql.Identifier(app_role)
    with connection.connect() as conn:
        exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (app_role,))
        if exists.fetchone() is None:
            conn.execute(sql.SQL("CREATE ROLE {} NOLOGIN NOBYPASSRLS").format(role))
        # The owner's connections switch to the role (libpq `-c role=`).
        conn.execute(sql.SQL("GRANT {} TO CURRENT_USER").format(role))


def _set_default_privileges(connection: Connection, app_role: str) -> None:
    role = sql.Identifier(app_role)
    with connection.connect() as conn:
        for grant in _DEFAULT_PRIVILEGES:
            statement = "ALTER DEFAULT PRIVILEGES IN SCHEMA public " + grant
            conn.execute(sql.SQL(statement).format(role=role))


def schema_revision(owner_url: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The database's Alembic revision(s) and this version's head(s)."""
    head = tuple(ScriptDirectory.from_config(alembic_config()).get_heads())
    engine = create_engine(owner_url, poolclass=pool.NullPool)
    try:
        with engine.connect() as conn:
            revision = tuple(MigrationContext.configure(conn).get_current_heads())
    finally:
        engine.dispose()
    return revision, head
