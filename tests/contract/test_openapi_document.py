"""The OpenAPI document is the public contract: it validates, declares every path
parameter, and a client generated from it books a class."""

from __future__ import annotations

import asyncio
import importlib
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
from openapi_spec_validator import validate

from tests.booking.conftest import BookingStudio
from tests.conftest import Api

GENERATOR = shutil.which("openapi-python-client", path=str(Path(sys.executable).parent))


def test_the_document_validates(app: Any) -> None:
    validate(app.openapi())


def test_every_path_parameter_is_declared(app: Any) -> None:
    undeclared = []
    for path, operations in app.openapi()["paths"].items():
        names = set(re.findall(r"{(\w+)}", path))
        for method, operation in operations.items():
            declared = {p["name"] for p in operation.get("parameters", []) if p["in"] == "path"}
            if names - declared:
                undeclared.append(f"{method.upper()} {path}: {sorted(names - declared)}")
    assert not undeclared, "\n".join(undeclared)


def test_schema_names_are_unique(app: Any) -> None:
    """Two models with one title make generators drop one of them."""
    titles = [s.get("title") for s in app.openapi()["components"]["schemas"].values()]
    assert len(titles) == len(set(titles)), sorted(t for t in titles if titles.count(t) > 1)


@pytest.mark.skipif(GENERATOR is None, reason="openapi-python-client is a dev dependency")
async def test_a_generated_client_books_a_class(
    app: Any, api: Api, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    studio = await BookingStudio(api, "loop-yoga").setup()
    occurrence = await studio.occurrence(capacity=3)
    member = await studio.new_member(credits=2)

    document = tmp_path / "openapi.json"
    document.write_text(json.dumps(app.openapi()))
    config = tmp_path / "generator.yaml"
    config.write_text("project_name_override: studioloop_client\npost_hooks: []\n")
    command = [str(GENERATOR), "generate", "--path", str(document), "--config", str(config)]
    command += ["--meta", "none", "--output-path", str(tmp_path / "studioloop_client")]
    generated = await asyncio.to_thread(
        subprocess.run, command, capture_output=True, text=True, timeout=120, check=False
    )
    assert generated.returncode == 0, generated.stdout + generated.stderr
    # Only binary bodies (logo upload, receipt PDFs) are beyond the generator; nothing else.
    skipped = re.findall(r"WARNING parsing (\S+ \S+)", generated.stdout)
    assert set(skipped) <= {
        "GET /api/v1/tenants/{slug}/logo",
        "PUT /api/v1/tenants/{slug}/logo",
        "GET /api/v1/tenants/{slug}/payments/{payment_id}/receipt.pdf",
        "GET /api/v1/payments/{payment_id}/receipt.pdf",
    }, generated.stdout

    monkeypatch.syspath_prepend(str(tmp_path))
    client_module = importlib.import_module("studioloop_client.client")
    models = importlib.import_module("studioloop_client.models")
    book = importlib.import_module("studioloop_client.api.bookings.create_booking_in_studio")
    client = client_module.AuthenticatedClient(
        base_url="http://testserver",
        token=member["access_token"],
        httpx_args={"transport": httpx.ASGITransport(app=app)},
    )
    async with client:
        answer = await book.asyncio_detailed(
            slug="loop-yoga",
            client=client,
            body=models.BookingIn(class_schedule_id=occurrence["id"]),
        )
    assert answer.status_code == 201, answer.content
    assert answer.parsed.status == "confirmed"
    assert str(answer.parsed.class_schedule_id) == occurrence["id"]


def test_operation_ids_are_the_endpoints_names(app: Any) -> None:
    ids = [
        operation["operationId"]
        for operations in app.openapi()["paths"].values()
        for operation in operations.values()
    ]
    assert len(ids) == len(set(ids))
    assert "create_booking" in ids and "create_booking_in_studio" in ids
    assert not [i for i in ids if i.endswith(("_get", "_post", "_put", "_patch", "_delete"))]


def test_the_endpoints_that_take_an_api_key_declare_its_scheme(app: Any) -> None:
    """A generated client sends the key only where the document says it is accepted, and
    docs/api.md lists every endpoint that takes one."""
    document = app.openapi()
    scheme = document["components"]["securitySchemes"]["ApiKey"]
    assert scheme == {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "sl_live_<prefix>_<secret>",
        "description": scheme["description"],
    }
    taking_keys = {
        (method, path)
        for path, operations in document["paths"].items()
        for method, operation in operations.items()
        if {"ApiKey": []} in operation.get("security", [])
    }
    assert taking_keys >= {
        ("get", "/api/v1/tenants/{slug}/members"),
        ("get", "/api/v1/members"),
        ("get", "/api/v1/tenants/{slug}/schedules/{schedule_id}/bookings"),
    }
    # docs/api.md says which endpoints take a key: each of them.
    guide = (Path(__file__).parents[2] / "docs" / "api.md").read_text()
    keys_section = guide.split("## API keys", 1)[1].split("\n## ", 1)[0]
    undocumented = [
        f"{method.upper()} {path}"
        for method, path in sorted(taking_keys)
        if f"`{method.upper()} {path.removeprefix('/api/v1')}`" not in keys_section
    ]
    assert not undocumented, "list them in docs/api.md, API keys: " + ", ".join(undocumented)
    # Managing keys takes a person's token only.
    for operation in document["paths"]["/api/v1/tenants/{slug}/api-keys"].values():
        assert operation["security"] == [{"HTTPBearer": []}]
