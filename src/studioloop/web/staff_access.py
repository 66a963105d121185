"""Who may open a studio's staff pages and what a refused person is told: one home for
the check the owner, instructor and door pages share."""

from __future__ import annotations

from urllib.parse import quote

from fastapi import Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.ext.asyncio import AsyncSession

from studioloop.accounts.members import membership_of
from studioloop.accounts.models import User
from studioloop.tenants.cache import TenantRef
from studioloop.web.routes import render
from studioloop.web.session import web_user

ROLE_PHRASES = {
    "owner": "the owner",
    "admin": "an admin",
    "instructor": "an instructor",
    "member": "a member",
}
NEEDED_PHRASES = {
    "owner": "the studio's owner",
    "admin": "the studio's owner and admins",
    "instructor": "the studio's instructors, admins and owner",
}


async def staff_of(
    request: Request, session: AsyncSession, tenant: TenantRef, minimum: str
) -> tuple[User | None, Response | None]:
    """The signed-in person if they hold at least `minimum` at this studio; else the
    response to give instead (sign in first, or a page saying what role they have, what
    the page needs and who can change it). Their role is kept on the request, so the
    studio's menu shows only what they may open."""
    user = await web_user(request, session)
    if user is None:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return None, RedirectResponse(f"/login?next={quote(target)}", status_code=303)
    membership = await membership_of(session, tenant.id, user.id)
    if membership is None or not membership.allows(minimum):
        context = {
            "user": user,
            "studio_name": tenant.name,
            "studio_slug": tenant.slug,
            "role": ROLE_PHRASES.get(membership.role, membership.role) if membership else None,
            "inactive": membership is not None and membership.status != "active",
            "needed": NEEDED_PHRASES.get(minimum, minimum),
        }
        return None, render(request, "staff/forbidden.html", context, status_code=403)
    request.state.staff_role = membership.role
    return user, None
