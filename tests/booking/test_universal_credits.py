"""The universal marketplace account: one per member, separate from every studio's."""

from __future__ import annotations

from studioloop.credits.tasks import expire_credits
from tests.booking.conftest import BookingStudio
from tests.booking.test_booking import ledger_matches_balances
from tests.conftest import Owner, assert_error


def _universal(user: dict) -> str:
    return f"/api/v1/users/{user['user']['id']}/credits/universal"


async def _operator(studio: BookingStudio, owner_db: Owner) -> dict:
    operator = await studio.api.signup(first_name="Operator")
    owner_db.rows("UPDATE users SET is_platform_owner = true WHERE email = %s", operator["email"])
    return operator


async def test_universal_credits_are_granted_by_the_operator_and_kept_apart(
    studio: BookingStudio, client, owner_db: Owner
) -> None:
    operator = await _operator(studio, owner_db)
    member = await studio.new_member(credits=2)  # studio credits
    granted = await client.post(
        f"{_universal(member)}/adjustments",
        headers=operator["headers"],
        json={"amount": 5, "reason": "Marketplace launch gift", "valid_days": 30},
    )
    assert granted.status_code == 201, granted.text
    body = granted.json()
    assert body["tenant_id"] is None
    assert body["credits_balance"] == 5
    assert body["next_expiry"] is not None
    assert [t["type"] for t in body["transactions"]] == ["adjustment"]

    own = (await client.get(_universal(member), headers=member["headers"])).json()
    assert own["credits_balance"] == 5
    # The studio account is untouched, and a studio booking spends studio credits only.
    occurrence = await studio.occurrence()
    assert (await studio.book(member, occurrence["id"])).status_code == 201
    assert await studio.balance(member) == 1
    own = (await client.get(_universal(member), headers=member["headers"])).json()
    assert own["credits_balance"] == 5

    taken = await client.post(
        f"{_universal(member)}/adjustments",
        headers=operator["headers"],
        json={"amount": -2, "reason": "Goodwill reversed"},
    )
    assert taken.json()["credits_balance"] == 3
    ledger_matches_balances(owner_db)


async def test_universal_credits_are_private_and_only_the_operator_adjusts(
    studio: BookingStudio, client, owner_db: Owner
) -> None:
    operator = await _operator(studio, owner_db)
    member = await studio.new_member()
    other = await studio.new_member()
    assert_error(await client.get(_universal(member), headers=other["headers"]), 404, "NOT_FOUND")
    # Studio owners have no say over credits that are not their studio's.
    assert_error(
        await client.post(
            f"{_universal(member)}/adjustments",
            headers=studio.owner["headers"],
            json={"amount": 5, "reason": "Trying"},
        ),
        403,
        "FORBIDDEN",
    )
    assert_error(await client.get(_universal(member)), 401, "UNAUTHORIZED")
    # Removing more than there is changes nothing.
    assert_error(
        await client.post(
            f"{_universal(member)}/adjustments",
            headers=operator["headers"],
            json={"amount": -1, "reason": "Too much"},
        ),
        402,
        "INSUFFICIENT_CREDITS",
    )
    assert_error(
        await client.post(
            "/api/v1/users/00000000-0000-0000-0000-00000000abcd/credits/universal/adjustments",
            headers=operator["headers"],
            json={"amount": 1, "reason": "Nobody"},
        ),
        404,
        "USER_NOT_FOUND",
    )
    assert owner_db.value("SELECT count(*) FROM credit_transactions") == 0
    # The operator may look at anyone's.
    seen = await client.get(_universal(member), headers=operator["headers"])
    assert seen.status_code == 200 and seen.json()["credits_balance"] == 0


async def test_the_platform_tenant_is_never_a_studio(
    studio: BookingStudio, client, owner_db: Owner
) -> None:
    operator = await _operator(studio, owner_db)
    member = await studio.new_member()
    await client.post(
        f"{_universal(member)}/adjustments",
        headers=operator["headers"],
        json={"amount": 1, "reason": "Creates the platform tenant"},
    )
    platform_id = owner_db.value("SELECT id FROM tenants WHERE kind = 'platform'")
    assert platform_id is not None
    assert_error(await client.get("/api/v1/tenants/marketplace"), 404, "TENANT_NOT_FOUND")
    assert_error(
        await client.get(
            f"/api/v1/users/{member['user']['id']}/credits",
            headers={**member["headers"], "X-Tenant-ID": str(platform_id)},
        ),
        404,
        "TENANT_NOT_FOUND",
    )
    listed = (await client.get("/api/v1/tenants")).json()
    assert [t["slug"] for t in listed["items"]] == [studio.slug]


async def test_the_expiry_job_expires_universal_lots(
    studio: BookingStudio, client, owner_db: Owner, database
) -> None:
    operator = await _operator(studio, owner_db)
    member = await studio.new_member()
    await client.post(
        f"{_universal(member)}/adjustments",
        headers=operator["headers"],
        json={"amount": 4, "reason": "Gift", "valid_days": 1},
    )
    owner_db.rows("UPDATE credit_lots SET expires_at = now() - interval '1 minute'")
    assert await expire_credits(timestamp=0) == 4
    body = (await client.get(_universal(member), headers=member["headers"])).json()
    assert body["credits_balance"] == 0
    assert body["transactions"][0]["type"] == "expiry"  # newest first
    ledger_matches_balances(owner_db)
