"""Property-based tests of the whole served OpenAPI document (schemathesis), signed in as an
owner, an instructor and a member of a studio with real data: no answer is a server error,
every answer matches its documented schema, and every operation is exercised.

The budget is bounded so it fits the default test run: the coverage phase (boundary and
invalid values derived from each schema; the document carries no examples to replay), no
random fuzzing. For a deeper run by hand, see docs/development.md."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import PASSWORD, Owner
from tests.servers import api_process

SCHEMATHESIS = Path(sys.executable).parent / "schemathesis"


def _person(base: str, owner_db: Owner, email: str, first_name: str) -> dict[str, str]:
    httpx.post(
        f"{base}/api/v1/auth/register",
        json={"email": email, "password": PASSWORD, "first_name": first_name, "last_name": "T"},
    ).raise_for_status()
    verified = httpx.post(
        f"{base}/api/v1/auth/verify", json={"email": email, "code": owner_db.latest_code(email)}
    )
    verified.raise_for_status()
    body = verified.json()
    return {"token": body["access_token"], "id": body["user"]["id"]}


def _seed(base: str, owner_db: Owner) -> dict[str, Any]:
    """A studio with one of everything an operation's path can name."""
    owner = _person(base, owner_db, "owner@example.com", "Thandi")
    instructor = _person(base, owner_db, "instructor@example.com", "Sipho")
    member = _person(base, owner_db, "member@example.com", "Mia")
    api = f"{base}/api/v1/tenants/loop-yoga"

    def call(method: str, path: str, who: dict[str, str], body: Any = None) -> Any:
        response = httpx.request(
            method,
            f"{api}{path}" if path.startswith("/") else path,
            headers={"Authorization": f"Bearer {who['token']}"},
            json=body,
        )
        assert response.status_code < 300, f"{method} {path}: {response.text}"
        return response.json() if response.content else None

    call(
        "POST",
        f"{base}/api/v1/tenants",
        owner,
        {"name": "Loop Yoga", "slug": "loop-yoga", "email": "hello@loopyoga.example.com"},
    )
    for person in (instructor, member):
        call("POST", "/join", person)
    call("PATCH", f"/members/{instructor['id']}", owner, {"role": "instructor"})
    location = call("POST", "/locations", owner, {"name": "Main", "address": {"city": "Durban"}})
    room = call("POST", f"/locations/{location['id']}/rooms", owner, {"name": "A", "capacity": 20})
    made = call(
        "POST",
        "/classes",
        owner,
        {
            "name": "Flow",
            "class_type": "yoga",
            "duration_minutes": 60,
            "max_capacity": 12,
            "instructor_id": instructor["id"],
            "location_id": location["id"],
            "room_id": room["id"],
            "price": 9000,
        },
    )
    start = (datetime.now(UTC) + timedelta(days=2)).replace(microsecond=0)
    schedule = call(
        "POST", "/schedules", owner, {"class_id": made["id"], "start_time": start.isoformat()}
    )
    occurrence = schedule["occurrences"][0]
    weekly = call(
        "POST",
        "/schedules",
        owner,
        {
            "class_id": made["id"],
            "local_start_time": "06:30",
            "recurrence": {"weekdays": [0, 3], "starts_on": start.date().isoformat(), "count": 4},
        },
    )
    call(
        "POST",
        f"/users/{member['id']}/credits/adjustments",
        owner,
        {"amount": 5, "reason": "Welcome"},
    )
    booking = call("POST", "/bookings", member, {"class_schedule_id": occurrence["id"]})
    package = call("POST", "/credit-packages", owner, {"name": "Ten", "credits": 10, "price": 100})
    plan = call(
        "POST", "/membership-plans", owner, {"name": "Monthly", "price": 50000, "interval": "month"}
    )
    chat = call("POST", "/chat/rooms", member, {"subject": "Parking?", "message": "Hi"})
    purchase = call("POST", "/payments/credits/purchase", member, {"package_id": package["id"]})
    return {
        "tokens": {"owner": owner["token"], "instructor": instructor["token"], "member": member},
        "paths": {
            "slug": "loop-yoga",
            "location_id": location["id"],
            "class_id": made["id"],
            "schedule_id": occurrence["id"],
            "booking_id": booking["id"],
            "package_id": package["id"],
            "plan_id": plan["id"],
            "user_id": member["id"],
            "payment_id": purchase["payment"]["id"],
            "membership_id": member["id"],
            "series_id": weekly["series"]["id"],
        },
        "room_ids": {"scheduling": room["id"], "chat": chat["id"]},
        "member": member,
    }


