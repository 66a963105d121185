"""The ASGI application factory."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import fastapi_offline
from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.openapi.utils import get_openapi
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from starlette.middleware.gzip import GZipMiddleware

from studioloop import __version__, wiring
from studioloop.api import API_PREFIX, include_api
from studioloop.booking.rush_gate import RushGate
from studioloop.chat import fanout as chat_fanout
from studioloop.config import Settings, get_settings
from studioloop.core.error_handlers import install_error_handlers
from studioloop.core.error_reporting import init_error_reporting
from studioloop.core.hosts import AllowedHostsMiddleware
from studioloop.core.logging import configure_logging, get_logger
from studioloop.core.middleware import (
    BodySizeLimitMiddleware,
    RequestContextMiddleware,
    SecurityHeadersMiddleware,
    StorableTextMiddleware,
)
from studioloop.core.openapi import declare_path_parameters, errors, name_operations
from studioloop.core.ratelimit import RateLimiter
from studioloop.db import engine as db_engine
from studioloop.db.embedded import stop_embedded_servers
from studioloop.db.urls import libpq_conninfo
from studioloop.jobs.app import connected_job_app
from studioloop.jobs.worker import run_job_worker
from studioloop.ops import router as ops_router
from studioloop.tenants.cache import TenantCache, listen_for_changes
from studioloop.tenants.dependencies import tenant_domain_check
from studioloop.tenants.tls_router import router as tls_router
from studioloop.web.account_pages import router as account_pages_router
from studioloop.web.admin import router as admin_pages_router
from studioloop.web.api_keys_admin import router as api_keys_admin_router
from studioloop.web.class_admin import router as class_admin_router
from studioloop.web.content_pages import (
    PHOTO_UPLOAD_MAX_BYTES,
    PHOTO_UPLOAD_PATHS,
    router as content_pages_router,
)
from studioloop.web.inbox_pages import router as inbox_pages_router
from studioloop.web.instructor_pages import router as instructor_pages_router
from studioloop.web.marketplace_admin import router as marketplace_admin_router
from studioloop.web.marketplace_pages import router as marketplace_pages_router
from studioloop.web.member_admin import router as member_admin_router
from studioloop.web.member_history import router as member_history_router
from studioloop.web.member_pages import router as member_pages_router
from studioloop.web.members_admin import router as members_admin_router
from studioloop.web.membership_pages import router as membership_pages_router
from studioloop.web.owner_pages import router as owner_pages_router
from studioloop.web.payments_admin import router as payments_admin_router
from studioloop.web.payouts_admin import router as payouts_admin_router
from studioloop.web.places_admin import router as places_admin_router
from studioloop.web.platform_pages import router as platform_pages_router
from studioloop.web.price_edits import router as price_edits_router
from studioloop.web.pricing_pages import router as pricing_pages_router
from studioloop.web.privacy_pages import router as privacy_pages_router
from studioloop.web.pwa import router as pwa_router
from studioloop.web.routes import router as web_router
from studioloop.web.sandbox import router as sandbox_router
from studioloop.web.settings_pages import router as settings_pages_router
from studioloop.web.staff_pages import router as staff_pages_router
from studioloop.web.static_files import STATIC
from studioloop.web.studio_pages import router as studio_pages_router
from studioloop.web.timetable_admin import router as timetable_admin_router
from studioloop.web.timetable_pages import router as timetable_pages_router
from studioloop.web.unsubscribe import router as unsubscribe_router
from studioloop.web.usage_admin import router as usage_admin_router

logger = get_logger(__name__)
SWAGGER_DIR = Path(fastapi_offline.__file__).resolve().parent / "static"

# Swagger UI runs an inline start-up script; allow it on the docs page only.
DOCS_CSP = (
    "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
    "script-src 'self' 'unsafe-inline'; frame-ancestors 'none'"
)


def create_app(settings: Settings | None = None, *, run_worker: bool = False) -> FastAPI:
    settings = settings or get_settings()
    init_error_reporting(settings)
    wiring.wire()

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        owns_database = False
        try:
            database = db_engine.get_database()
        except RuntimeError:
            database = db_engine.create_database(settings)
            db_engine.set_database(database)
            owns_database = True
        conninfo = libpq_conninfo(database.owner_url)
        tasks = [
            asyncio.create_task(listen_for_changes(conninfo, app.state.tenant_cache)),
            asyncio.create_task(chat_fanout.listen(conninfo, app.state.chat_hub)),
        ]
        async with contextlib.AsyncExitStack() as stack:
            if run_worker:
                jobs = await stack.enter_async_context(connected_job_app(conninfo))
                tasks.append(
                    asyncio.create_task(run_job_worker(jobs, settings, settings.worker_concurrency))
                )
                logger.info(
                    "job worker running in-process", concurrency=settings.worker_concurrency
                )
            try:
                yield
            finally:
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
        if owns_database:
            await database.dispose()
            db_engine.set_database(None)
        if settings.uses_embedded_database:
            stop_embedded_servers()

    app = FastAPI(
        title="StudioLoop API",
        version=__version__,
        description="Run fitness studios, gyms, instructors and training providers.",
        openapi_url=f"{API_PREFIX}/openapi.json",
        docs_url=None,
        redoc_url=None,
        lifespan=lifespan,
    )
    _document_common_errors(app)
    app.state.settings = settings
    app.state.rate_limiter = RateLimiter(settings)
    app.state.tenant_cache = TenantCache(settings.tenant_cache_ttl_seconds)
    app.state.chat_hub = chat_fanout.ChatHub()
    chat_fanout.use_redis(settings.redis_url)

    install_error_handlers(app)
    app.include_router(ops_router)
    app.include_router(tls_router)
    include_api(app)
    app.include_router(web_router)
    app.include_router(sandbox_router)
    app.include_router(admin_pages_router)
    app.include_router(unsubscribe_router)
    app.include_router(account_pages_router)
    app.include_router(studio_pages_router)
    app.include_router(timetable_pages_router)
    # Before the member's pages: "/my/bookings/past" is not a booking id.
    app.include_router(member_history_router)
    app.include_router(member_pages_router)
    app.include_router(membership_pages_router)
    app.include_router(marketplace_pages_router)
    app.include_router(marketplace_admin_router)
    app.include_router(api_keys_admin_router)
    app.include_router(pwa_router)
    app.include_router(staff_pages_router)
    app.include_router(instructor_pages_router)
    app.include_router(owner_pages_router)
    app.include_router(timetable_admin_router)
    app.include_router(class_admin_router)
    app.include_router(places_admin_router)
    app.include_router(usage_admin_router)
    app.include_router(members_admin_router)
    app.include_router(member_admin_router)
    app.include_router(pricing_pages_router)
    app.include_router(price_edits_router)
    app.include_router(payments_admin_router)
    app.include_router(payouts_admin_router)
    app.include_router(settings_pages_router)
    app.include_router(content_pages_router)
    app.include_router(platform_pages_router)
    app.include_router(privacy_pages_router)
    app.include_router(inbox_pages_router)
    # Swagger UI 5 (OpenAPI 3.1) served from the fastapi-offline wheel: no CDN.
    app.mount("/static/swagger", StaticFiles(directory=SWAGGER_DIR), name="swagger")
    app.mount("/static", STATIC, name="static")

    @app.get(f"{API_PREFIX}/docs", include_in_schema=False)
    async def api_docs() -> HTMLResponse:
        page = get_swagger_ui_html(
            openapi_url=f"{API_PREFIX}/openapi.json",
            title="StudioLoop API",
            swagger_js_url="/static/swagger/swagger-ui-bundle.js",
            swagger_css_url="/static/swagger/swagger-ui.css",
            swagger_favicon_url="/static/swagger/favicon.png",
        )
        page.headers["content-security-policy"] = DOCS_CSP
        return page

    # Added last = outermost: request ids wrap everything, so every error carries one.
    # Innermost of ours: a rush on a full class answered before routing, its answer still
    # carrying the CORS and security headers and the request id, logged and counted.
    app.add_middleware(RushGate)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_credentials=True,
            allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"],
            allow_headers=[
                "Authorization",
                "Content-Type",
                "Idempotency-Key",
                "X-Tenant-ID",
                "X-Request-ID",
            ],
            expose_headers=["X-Request-ID", "Retry-After"],
        )
    if "*" not in settings.host_patterns:
        # Inside the request id and security headers, so a refusal carries both.
        app.add_middleware(
            AllowedHostsMiddleware,
            patterns=settings.host_patterns,
            is_tenant_domain=tenant_domain_check(app.state.tenant_cache),
        )
    app.add_middleware(SecurityHeadersMiddleware, hsts=settings.cookies_secure)
    # Usage batches refuse such an event alone (usage/ingestion.py), as their contract says.
    app.add_middleware(
        StorableTextMiddleware, checked_item_by_item=frozenset({f"{API_PREFIX}/usage/events"})
    )
    app.add_middleware(
        BodySizeLimitMiddleware,
        max_bytes=settings.max_request_body_bytes,
        larger=(PHOTO_UPLOAD_PATHS, PHOTO_UPLOAD_MAX_BYTES),
    )
    # Text over 1 KB compressed for clients that accept gzip (pages, JSON lists, CSS, JS:
    # a timetable page is a third of its size over a slow phone network). Level 6, not
    # Starlette's default 9: nearly the same size for a fraction of the CPU per response.
    # Event streams are left alone (Starlette excludes them).
    app.add_middleware(GZipMiddleware, minimum_size=1024, compresslevel=6)
    app.add_middleware(RequestContextMiddleware)
    return app


def _document_common_errors(app: FastAPI) -> None:
    """Errors every API operation can return, added to the OpenAPI document once, so each
    endpoint lists them without repeating them in every route: 429 from the rate limit, and
    400/413/422 for any operation that takes a body."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = get_openapi(
            title=app.title, version=app.version, description=app.description, routes=app.routes
        )
        declare_path_parameters(schema)
        name_operations(schema)
        common = {str(code): body for code, body in errors(429).items()}
        with_body = {str(code): body for code, body in errors(400, 413, 422).items()}
        ref = {
            "content": {
                "application/json": {"schema": {"$ref": "#/components/schemas/ErrorEnvelope"}}
            }
        }
        for path, operations in schema.get("paths", {}).items():
            if not path.startswith(API_PREFIX):
                continue
            for operation in operations.values():
                responses = operation.setdefault("responses", {})
                extra = {**common, **(with_body if "requestBody" in operation else {})}
                for code, body in extra.items():
                    responses.setdefault(code, {"description": body["description"], **ref})
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


def create_api_app() -> FastAPI:
    """The app as `studioloop api --workers N` builds it in each worker process: settings
    and logging from the environment, no job worker."""
    settings = get_settings()
    configure_logging(settings.log_level, settings.log_renderer)
    return create_app(settings, run_worker=False)
