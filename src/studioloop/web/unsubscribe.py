"""One-click unsubscribe from the link in an email (RFC 8058).

GET shows what the link stops and a button; it changes nothing, because mail scanners
open links on their own. POST (the button, or the mail client's one-click request with
`List-Unsubscribe=One-Click`) switches that kind of message off. The signed token is the
authority here, so there is no CSRF field to carry: a mail client has none to send.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from studioloop.db.session import DbSession
from studioloop.db.tenancy import enter_tenant_for_transaction
from studioloop.notifications import preferences, service, unsubscribe
from studioloop.web.routes import render

router = APIRouter(include_in_schema=False)

WHAT_IT_STOPS = {
    "booking": "booking updates (confirmations, waitlist news and class changes)",
    "reminder": "class reminders",
    "marketing": "news and offers",
}


async def _read(
    request: Request, session: DbSession, token: str
) -> tuple[dict[str, Any], Response | None]:
    found = unsubscribe.read(request.app.state.settings, token)
    if found is None:
        page = render(request, "unsubscribe.html", {"invalid": True}, status_code=404)
        return {}, page
    await enter_tenant_for_transaction(session, found.tenant_id)
    studio = await service.studio_for(session, found.tenant_id)
    context = {
        "request_token": token,
        "studio_name": studio.name if studio else "this studio",
        "what": WHAT_IT_STOPS[found.category],
        "found": found,
    }
    return context, None


@router.get("/unsubscribe/{token}", response_class=HTMLResponse)
async def confirm_page(request: Request, token: str, session: DbSession) -> Response:
    context, refused = await _read(request, session, token)
    return refused or render(request, "unsubscribe.html", {**context, "done": False})


@router.post("/unsubscribe/{token}", response_class=HTMLResponse)
async def unsubscribe_now(request: Request, token: str, session: DbSession) -> Response:
    context, refused = await _read(request, session, token)
    if refused is not None:
        return refused
    found: unsubscribe.Unsubscribe = context["found"]
    await preferences.save(session, found.tenant_id, found.user_id, {found.preference: False})
    return render(request, "unsubscribe.html", {**context, "done": True})
