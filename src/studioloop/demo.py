"""Demo data: two studios with an owner, an instructor and members, and a platform operator.

Loading is idempotent: running it again resets the demo passwords and adds nothing twice.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from studioloop.accounts import service as accounts_service
from studioloop.accounts.exceptions import AlreadyMember
from studioloop.config import Settings
from studioloop.db.tenancy import set_tenant_context
from studioloop.tenants import service as tenants_service
from studioloop.tenants.models import Tenant
from studioloop.tenants.schemas import Address, TenantCreate

DEMO_PASSWORD = "studioloop1"  # noqa: S105 (printed demo login)


@dataclass(frozen=True)
class DemoLogin:
    email: str
    role: str


OPERATOR = ("operator@example.com", "Thandi", "Mokoena")
PEOPLE = {
    "owner": ("owner@example.com", "Lerato", "Dlamini", "+27 82 555 0101"),
    "instructor": ("instructor@example.com", "Sipho", "Nkosi", "+27 82 555 0102"),
    "member": ("member@example.com", "Aisha", "Patel", "+27 82 555 0103"),
    "member2": ("member2@example.com", "Johan", "van der Merwe", "+27 82 555 0104"),
}
STUDIOS = [
    TenantCreate(
        name="Loop Yoga Cape Town",
        slug="loop-yoga",
        email="hello@loopyoga.example.com",
        phone="+27 21 555 0100",
        kind="studio",
        address=Address(
            street="12 Bree Street",
            city="Cape Town",
            province="Western Cape",
            postal_code="8001",
            country="ZA",
        ),
    ),
    TenantCreate(
        name="Jozi HIIT Club",
        slug="jozi-hiit",
        email="team@jozihiit.example.com",
        phone="+27 11 555 0200",
        kind="gym",
        address=Address(
            street="44 Jan Smuts Avenue",
            city="Johannesburg",
            province="Gauteng",
            postal_code="2196",
            country="ZA",
        ),
    ),
]


async def load_demo(session: AsyncSession, settings: Settings) -> list[DemoLogin]:
    await accounts_service.ensure_verified_user(
        session,
        settings,
        email=OPERATOR[0],
        password=DEMO_PASSWORD,
        first_name=OPERATOR[1],
        last_name=OPERATOR[2],
        platform_owner=True,
    )
    users = {}
    for key, (email, first, last, phone) in PEOPLE.items():
        users[key] = await accounts_service.ensure_verified_user(
            session,
            settings,
            email=email,
            password=DEMO_PASSWORD,
            first_name=first,
            last_name=last,
            phone=phone,
        )
    for studio in STUDIOS:
        tenant = await session.scalar(select(Tenant).where(Tenant.slug == studio.slug))
        if tenant is None:
            tenant = await tenants_service.create_tenant(session, users["owner"], studio)
        await set_tenant_context(session, tenant.id)
        for key, role in (
            ("instructor", "instructor"),
            ("member", "member"),
            ("member2", "member"),
        ):
            # Already a member from an earlier load: leave as is.
            with contextlib.suppress(AlreadyMember):
                await accounts_service.grant_role(session, tenant.id, users[key].id, role)
    return [
        DemoLogin(OPERATOR[0], "platform operator (sees /dev/outbox)"),
        DemoLogin(PEOPLE["owner"][0], "owner of loop-yoga and jozi-hiit"),
        DemoLogin(PEOPLE["instructor"][0], "instructor"),
        DemoLogin(PEOPLE["member"][0], "member"),
        DemoLogin(PEOPLE["member2"][0], "member"),
    ]
