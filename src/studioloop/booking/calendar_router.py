from __future__ import annotations

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel

from studioloop.accounts.dependencies import CurrentUser
from studioloop.accounts.models import User
from studioloop.booking import calendar
from studioloop.config import Settings
from studioloop.core.errors import NotFound
from studioloop.core.openapi import API_PREFIX, errors
from studioloop.db.session import DbSession

router = APIRouter(prefix=API_PREFIX, tags=["bookings"])


class CalendarFeed(BaseModel):
    url: str
    webcal_url: str


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def _feed(settings: Settings, user: User) -> CalendarFeed:
    url = calendar.feed_url(settings, user)
    return CalendarFeed(url=url, webcal_url="webcal://" + url.split("://", 1)[1])


@router.get("/users/profile/calendar", response_model=CalendarFeed, responses=errors(401))
async def my_calendar(user: CurrentUser, request: Request) -> CalendarFeed:
    """The secret address of your bookings feed, to add to Google or Apple Calendar."""
    return _feed(_settings(request), user)


@router.post("/users/profile/calendar/reset", response_model=CalendarFeed, responses=errors(401))
async def reset_calendar(user: CurrentUser, session: DbSession, request: Request) -> CalendarFeed:
    """A new secret address; the old one stops working (if it was shared by mistake)."""
    user.calendar_feed_version += 1
    await session.flush()
    return _feed(_settings(request), user)


@router.get(
    "/calendar/{token}.ics",
    response_class=Response,
    responses=errors(404),
    summary="A member's bookings as iCalendar (the URL is the secret)",
)
async def calendar_feed(token: str, session: DbSession, request: Request) -> Response:
    user = await calendar.user_for_token(session, _settings(request), token)
    if user is None:
        raise NotFound("No calendar at this address; it may have been reset.")
    return Response(
        await calendar.feed(session, user),
        media_type="text/calendar; charset=utf-8",
        headers={"Cache-Control": "private, max-age=300"},
    )
