"""Health, readiness, metrics and the OpenAPI contract."""

from __future__ import annotations

from tests.conftest import Owner


async def test_health(client) -> None:
    response = await client.get("/health")
    assert response.status_code == 200
    assert response.json()["status"] == "ok"


async def test_ready_checks_database_and_migrations(client, owner_db: Owner) -> None:
    response = await client.get("/ready")
    assert response.status_code == 200
    assert response.json()["checks"] == {"database": "ok", "migrations": "ok"}

    current = owner_db.value("SELECT version_num FROM alembic_version")
    owner_db.rows("UPDATE alembic_version SET version_num = 'older'")
    try:
        stale = await client.get("/ready")
        assert stale.status_code == 503
        assert "expected" in stale.json()["checks"]["migrations"]
    finally:
        owner_db.rows("UPDATE alembic_version SET version_num = %s", current)


async def test_metrics_count_requests_by_route_template(client) -> None:
    await client.get("/api/v1/tenants/some-studio")
    body = (await client.get("/metrics")).text
    assert 'route="/api/v1/tenants/{slug}"' in body
    assert "studioloop_http_request_duration_seconds_bucket" in body
    assert 'route="/api/v1/tenants/some-studio"' not in body


async def test_openapi_lists_every_endpoint_with_its_errors(client) -> None:
    spec = (await client.get("/api/v1/openapi.json")).json()
    paths = spec["paths"]
    for path in (
        "/api/v1/auth/register",
        "/api/v1/auth/verify",
        "/api/v1/auth/login",
        "/api/v1/auth/refresh",
        "/api/v1/auth/logout",
        "/api/v1/auth/password-reset/request",
        "/api/v1/auth/password-reset/confirm",
        "/api/v1/users/profile",
        "/api/v1/tenants",
        "/api/v1/tenants/{slug}",
        "/api/v1/members",
        "/api/v1/tenants/{slug}/members",
    ):
        assert path in paths, path
    for path, operations in paths.items():
        if not path.startswith("/api/"):
            continue
        for method, operation in operations.items():
            codes = set(operation["responses"])
            assert codes - {"200", "201", "202", "204"}, f"{method} {path} documents no errors"
    assert "ErrorEnvelope" in spec["components"]["schemas"]


async def test_docs_page_uses_local_assets(client) -> None:
    page = await client.get("/api/v1/docs")
    assert page.status_code == 200
    assert "/static/swagger/swagger-ui-bundle.js" in page.text
    assert "cdn" not in page.text.lower()
    asset = await client.get("/static/swagger/swagger-ui-bundle.js")
    assert asset.status_code == 200
