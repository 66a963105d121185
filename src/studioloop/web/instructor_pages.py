"""An instructor's own schedule: the classes they teach (or cover) over the next two
weeks, by day on the studio's clock, with today's rosters one tap away at the door."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import groupby
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from studioloop.db.session import DbSession
from studioloop.scheduling import timetable
from studioloop.scheduling.timetable import OccurrenceFilter
from studioloop.tenants.dependencies import CurrentTenant
from studioloop.web.routes import render
from studioloop.web.staff_access import staff_of
from studioloop.web.studio_pages import studio_context

router = APIRouter(include_in_schema=False)
SCHEDULE_DAYS = 14
SCHEDULE_LIMIT = 200


@router.get("/s/{slug}/staff/schedule", response_class=HTMLResponse)
async def my_schedule(request: Request, tenant: CurrentTenant, session: DbSession) -> Response:
    user, refused = await staff_of(request, session, tenant, "instructor")
    if refused is not None or user is None:
        return refused or Response(status_code=401)
    zone = ZoneInfo(tenant.timezone)
    # From the start of today on the studio's clock: a class that began an hour ago is
    # still today's.
    today = datetime.now(zone).replace(hour=0, minute=0, second=0, microsecond=0)
    start = today.astimezone(UTC)
    items, more = await timetable.list_occurrences(
        session,
        OccurrenceFilter(start, start + timedelta(days=SCHEDULE_DAYS), instructor_id=user.id),
        limit=SCHEDULE_LIMIT,
        cursor=None,
    )
    days = [
        (day, list(classes))
        for day, classes in groupby(items, key=lambda o: o.start_time.astimezone(zone).date())
    ]
    context = {
        **await studio_context(session, tenant),
        "user": user,
        "days": days,
        "today": today.date(),
        "zone": zone,
        "truncated": more is not None,
        "weeks": SCHEDULE_DAYS // 7,
    }
    return render(request, "staff/schedule.html", context)
