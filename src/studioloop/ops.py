"""Operational endpoints: liveness, readiness, Prometheus metrics."""

from __future__ import annotations

from typing import Any

from alembic.config import Config
from alembic.script import ScriptDirectory
from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from sqlalchemy import text

from studioloop import __version__
from studioloop.core.metrics import Families, render_metrics
from studioloop.db.engine import get_database
from studioloop.db.migrate import alembic_config
from studioloop.jobs.metrics import queue_families

router = APIRouter(include_in_schema=True, tags=["operations"])


def expected_revision(config: Config | None = None) -> str | None:
    return ScriptDirectory.from_config(config or alembic_config()).get_current_head()


_HEAD = expected_revision()


@router.get("/health")
async def health() -> dict[str, str]:
    """The process is up. Does not touch the database."""
    return {"status": "ok", "version": __version__}


@router.get("/ready", responses={503: {"description": "Not ready"}})
async def ready() -> JSONResponse:
    """The database answers and its schema is at the latest migration."""
    checks: dict[str, Any] = {}
    try:
        async with get_database().engine.connect() as conn:
            current = await conn.scalar(text("SELECT version_num FROM alembic_version"))
        checks["database"] = "ok"
        checks["migrations"] = "ok" if current == _HEAD else f"at {current}, expected {_HEAD}"
    except Exception as exc:  # any failure means "not ready"; say which
        checks["database"] = f"error: {type(exc).__name__}"
        checks.setdefault("migrations", "unknown")
    ok = all(value == "ok" for value in checks.values())
    return JSONResponse(
        {"status": "ok" if ok else "unavailable", "checks": checks}, status_code=200 if ok else 503
    )


@router.get("/metrics", response_class=Response)
async def metrics() -> Response:
    """Prometheus text: this process's counters and pools, and the job queues as the
    database has them now (docs/operations.md lists every metric)."""
    body = render_metrics(Families(await queue_families()))
    return Response(body, media_type="text/plain; version=0.0.4; charset=utf-8")
