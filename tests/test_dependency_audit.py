"""The dependency audit of .ci/run: real findings fail it, allowed ones do not, and an
unreachable vulnerability service warns without failing. Against a fake OSV service."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from tests.fakes.server import ThreadedFake
from tests.fakes.smtp import free_port

SCRIPT = Path(__file__).resolve().parent.parent / ".ci" / "audit_dependencies.py"
VULNERABLE = ("jinja2", "3.1.2")


class FakeOsv(ThreadedFake):
    """OSV's query API: one known vulnerability, in jinja2 3.1.2."""

    def __init__(self) -> None:
        super().__init__([Route("/v1/query", self._query, methods=["POST"])])

    async def _query(self, request: Request) -> JSONResponse:
        query = await request.json()
        if (query["package"]["name"], query["version"]) != VULNERABLE:
            return JSONResponse({})
        vulnerability: dict[str, Any] = {
            "id": "GHSA-h5c8-rqwp-cp95",
            "aliases": ["CVE-2024-22195"],
            "summary": "HTML attribute injection in the xmlattr filter",
            "affected": [
                {
                    "package": {"name": "jinja2", "ecosystem": "PyPI"},
                    "ranges": [
                        {"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "3.1.3"}]}
                    ],
                }
            ],
        }
        return JSONResponse({"vulns": [vulnerability]})


@pytest.fixture(scope="module")
def osv() -> Iterator[FakeOsv]:
    with FakeOsv() as fake:
        yield fake


def audit(tmp_path: Path, osv_url: str, allow: str = "") -> subprocess.CompletedProcess[str]:
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("jinja2==3.1.2\nclick==8.1.7\n")
    allow_list = tmp_path / "allow.txt"
    allow_list.write_text(allow)
    command = [sys.executable, str(SCRIPT), "-r", str(requirements), "--osv-url", osv_url]
    return subprocess.run(
        [*command, "--allow-list", str(allow_list)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_a_known_vulnerability_fails_the_audit_unless_allowed_with_a_reason(
    tmp_path: Path, osv: FakeOsv
) -> None:
    url = f"{osv.url}/v1/query"
    found = audit(tmp_path, url)
    assert found.returncode == 1, found.stderr
    assert "jinja2 3.1.2: CVE-2024-22195 (GHSA-h5c8-rqwp-cp95) fixed in: 3.1.3" in found.stdout

    allowed = audit(tmp_path, url, "GHSA-h5c8-rqwp-cp95  # xmlattr is not used; until 2027-01\n")
    assert allowed.returncode == 0, allowed.stdout + allowed.stderr
    assert "no known vulnerabilities (1 allowed: GHSA-h5c8-rqwp-cp95)" in allowed.stdout

    unexplained = audit(tmp_path, url, "GHSA-h5c8-rqwp-cp95\n")
    assert unexplained.returncode != 0
    assert "followed by '# why it is accepted'" in unexplained.stderr


def test_an_unreachable_service_warns_without_failing(tmp_path: Path) -> None:
    closed = f"http://127.0.0.1:{free_port()}/v1/query"
    result = audit(tmp_path, closed)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "WARNING: dependency audit not done" in result.stderr
    assert "could not be reached" in result.stderr


def test_the_allow_list_in_the_repository_is_well_formed() -> None:
    sys.path.insert(0, str(SCRIPT.parent))
    try:
        from audit_dependencies import ALLOW_LIST, read_allow_list  # type: ignore[import-not-found]
    finally:
        sys.path.remove(str(SCRIPT.parent))
    assert ALLOW_LIST.exists()
    read_allow_list(ALLOW_LIST)  # raises on a line without its reason
