"""A studio's public timetable: a week at a time, filtered by class type, teacher, time of
day (on the studio's clock) and location, every filter kept in the query string so a
filtered week can be shared.

A filter the studio does not have (an unknown teacher, a mangled id, a time of day we do
not know) is dropped with a message saying so; the rest of the week still shows.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime, time, timedelta
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import select

from studioloop.booking import reading as booking_reading
from studioloop.db.session import ReadSession
from studioloop.scheduling import service as scheduling, timetable as schedule
from studioloop.scheduling.models import ClassTemplate
from studioloop.scheduling.timetable import OccurrenceFilter
from studioloop.tenants import content
from studioloop.tenants.dependencies import ReadTenant
from studioloop.web.routes import render
from studioloop.web.session import web_user
from studioloop.web.studio_content import parsed_id
from studioloop.web.studio_pages import Slot, slot, slot_events, studio_context

router = APIRouter(include_in_schema=False)

# Times of day on the studio's clock, by when a class starts.
PARTS = {
    "morning": ("Morning", "before 12:00", time(0), time(12)),
    "afternoon": ("Afternoon", "12:00 to 17:00", time(12), time(17)),
    "evening": ("Evening", "from 17:00", time(17), time.max),
}
FILTERS = ("type", "instructor", "time", "location")


def part_of_day(local_start: str) -> str:
    starts = datetime.fromisoformat(local_start).time()
    return next(name for name, (*_, start, end) in PARTS.items() if start <= starts < end)


def _chosen_id(
    raw: str | None, known: dict[uuid.UUID, str], what: str, problems: list[str]
) -> uuid.UUID | None:
    """The id a filter names, if it is one of the studio's; else a message and no filter."""
    if not raw:
        return None
    found = parsed_id(raw)
    if found is None or found not in known:
        problems.append(f"That {what} is not on this studio's timetable: showing every {what}.")
        return None
    return found


@router.get("/s/{slug}/timetable", response_class=HTMLResponse)
async def timetable(
    request: Request,
    tenant: ReadTenant,
    session: ReadSession,
    week: str | None = Query(default=None, description="a day of the week"),
    type: str | None = None,
    instructor: str | None = None,
    time: str | None = None,
    location: str | None = None,
) -> Response:
    zone = ZoneInfo(tenant.timezone)
    today = datetime.now(zone).date()
    try:
        shown = date.fromisoformat(week) if week and len(week) == 10 else today
    except ValueError:
        shown = today  # a mangled link shows this week rather than an error
    monday = shown - timedelta(days=shown.weekday())
    start = datetime.combine(monday, datetime.min.time(), tzinfo=zone)

    problems: list[str] = []
    types = sorted(
        set(
            await session.scalars(
                select(ClassTemplate.class_type).where(ClassTemplate.is_active.is_(True))
            )
        )
    )
    teachers = {
        t.user_id: t.name for t in await content.teachers(session, tenant.id, described_only=False)
    }
    places = {
        p.id: p.name for p in await scheduling.list_locations(session, include_inactive=False)
    }
    chosen_type = (type or "").strip().lower() or None
    if chosen_type and chosen_type not in types:
        problems.append(
            f"This studio has no “{(type or '')[:40]}” classes: showing every class type."
        )
        chosen_type = None
    teacher_id = _chosen_id(instructor, teachers, "instructor", problems)
    place_id = _chosen_id(location, places, "location", problems)
    part = time or None
    if part and part not in PARTS:
        problems.append("Choose morning, afternoon or evening: showing the whole day.")
        part = None

    items, _ = await schedule.list_occurrences(
        session,
        OccurrenceFilter(
            start,
            start + timedelta(days=7),
            class_type=chosen_type,
            instructor_id=teacher_id,
            location_id=place_id,
        ),
        limit=500,
        cursor=None,
    )
    if part:
        items = [i for i in items if part_of_day(i.local_start) == part]
    days: dict[date, list[Slot]] = {monday + timedelta(days=n): [] for n in range(7)}
    for found in items:
        days.setdefault(datetime.fromisoformat(found.local_start).date(), []).append(slot(found))

    chosen = {
        "type": chosen_type or "",
        "instructor": str(teacher_id or ""),
        "time": part or "",
        "location": str(place_id or ""),
    }
    names = {
        "type": chosen_type and chosen_type.replace("_", " ").capitalize(),
        "instructor": teacher_id and teachers[teacher_id],
        "time": part and PARTS[part][0],
        "location": place_id and places[place_id],
    }

    def link(**changes: str) -> str:
        query = {k: v for k, v in {"week": monday.isoformat(), **chosen, **changes}.items() if v}
        return f"/s/{tenant.slug}/timetable?{urlencode(query)}"

    page = await studio_context(session, tenant)
    user = await web_user(request, session)
    upcoming = [s for day in days.values() for s in day if s.bookable]
    context: dict[str, Any] = {
        **page,
        "user": user,
        "booked": await booking_reading.booked_among(session, user.id, [i.id for i in items])
        if user
        else set(),
        "events": slot_events(request, page["studio"], upcoming),
        "class_photos": await content.class_photos(session, [i.cls.id for i in items]),
        "days": days,
        "today": today,
        "count": len(items),
        "types": types,
        "teachers": teachers,
        "places": places,
        "parts": PARTS,
        "chosen": chosen,
        "active": [(k, names[k], link(**{k: ""})) for k in FILTERS if chosen[k]],
        "clear_link": link(type="", instructor="", time="", location=""),
        "problems": problems,
        "monday": monday,
        "previous_link": link(week=(monday - timedelta(days=7)).isoformat()),
        "next_link": link(week=(monday + timedelta(days=7)).isoformat()),
        "this_week": monday <= today < monday + timedelta(days=7),
        "week_from": start.isoformat(),
        "week_to": (start + timedelta(days=7)).isoformat(),
    }
    return render(request, "studio/timetable.html", context, status_code=400 if problems else 200)
