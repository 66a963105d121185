"""Credit lots, expiry, adjustments and packages."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from studioloop.credits import service as credits
from studioloop.db.tenancy import enter_tenant_for_transaction
from tests.booking.conftest import BookingStudio
from tests.booking.test_booking import ledger_matches_balances
from tests.conftest import Owner, assert_error


async def test_soonest_expiring_lot_is_used_first(studio: BookingStudio, client, owner_db) -> None:
    member = await studio.new_member()
    await studio.give_credits(member, 3, valid_days=90)
    await studio.give_credits(member, 2, valid_days=10)
    await studio.give_credits(member, 1)  # never expires
    occurrence = await studio.occurrence(credits_required=3)
    assert (await studio.book(member, occurrence["id"])).status_code == 201
    remaining = owner_db.rows("SELECT original, remaining FROM credit_lots ORDER BY original")
    assert remaining == [(1, 1), (2, 0), (3, 2)]  # the 10-day lot first, then the 90-day one

    statement = (
        await client.get(
            f"{studio.base}/users/{member['user']['id']}/credits", headers=member["headers"]
        )
    ).json()
    assert statement["credits_balance"] == 3
    assert [lot["remaining"] for lot in statement["lots"]] == [2, 1]
    assert statement["next_expiry"] is not None
    types = [t["type"] for t in statement["transactions"]]
    assert types.count("usage") == 2 and types.count("adjustment") == 3
    ledger_matches_balances(owner_db)


async def test_lapsed_credits_cannot_be_spent_and_the_job_expires_them(
    studio: BookingStudio, database, owner_db: Owner
) -> None:
    member = await studio.new_member()
    await studio.give_credits(member, 2, valid_days=5)
    owner_db.rows("UPDATE credit_lots SET expires_at = now() - interval '1 minute'")
    occurrence = await studio.occurrence()
    error = assert_error(await studio.book(member, occurrence["id"]), 402, "INSUFFICIENT_CREDITS")
    assert error["details"]["balance"] == 0  # expired on the spot, and the 402 rolled it back

    async with database.sessionmaker() as session:
        await enter_tenant_for_transaction(session, uuid.UUID(studio.tenant["id"]))
        assert await credits.expire_due(session) == 2
        await session.commit()
    assert owner_db.rows(
        "SELECT type, amount, balance_after FROM credit_transactions WHERE type = 'expiry'"
    ) == [("expiry", -2, 0)]
    assert await studio.balance(member) == 0
    ledger_matches_balances(owner_db)


async def test_adjustments_need_admins_and_a_reason(
    studio: BookingStudio, client, owner_db
) -> None:
    member = await studio.new_member(credits=3)
    path = f"{studio.base}/users/{member['user']['id']}/credits/adjustments"
    taken = await client.post(
        path, headers=studio.owner["headers"], json={"amount": -2, "reason": "Charged twice"}
    )
    assert taken.json()["credits_balance"] == 1
    too_much = await client.post(
        path, headers=studio.owner["headers"], json={"amount": -5, "reason": "Oops"}
    )
    assert_error(too_much, 402, "INSUFFICIENT_CREDITS")
    no_reason = await client.post(path, headers=studio.owner["headers"], json={"amount": 5})
    assert_error(no_reason, 422, "VALIDATION_ERROR")
    self_service = await client.post(
        path, headers=member["headers"], json={"amount": 50, "reason": "Free credits please"}
    )
    assert_error(self_service, 403, "INSUFFICIENT_ROLE")
    stranger = await client.post(
        f"{studio.base}/users/{uuid.uuid4()}/credits/adjustments",
        headers=studio.owner["headers"],
        json={"amount": 5, "reason": "Who?"},
    )
    assert_error(stranger, 404, "MEMBER_NOT_FOUND")
    assert await studio.balance(member) == 1
    # Members read only their own credits; staff read anyone's in their studio.
    other = await studio.new_member()
    peek = await client.get(
        f"{studio.base}/users/{member['user']['id']}/credits", headers=other["headers"]
    )
    assert peek.status_code == 404
    staff = await client.get(
        f"{studio.base}/users/{member['user']['id']}/credits", headers=studio.instructor["headers"]
    )
    assert staff.json()["credits_balance"] == 1


async def test_packages(studio: BookingStudio, client) -> None:
    created = await client.post(
        f"{studio.base}/credit-packages",
        headers=studio.owner["headers"],
        json={"name": "Ten pack", "credits": 10, "price": 110000, "validity_days": 90},
    )
    assert created.status_code == 201
    assert created.json()["currency"] == "ZAR"
    duplicate = await client.post(
        f"{studio.base}/credit-packages",
        headers=studio.owner["headers"],
        json={"name": "Ten pack", "credits": 10, "price": 1},
    )
    assert_error(duplicate, 409, "NAME_TAKEN")
    hidden = await client.patch(
        f"{studio.base}/credit-packages/{created.json()['id']}",
        headers=studio.owner["headers"],
        json={"is_active": False},
    )
    assert hidden.json()["is_active"] is False
    assert (await client.get(f"{studio.base}/credit-packages")).json() == []
    assert_error(
        await client.post(
            f"{studio.base}/credit-packages",
            headers=studio.member["headers"],
            json={"name": "Mine", "credits": 1, "price": 0},
        ),
        403,
        "INSUFFICIENT_ROLE",
    )


async def test_credits_stay_in_their_studio(studio: BookingStudio, api, client) -> None:
    member = await studio.new_member(credits=4)
    other = await BookingStudio(api, "jozi-hiit").setup()
    await api.join(member, "jozi-hiit")
    elsewhere = await other.occurrence()
    assert_error(await other.book(member, elsewhere["id"]), 402, "INSUFFICIENT_CREDITS")
    there = await client.get(
        f"{other.base}/users/{member['user']['id']}/credits", headers=member["headers"]
    )
    assert there.json()["credits_balance"] == 0
    assert await studio.balance(member) == 4


def test_qr_codes_cannot_be_forged_or_moved(settings) -> None:
    from studioloop.booking import qr

    tenant = uuid.uuid4()
    code = qr.CheckinCode(
        uuid.uuid4(), uuid.uuid4(), tenant, datetime.now(UTC) + timedelta(hours=1)
    )
    text = qr.issue(settings, code)
    assert qr.read(settings, text) == code.__class__(
        code.booking_id, code.occurrence_id, tenant, code.expires_at.replace(microsecond=0)
    )
    prefix, _payload, signature = text.split(".")
    moved = qr.issue(
        settings, qr.CheckinCode(uuid.uuid4(), code.occurrence_id, tenant, code.expires_at)
    )
    for forged in (
        f"{prefix}.{moved.split('.')[1]}.{signature}",
        text[:-3] + "abc",
        "SL1.x.y",
        "hello",
    ):
        try:
            qr.read(settings, forged)
        except qr.InvalidCode:
            continue
        raise AssertionError(f"accepted a forged code: {forged}")
    expired = qr.issue(
        settings,
        qr.CheckinCode(
            code.booking_id, code.occurrence_id, tenant, datetime.now(UTC) - timedelta(minutes=1)
        ),
    )
    try:
        qr.read(settings, expired)
    except qr.InvalidCode:
        pass
    else:
        raise AssertionError("accepted an expired code")
    other_tenant_key = qr.public_key_b64(settings, uuid.uuid4())
    assert other_tenant_key != qr.public_key_b64(settings, tenant)