def _config(base: str, token: str, seeded: dict[str, Any], thorough: bool) -> str:
    lines = [
        f'base-url = "{base}"',
        "workers = 1",
        "request-timeout = 30",
        f'headers = {{ Authorization = "Bearer {token}" }}',
        "[generation]",
        f'mode = "{"all" if thorough else "positive"}"',
        "max-examples = 5",
        "[phases]",
        "examples.enabled = true",
        f"coverage.enabled = {str(thorough).lower()}",
        f"fuzzing.enabled = {str(not thorough).lower()}",
        "stateful.enabled = false",
        # Methods a path does not serve answer 405 by the framework's routing alone.
        "coverage.unexpected-methods = []",
        "[checks]",
        "enabled = false",
        "not_a_server_error.enabled = true",
        "response_schema_conformance.enabled = true",
        "[parameters]",
    ]
    lines += [f'"path.{name}" = "{value}"' for name, value in seeded["paths"].items()]
    lines += [
        "[[operations]]",
        'include-path-regex = "/chat/rooms/"',
        f'parameters = {{ "path.room_id" = "{seeded["room_ids"]["chat"]}" }}',
        "[[operations]]",
        'include-path-regex = "/rooms/"',
        'exclude-path-regex = "/chat/"',
        f'parameters = {{ "path.room_id" = "{seeded["room_ids"]["scheduling"]}" }}',
    ]
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="module")
def served(owner_url: str) -> Any:
    with api_process(owner_url) as base:
        yield base


@pytest.mark.timeout(1200)
@pytest.mark.parametrize("role", ["member", "instructor", "owner"])
def test_the_whole_document_holds_for(
    role: str, served: str, owner_db: Owner, tmp_path: Path
) -> None:
    seeded = _seed(served, owner_db)
    tokens = seeded["tokens"]
    token = tokens[role] if role != "member" else tokens["member"]["token"]
    config = tmp_path / "schemathesis.toml"
    # The coverage phase (every boundary and invalid value of every field, about 35 cases
    # an operation) runs once, as the owner, who gets past every role check, so invalid
    # input reaches every service. The other roles send a few random valid requests to
    # each operation: what differs for them is which checks refuse them, and where. That
    # keeps the run within the default test budget.
    config.write_text(_config(served, token, seeded, thorough=role == "owner"))
    log = Path(os.environ.get("SCHEMATHESIS_LOG", tmp_path / "schemathesis.log"))
    with log.open("w") as sink:
        run = subprocess.run(
            [
                str(SCHEMATHESIS),
                "--config-file",
                str(config),
                "run",
                f"{served}/api/v1/openapi.json",
                "--no-color",
            ],
            stdout=sink,
            stderr=subprocess.STDOUT,
            timeout=1100,
            check=False,
            cwd=tmp_path,
        )
    output = log.read_text()
    assert run.returncode == 0, output[-20000:]
    selected = re.search(r"Selected: (\d+)/(\d+)", output)
    tested = re.search(r"Tested: (\d+)", output)
    cases = re.search(r"Test cases:\s+(\d+) generated, (\d+) passed\s*$", output, re.M)
    assert selected and tested and cases, output[-3000:]
    # Every operation exercised: none skipped or errored for a schema problem.
    assert selected.group(1) == selected.group(2) == tested.group(1), output[-3000:]
    assert cases.group(1) == cases.group(2), output[-3000:]
