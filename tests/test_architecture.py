"""The import contracts in pyproject.toml ([tool.importlinter]) hold: raw SQL only in a
domain's repository.py, and other domains reach a domain through its public face
(docs/development.md, docs/architecture.md). `make lint` runs them too; this test makes a
bare `pytest` enforce them, and checks that the contracts still cover every module."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

import grimp

ROOT = Path(__file__).resolve().parents[1]

# Packages under studioloop/ that are not domains: infrastructure every domain uses, and
# web/, the pages over all domains, which may import any of their modules.
NOT_DOMAINS = {"core", "db", "jobs", "storage", "web"}
# What other domains may import (pyproject.toml says the same above the contracts).
PUBLIC_FACE = {"service", "models", "schemas", "exceptions", "dependencies", "job_names"}
PUBLIC_FACE |= {"hooks", "public"}
# Named for what they hold, beside the service (docs/architecture.md lists them).
ALSO_PUBLIC = {"accounts.members", "accounts.roles", "scheduling.timetable", "tenants.cache"}
ALSO_PUBLIC |= {"booking.reading", "booking.flows", "credits.ledger", "billing.entitlements"}
ALSO_PUBLIC |= {"marketplace.search", "api_keys.scopes"}


def _contracts() -> dict[str, dict[str, object]]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    return {c["name"]: c for c in config["tool"]["importlinter"]["contracts"]}


def test_import_contracts_are_kept() -> None:
    lint_imports = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run(
        [str(lint_imports), "--no-cache"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]


def test_every_domain_module_is_public_or_protected() -> None:
    """A new module is internal unless it joins the public face on purpose: otherwise it
    would be open to every domain without anyone deciding so."""
    graph = grimp.build_graph("studioloop")
    contracts = _contracts()
    domains = sorted(
        path.name
        for path in (ROOT / "src" / "studioloop").iterdir()
        if (path / "__init__.py").exists() and path.name not in NOT_DOMAINS
    )
    for domain in domains:
        contract = contracts.get(f"Other domains use {domain} through its public face")
        assert contract, f"no public-face contract for the domain {domain!r} in pyproject.toml"
        internal = {
            child
            for child in graph.find_children(f"studioloop.{domain}")
            if child.split(".")[2] not in PUBLIC_FACE
            and child.removeprefix("studioloop.") not in ALSO_PUBLIC
        }
        assert set(contract["forbidden_modules"]) == internal, (
            f"{domain}: list its internal modules as forbidden_modules in pyproject.toml"
        )
        others = {f"studioloop.{d}" for d in domains if d != domain}
        assert set(contract["source_modules"]) == others, (
            f"{domain}: every other domain is a source_module of its contract"
        )
