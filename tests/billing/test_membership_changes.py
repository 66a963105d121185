"""What the member's membership page asks billing: a plan change quoted before it is made
(the same decision `change_plan` carries out), a cancellation at the period's end that is
refused twice and can be taken back while the period runs, and a membership's payments."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from studioloop.billing import service
from studioloop.billing.exceptions import PlanNotFound, SubscriptionNotChangeable
from studioloop.core.errors import ValidationFailed
from studioloop.db import tenancy
from tests.billing.conftest import MemberStudio, RunJobs
from tests.conftest import Owner, assert_error


def _halfway(owner_db: Owner, subscription_id: str) -> None:
    owner_db.rows(
        "UPDATE subscriptions SET current_period_start = now() - interval '15 days', "
        "current_period_end = now() + interval '15 days' WHERE id = %s",
        subscription_id,
    )


async def _in_studio(database: Any, gym: MemberStudio, action: Any) -> Any:
    async with database.sessionmaker() as session, session.begin():
        await tenancy.enter_tenant_for_transaction(session, uuid.UUID(gym.tenant["id"]))
        return await action(session)


async def test_a_quote_says_what_changing_plan_does(
    gym: MemberStudio, database: Any, owner_db: Owner, run_jobs: RunJobs
) -> None:
    small = await gym.plan()
    big = await gym.plan(name="Twenty a month", price=85000, credits_per_period=20)
    cheap = await gym.plan(name="Four a month", price=25000, credits_per_period=4)
    yearly = await gym.plan(name="Yearly", price=450000, interval="year")
    retired = await gym.plan(name="Old", price=50000)
    await gym.client.patch(
        f"{gym.base}/membership-plans/{retired['id']}",
        headers=gym.owner["headers"],
        json={"is_active": False},
    )
    member, sub = await gym.member_with(small, run_jobs)
    _halfway(owner_db, sub["id"])

    async def quote(plan_id: str) -> service.PlanChange:
        async def run(session: Any) -> service.PlanChange:
            subscription = await service.get_subscription(session, uuid.UUID(sub["id"]))
            return await service.quote_change(session, subscription, uuid.UUID(plan_id))

        result: service.PlanChange = await _in_studio(database, gym, run)
        return result

    up = await quote(big["id"])
    assert (up.when, up.current.name, up.plan.name) == ("now", "Eight a month", "Twenty a month")
    assert abs(up.due - (85000 - 45000) // 2) <= 2
    down = await quote(cheap["id"])
    assert (down.when, down.due) == ("at_renewal", 0)
    assert (await quote(small["id"])).when == "same"
    with pytest.raises(ValidationFailed):
        await quote(yearly["id"])
    for missing in (retired["id"], str(uuid.uuid4())):
        with pytest.raises(PlanNotFound):
            await quote(missing)
    # Quoting changed nothing.
    assert owner_db.rows(
        "SELECT plan_id::text, next_plan_id FROM subscriptions WHERE id = %s", sub["id"]
    ) == [(small["id"], None)]
    assert owner_db.value("SELECT count(*) FROM payments") == 1

    # The change charges what the quote said (to the second).
    upgrade = await gym.act(member, sub["id"], "change-plan", {"plan_id": big["id"]})
    assert upgrade.status_code == 200, upgrade.text
    assert abs(upgrade.json()["payment"]["amount"] - up.due) <= 2


async def test_cancelling_twice_is_refused_and_a_cancellation_can_be_taken_back(
    gym: MemberStudio, database: Any, owner_db: Owner, run_jobs: RunJobs
) -> None:
    plan = await gym.plan()
    member, sub = await gym.member_with(plan, run_jobs)

    async def keep(session: Any) -> Any:
        subscription = await service.get_subscription(session, uuid.UUID(sub["id"]), lock=True)
        return await service.keep(session, subscription)

    with pytest.raises(SubscriptionNotChangeable, match="not set to end"):
        await _in_studio(database, gym, keep)
    first = await gym.act(member, sub["id"], "cancel", {})
    assert first.status_code == 200 and first.json()["cancel_at_period_end"] is True
    again = await gym.act(member, sub["id"], "cancel", {})
    assert_error(again, 409, "SUBSCRIPTION_NOT_CHANGEABLE")
    kept = await _in_studio(database, gym, keep)
    assert kept.cancel_at_period_end is False and kept.status == "active"
    assert (await gym.subscription(member, sub["id"]))["renews_automatically"] is True

    assert (await gym.act(member, sub["id"], "cancel", {})).status_code == 200
    owner_db.rows(
        "UPDATE subscriptions SET current_period_end = now() - interval '1 minute' WHERE id = %s",
        sub["id"],
    )
    with pytest.raises(SubscriptionNotChangeable, match="period is over"):
        await _in_studio(database, gym, keep)
    assert owner_db.value("SELECT cancel_at_period_end FROM subscriptions WHERE id = %s", sub["id"])
    ended = await gym.act(gym.owner, sub["id"], "cancel", {"immediately": True})
    assert ended.json()["status"] == "canceled"


async def test_a_memberships_payments_newest_first(
    gym: MemberStudio, database: Any, owner_db: Owner, run_jobs: RunJobs
) -> None:
    small = await gym.plan()
    big = await gym.plan(name="Twenty a month", price=85000, credits_per_period=20)
    member, sub = await gym.member_with(small, run_jobs)
    other, _ = await gym.member_with(small, run_jobs)
    await gym.act(member, sub["id"], "change-plan", {"plan_id": big["id"]})

    async def payments(session: Any) -> list[tuple[str, str]]:
        subscription = await service.get_subscription(session, uuid.UUID(sub["id"]))
        return [(p.purpose, p.status) for p in await service.payments_of(session, subscription)]

    assert await _in_studio(database, gym, payments) == [
        ("subscription_upgrade", "pending"),
        ("subscription", "succeeded"),
    ]
    assert other["user"]["id"] != member["user"]["id"]
