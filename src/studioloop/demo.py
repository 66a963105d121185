"""Demo data: a realistic studio (Loop Yoga: 3 locations, 5 instructors, 12 classes on a
4-week timetable, 200 members), a small gym (Jozi HIIT), a creator selling tiers of an app
with usage metering (Coach Kopano, demo_creator.py), and a platform operator.

Loading is idempotent: running it again resets the demo passwords and adds nothing twice.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from studioloop.accounts import members as accounts_members, service as accounts_service
from studioloop.accounts.exceptions import AlreadyMember
from studioloop.accounts.models import User
from studioloop.billing.models import MembershipPlan
from studioloop.config import Settings
from studioloop.core import security
from studioloop.credits import universal
from studioloop.credits.models import CreditPackage
from studioloop.db import tenancy
from studioloop.demo_creator import CREATOR, SUBSCRIBERS, load_creator
from studioloop.scheduling import series, service as scheduling_service
from studioloop.scheduling.models import ClassTemplate
from studioloop.scheduling.schemas import ClassIn, LocationIn, Recurrence, RoomIn, ScheduleIn
from studioloop.tenants import service as tenants_service
from studioloop.tenants.cache import TenantRef
from studioloop.tenants.models import Tenant
from studioloop.tenants.schemas import Address, TenantCreate

DEMO_PASSWORD = "studioloop1"  # noqa: S105 (printed demo login)
MEMBER_COUNT = 200


@dataclass(frozen=True)
class DemoLogin:
    email: str
    role: str


OPERATOR = ("operator@example.com", "Thandi", "Mokoena")
OWNER = ("owner@example.com", "Lerato", "Dlamini", "+27 82 555 0101")
INSTRUCTORS = [
    ("instructor@example.com", "Sipho", "Nkosi"),
    ("instructor2@example.com", "Anika", "Pillay"),
    ("instructor3@example.com", "Kagiso", "Molefe"),
    ("instructor4@example.com", "Megan", "Jacobs"),
    ("instructor5@example.com", "Tariq", "Adams"),
]
FIRST_NAMES = [
    "Aisha", "Johan", "Naledi", "Pieter", "Zanele", "Ruan", "Ayanda", "Chloe", "Bongani",
    "Fatima", "Luca", "Nomvula", "Ethan", "Palesa", "Liam", "Amahle", "Daniel", "Refilwe",
    "Jessica", "Themba",
]  # fmt: skip
LAST_NAMES = [
    "Patel", "van der Merwe", "Mthembu", "Botha", "Zulu", "Naidoo", "Khumalo", "Smith",
    "Ndlovu", "Fourie", "Mahlangu", "Williams", "Sithole", "Pretorius", "Govender",
]  # fmt: skip
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
        settings={"booking_window_hours": 336, "cancellation_window_hours": 12},
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
LOCATIONS = [  # (name, street, suburb, latitude, longitude, rooms)
    (
        "Bree Street",
        "12 Bree Street",
        "Cape Town CBD",
        -33.9195,
        18.4177,
        [("Sun Room", 24), ("Moon Room", 14)],
    ),
    (
        "Sea Point",
        "201 Main Road",
        "Sea Point",
        -33.9180,
        18.3870,
        [("Ocean Room", 20), ("Reformer Studio", 10)],
    ),
    (
        "Claremont",
        "5 Vineyard Road",
        "Claremont",
        -33.9806,
        18.4653,
        [("Garden Room", 18), ("Spin Room", 22)],
    ),
]
# (name, class_type, minutes, capacity, difficulty, credits, price in cents, equipment)
CLASSES = [
    ("Morning Vinyasa", "vinyasa", 60, 14, "all_levels", 1, 14000, ["mat"]),
    ("Hatha Foundations", "hatha", 75, 14, "beginner", 1, 14000, ["mat", "blocks"]),
    ("Yin & Restore", "yin", 75, 18, "all_levels", 1, 14000, ["mat", "bolster"]),
    ("Power Yoga", "power-yoga", 60, 20, "advanced", 1, 15000, ["mat"]),
    ("Mat Pilates", "pilates", 50, 14, "intermediate", 1, 15000, ["mat", "ring"]),
    ("Reformer Pilates", "reformer", 50, 10, "intermediate", 2, 28000, ["reformer"]),
    ("Barre Sculpt", "barre", 45, 14, "all_levels", 1, 15000, ["ball", "weights"]),
    ("HIIT Express", "hiit", 30, 20, "advanced", 1, 12000, ["weights"]),
    ("Rhythm Spin", "spin", 45, 22, "intermediate", 1, 13000, ["bike"]),
    ("Mobility & Stretch", "mobility", 45, 18, "beginner", 1, 11000, ["mat"]),
    ("Breathwork & Meditation", "meditation", 30, 24, "all_levels", 1, None, []),
    ("Prenatal Yoga", "prenatal", 60, 12, "beginner", 1, 14000, ["mat", "bolster"]),
]
# Class i is taught by instructor i % 5 in room ROOMS[i] at SLOTS[i // 5]: an instructor's
# three classes fall in three different slots and rooms shared by two classes differ in
# slot, so the timetable never clashes.
SLOTS = (time(6, 0), time(17, 30), time(19, 0))
ROOMS = (0, 1, 2, 4, 3, 3, 2, 5, 5, 0, 4, 1)


async def load_demo(session: AsyncSession, settings: Settings) -> list[DemoLogin]:
    shared_hash = security.hash_password(settings, DEMO_PASSWORD)

    async def person(
        email: str, first: str, last: str, phone: str | None = None, operator: bool = False
    ) -> User:
        return await accounts_service.ensure_verified_user(
            session,
            settings,
            email=email,
            password=DEMO_PASSWORD,
            password_hash=shared_hash,
            first_name=first,
            last_name=last,
            phone=phone,
            platform_owner=operator,
        )

    operator = await person(*OPERATOR, operator=True)
    owner = await person(*OWNER)
    instructors = [await person(*row) for row in INSTRUCTORS]
    members = [
        await person(
            f"member{'' if i == 1 else i}@example.com",
            FIRST_NAMES[i % 20],
            LAST_NAMES[i % 15],
            f"+27 82 556 {i:04d}",
        )
        for i in range(1, MEMBER_COUNT + 1)
    ]
    tenants = {}
    for studio in STUDIOS:
        tenant = await session.scalar(select(Tenant).where(Tenant.slug == studio.slug))
        if tenant is None:
            tenant = await tenants_service.create_tenant(session, owner, studio)
        tenants[studio.slug] = tenant
        # Everything is loaded in one transaction, so each studio's part is a scope.
        async with tenancy.scope(session, tenant.id):
            for user, role in [
                *((i, "instructor") for i in instructors),
                *((m, "member") for m in members),
            ]:
                with contextlib.suppress(AlreadyMember):  # from an earlier load
                    await accounts_members.grant_role(session, tenant.id, user.id, role)

    creator = await session.scalar(select(Tenant).where(Tenant.slug == CREATOR.slug))
    if creator is None:
        creator = await tenants_service.create_tenant(session, owner, CREATOR)
    async with tenancy.scope(session, creator.id):
        for member in members[:SUBSCRIBERS]:
            with contextlib.suppress(AlreadyMember):
                await accounts_members.grant_role(session, creator.id, member.id, "member")
        await load_creator(session, creator, owner, members)
    async with tenancy.scope(session, tenants["loop-yoga"].id):
        await _timetable(session, tenants["loop-yoga"], instructors, horizon=settings)
    async with tenancy.scope(session, tenants["jozi-hiit"].id):
        await _gym_timetable(session, tenants["jozi-hiit"], instructors, horizon=settings)
    for tenant in tenants.values():
        async with tenancy.scope(session, tenant.id):
            await _packages(session, tenant)
            await _plans(session, tenant)
    await _universal_credits(session, operator, members[0])
    return [
        DemoLogin(OPERATOR[0], "platform operator (sees /dev/outbox)"),
        DemoLogin(OWNER[0], "owner of loop-yoga, jozi-hiit and coach-kopano (usage)"),
        DemoLogin(INSTRUCTORS[0][0], "instructor (also instructor2..5@example.com)"),
        DemoLogin("member@example.com", f"member (also member2..{MEMBER_COUNT}@example.com)"),
    ]


async def _universal_credits(session: AsyncSession, operator: User, member: User) -> None:
    """The first demo member gets marketplace credits to book any studio with (once)."""
    account, _, _ = await universal.universal_statement(session, member.id, limit=1)
    if account is None:
        await universal.adjust_universal(
            session,
            member.id,
            6,
            reason="Marketplace welcome credits",
            actor_user_id=operator.id,
            valid_days=60,
        )


# (name, credits, price in cents, validity in days): what the demo studios sell.
PACKAGES = [
    ("Drop-in", 1, 12000, 30),
    ("Five pack", 5, 55000, 60),
    ("Ten pack", 10, 100000, 90),
]


async def _packages(session: AsyncSession, tenant: Tenant) -> None:
    if await session.scalar(select(func.count()).select_from(CreditPackage)):
        return  # from an earlier load
    for order, (name, credits, price, days) in enumerate(PACKAGES):
        session.add(
            CreditPackage(
                tenant_id=tenant.id,
                name=name,
                credits=credits,
                price=price,
                validity_days=days,
                sort_order=order,
            )
        )
    await session.flush()


# (name, price in cents a month, credits a month, unlimited class types): memberships.
PLANS = [
    ("Eight a month", 85000, 8, None),
    ("Unlimited yoga", 120000, None, ["vinyasa", "hatha", "yin", "power-yoga", "prenatal"]),
]


async def _plans(session: AsyncSession, tenant: Tenant) -> None:
    if await session.scalar(select(func.count()).select_from(MembershipPlan)):
        return  # from an earlier load
    for name, price, credits, unlimited_types in PLANS:
        session.add(
            MembershipPlan(
                tenant_id=tenant.id,
                name=name,
                price=price,
                interval="month",
                credits_per_period=credits,
                unlimited=unlimited_types is not None,
                class_types=unlimited_types or [],
            )
        )
    await session.flush()


async def _timetable(
    session: AsyncSession, tenant: Tenant, instructors: list[User], horizon: Settings
) -> None:
    if await session.scalar(select(func.count()).select_from(ClassTemplate)):
        return  # loaded before
    ref = TenantRef(
        tenant.id, tenant.slug, tenant.name, tenant.status, tenant.timezone, tenant.currency
    )
    rooms = []
    for name, street, suburb, lat, lng, room_specs in LOCATIONS:
        location = await scheduling_service.create_location(
            session,
            horizon,
            tenant.id,
            LocationIn(
                name=name,
                latitude=lat,
                longitude=lng,
                address=Address(street=street, city=suburb, province="Western Cape", country="ZA"),
            ),
        )
        for room_name, capacity in room_specs:
            rooms.append(
                await scheduling_service.create_room(
                    session, tenant.id, location.id, RoomIn(name=room_name, capacity=capacity)
                )
            )
    today = datetime.now(ZoneInfo(tenant.timezone)).date()
    monday = today - timedelta(days=today.weekday())
    for index, (name, kind, minutes, capacity, level, credits, price, kit) in enumerate(CLASSES):
        room = rooms[ROOMS[index]]
        template = await scheduling_service.create_class(
            session,
            tenant.id,
            ClassIn(
                name=name,
                class_type=kind,
                duration_minutes=minutes,
                max_capacity=min(capacity, room.capacity),
                difficulty_level=level,
                credits_required=credits,
                price=price,
                equipment_needed=kit,
                instructor_id=instructors[index % len(instructors)].id,
                room_id=room.id,
                description=f"{name} at Loop Yoga: bring water and arrive five minutes early.",
            ),
        )
        weekdays = sorted({index % 7, (index + 3) % 7})
        await series.create_schedule(
            session,
            ref,
            ScheduleIn(
                class_id=template.id,
                local_start_time=SLOTS[index // 5],
                recurrence=Recurrence(
                    weekdays=weekdays, starts_on=monday, until=monday + timedelta(weeks=4, days=-1)
                ),
            ),
            horizon_weeks=horizon.schedule_horizon_weeks,
        )


# Jozi HIIT's one gym in Rosebank: (name, class_type, minutes, capacity, level, credits,
# price in cents, local start, weekdays). A second studio, in another city, so the
# marketplace has more than one studio to search.
GYM = ("Rosebank", "44 Jan Smuts Avenue", "Rosebank", -26.1452, 28.0410)
GYM_CLASSES = [
    ("HIIT Express", "hiit", 30, 24, "advanced", 1, 9000, time(6, 0), [0, 2, 4]),
    ("Boxing Conditioning", "boxing", 45, 16, "intermediate", 1, 11000, time(18, 0), [1, 3]),
    ("Rhythm Spin", "spin", 45, 20, "all_levels", 1, 10000, time(17, 30), [0, 3]),
    ("Mobility & Stretch", "mobility", 45, 18, "beginner", 1, 8000, time(9, 0), [5]),
]


async def _gym_timetable(
    session: AsyncSession, tenant: Tenant, instructors: list[User], horizon: Settings
) -> None:
    if await session.scalar(select(func.count()).select_from(ClassTemplate)):
        return  # loaded before
    ref = TenantRef(
        tenant.id, tenant.slug, tenant.name, tenant.status, tenant.timezone, tenant.currency
    )
    name, street, suburb, lat, lng = GYM
    location = await scheduling_service.create_location(
        session,
        horizon,
        tenant.id,
        LocationIn(
            name=name,
            latitude=lat,
            longitude=lng,
            address=Address(street=street, city=suburb, province="Gauteng", country="ZA"),
        ),
    )
    today = datetime.now(ZoneInfo(tenant.timezone)).date()
    monday = today - timedelta(days=today.weekday())
    for index, (title, kind, minutes, capacity, level, credits, price, start, days) in enumerate(
        GYM_CLASSES
    ):
        template = await scheduling_service.create_class(
            session,
            tenant.id,
            ClassIn(
                name=title,
                class_type=kind,
                duration_minutes=minutes,
                max_capacity=capacity,
                difficulty_level=level,
                credits_required=credits,
                price=price,
                instructor_id=instructors[index % len(instructors)].id,
                location_id=location.id,
                description=f"{title} at Jozi HIIT Club, Rosebank.",
            ),
        )
        await series.create_schedule(
            session,
            ref,
            ScheduleIn(
                class_id=template.id,
                local_start_time=start,
                recurrence=Recurrence(
                    weekdays=days, starts_on=monday, until=monday + timedelta(weeks=4, days=-1)
                ),
            ),
            horizon_weeks=horizon.schedule_horizon_weeks,
        )
