from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.conftest import Api
from tests.scheduling.conftest import Studio

# The state machine's model and invariants (test_stateful.py) are helpers, not test files:
# rewrite their asserts too, so a failure shows what differed.
pytest.register_assert_rewrite("tests.booking.stateful_checks", "tests.booking.stateful_model")


class BookingStudio(Studio):
    async def give_credits(
        self, person: dict[str, Any], amount: int, valid_days: int | None = None
    ) -> None:
        response = await self.client.post(
            f"{self.base}/users/{person['user']['id']}/credits/adjustments",
            headers=self.owner["headers"],
            json={"amount": amount, "reason": "Welcome credits", "valid_days": valid_days},
        )
        assert response.status_code == 201, response.text

    async def new_member(self, credits: int = 0) -> dict[str, Any]:
        person = await self.api.signup(first_name="Member")
        await self.api.join(person, self.slug)
        if credits:
            await self.give_credits(person, credits)
        return person

    async def many_members(
        self, database: Any, settings: Any, count: int, credits: int
    ) -> list[dict[str, Any]]:
        """Verified members with credits, made through the services in one transaction
        (hundreds of sign-ups over HTTP would dominate a rush test's run time)."""
        import uuid

        from studioloop.accounts import members as accounts_members, service as accounts_service
        from studioloop.core import security
        from studioloop.credits import service as credits_service
        from studioloop.db.tenancy import enter_tenant_for_transaction

        tenant_id = uuid.UUID(self.tenant["id"])
        shared_hash = security.hash_password(settings, "secret123")
        people = []
        async with database.sessionmaker() as session:
            await enter_tenant_for_transaction(session, tenant_id)
            for _ in range(count):
                user = await accounts_service.ensure_verified_user(
                    session,
                    settings,
                    email=f"rush-{uuid.uuid4().hex[:10]}@example.com",
                    password="secret123",
                    password_hash=shared_hash,
                    first_name="Rush",
                    last_name="Member",
                )
                await accounts_members.grant_role(session, tenant_id, user.id, "member")
                if credits:
                    await credits_service.grant(
                        session,
                        tenant_id,
                        user.id,
                        credits,
                        source="grant",
                        transaction_type="adjustment",
                        reason="Test credits",
                    )
                token = security.create_access_token(settings, user.id)
                people.append(
                    {
                        "user": {"id": str(user.id)},
                        "email": user.email,
                        "headers": {"Authorization": f"Bearer {token}"},
                    }
                )
            await session.commit()
        return people

    async def occurrence(
        self, *, hours_ahead: float = 30, capacity: int = 12, **class_fields: Any
    ) -> dict[str, Any]:
        template = await self.make_class(
            max_capacity=capacity,
            room_id=None,
            location_id=None,
            instructor_id=None,
            **class_fields,
        )
        start = (datetime.now(UTC) + timedelta(hours=hours_ahead)).replace(microsecond=0)
        return await self.schedule_at(template["id"], start)

    async def book(self, person: dict[str, Any], occurrence_id: str, **extra: Any) -> Any:
        return await self.client.post(
            "/api/v1/bookings",
            headers=person["headers"],
            json={"class_schedule_id": occurrence_id, **extra},
        )

    async def balance(self, person: dict[str, Any]) -> int:
        response = await self.client.get(
            f"{self.base}/users/{person['user']['id']}/credits", headers=person["headers"]
        )
        assert response.status_code == 200, response.text
        return int(response.json()["credits_balance"])


@pytest.fixture
async def studio(api: Api) -> BookingStudio:
    return await BookingStudio(api, "loop-yoga").setup()
