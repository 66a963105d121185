"""`tenancy.scope` on a real database: after the block, row-level security shows the
studio that was in context before it, whatever happened inside."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from studioloop.credits.models import CreditPackage
from studioloop.db import tenancy
from tests.conftest import Api


class Boom(Exception):
    pass


async def _visible(session: AsyncSession) -> set[str]:
    """The studios whose memberships row-level security lets this transaction see."""
    rows = await session.scalars(text("SELECT DISTINCT tenant_id::text FROM user_tenant_roles"))
    return set(rows)


async def _fail_in(session: AsyncSession, tenant_ids: list[str]) -> None:
    """Visit the studios in turn, each in its own scope, and fail in the last one."""
    for tenant_id in tenant_ids:
        async with tenancy.scope(session, uuid.UUID(tenant_id)):
            assert await _visible(session) == {tenant_id}
            if tenant_id == tenant_ids[-1]:
                raise Boom


async def _setting(session: AsyncSession) -> str:
    value = await session.scalar(text("SELECT current_setting('app.tenant_id', true)"))
    return value or ""


@pytest.fixture
async def studios(api: Api) -> dict[str, Any]:
    a = await api.create_tenant(await api.signup(), "studio-a")
    b = await api.create_tenant(await api.signup(), "studio-b")
    c = await api.create_tenant(await api.signup(), "studio-c")
    return {"a": a["id"], "b": b["id"], "c": c["id"]}


async def test_scope_restores_the_previous_studio_after_the_block(database, studios) -> None:
    a, b = studios["a"], studios["b"]
    async with database.sessionmaker() as session:
        await tenancy.enter_tenant_for_transaction(session, uuid.UUID(a))
        assert await _visible(session) == {a}
        async with tenancy.scope(session, uuid.UUID(b)):
            assert await _visible(session) == {b}
        assert await _visible(session) == {a}


async def test_scope_restores_the_previous_studio_when_the_block_raises(database, studios) -> None:
    a, b = studios["a"], studios["b"]
    async with database.sessionmaker() as session:
        await tenancy.enter_tenant_for_transaction(session, uuid.UUID(a))
        with pytest.raises(Boom):
            await _fail_in(session, [b])
        assert await _visible(session) == {a}


async def test_scope_from_no_studio_returns_to_no_studio(database, studios) -> None:
    async with database.sessionmaker() as session:
        assert await _visible(session) == set()
        with pytest.raises(Boom):
            async with tenancy.scope(session, uuid.UUID(studios["b"])):
                raise Boom
        assert await _visible(session) == set()
        assert await _setting(session) == ""


async def test_nested_scopes_restore_in_order(database, studios) -> None:
    a, b, c = studios["a"], studios["b"], studios["c"]
    async with database.sessionmaker() as session:
        await tenancy.enter_tenant_for_transaction(session, uuid.UUID(a))
        async with tenancy.scope(session, uuid.UUID(b)):
            async with tenancy.scope(session, uuid.UUID(c)):
                assert await _visible(session) == {c}
                async with tenancy.scope(session, None):  # platform rows only
                    assert await _visible(session) == set()
                assert await _visible(session) == {c}
            assert await _visible(session) == {b}
            # The studio already in context: nothing to switch, nothing to restore.
            async with tenancy.scope(session, uuid.UUID(b)):
                assert await _visible(session) == {b}
            assert await _visible(session) == {b}
        assert await _visible(session) == {a}


async def test_a_loop_over_studios_leaves_the_original_context(database, studios) -> None:
    a = studios["a"]
    async with database.sessionmaker() as session:
        await tenancy.enter_tenant_for_transaction(session, uuid.UUID(a))
        seen = []
        for tenant_id in (studios["b"], a, studios["c"]):
            async with tenancy.scope(session, uuid.UUID(tenant_id)):
                seen.append(await _visible(session))
        assert seen == [{studios["b"]}, {a}, {studios["c"]}]
        assert await _visible(session) == {a}
        with pytest.raises(Boom):
            await _fail_in(session, [studios["b"], studios["c"]])
        assert await _visible(session) == {a}


async def test_writes_of_the_block_are_flushed_in_its_studio(database, studios) -> None:
    a, b = uuid.UUID(studios["a"]), uuid.UUID(studios["b"])
    async with database.sessionmaker() as session:
        await tenancy.enter_tenant_for_transaction(session, a)
        session.add(CreditPackage(tenant_id=a, name="A's", credits=1, price=100))
        async with tenancy.scope(session, b):
            session.add(CreditPackage(tenant_id=b, name="B's", credits=1, price=100))
        # Row-level security would refuse either row flushed in the other studio.
        assert list(await session.scalars(select(CreditPackage.name))) == ["A's"]
        async with tenancy.scope(session, b):
            assert list(await session.scalars(select(CreditPackage.name))) == ["B's"]
        await session.rollback()


async def test_a_failed_statement_in_a_scope_is_not_hidden_by_the_restore(
    database, studios
) -> None:
    a, b = uuid.UUID(studios["a"]), uuid.UUID(studios["b"])
    async with database.sessionmaker() as session:
        await tenancy.enter_tenant_for_transaction(session, a)
        with pytest.raises(DBAPIError, match="division by zero"):
            async with tenancy.scope(session, b):
                await session.execute(text("SELECT 1 / 0"))
        await session.rollback()
        assert await _visible(session) == set()  # the rollback ended every setting
        # Inside a savepoint the transaction goes on, back in the first studio.
        await tenancy.enter_tenant_for_transaction(session, a)
        with pytest.raises(DBAPIError, match="division by zero"):
            async with session.begin_nested(), tenancy.scope(session, b):
                await session.execute(text("SELECT 1 / 0"))
        assert await _visible(session) == {str(a)}


async def test_a_scope_does_not_outlive_its_transaction(database, studios) -> None:
    async with database.sessionmaker() as session:
        await tenancy.enter_tenant_for_transaction(session, uuid.UUID(studios["a"]))
        async with tenancy.scope(session, uuid.UUID(studios["b"])):
            await session.commit()
        # Neither studio is carried into the next transaction.
        assert await _setting(session) == ""


INVITATION = "SELECT current_setting('app.invitation_token_hash', true)"


async def _look_up_and_fail(session: AsyncSession) -> None:
    async with tenancy.invitation_lookup(session, "some-hash"):
        assert await session.scalar(text(INVITATION)) == "some-hash"
        raise Boom


async def test_the_invitation_lookup_ends_with_its_block(database) -> None:
    async with database.sessionmaker() as session:
        with pytest.raises(Boom):
            await _look_up_and_fail(session)
        assert await session.scalar(text(INVITATION)) == ""
