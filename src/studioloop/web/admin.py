"""Pages for the platform operator: the job queue."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from studioloop.accounts.models import User
from studioloop.db.session import DbSession
from studioloop.jobs import admin
from studioloop.web.csrf import CSRF_FIELD, check_csrf
from studioloop.web.routes import render
from studioloop.web.session import web_user

router = APIRouter(include_in_schema=False)


async def operator(request: Request, session: DbSession) -> tuple[User | None, Response | None]:
    """(the platform operator, None), or (None, the page to answer with instead)."""
    user = await web_user(request, session)
    if user is None:
        return None, RedirectResponse(f"/login?next={quote(request.url.path)}", status_code=303)
    if not user.is_platform_owner:
        return None, render(request, "dev/forbidden.html", {"user": user}, status_code=403)
    return user, None


@router.get("/admin/jobs", response_class=HTMLResponse)
async def jobs_page(request: Request, session: DbSession, retried: int | None = None) -> Response:
    """Queue depth, failed jobs and a button to run one again."""
    user, refused = await operator(request, session)
    if refused is not None:
        return refused
    async with admin.job_manager() as manager:
        queues = await admin.queues(manager)
        failed = await admin.failed_jobs(manager)
    context = {"user": user, "queues": queues, "failed": failed, "retried": retried}
    return render(request, "admin/jobs.html", context)


@router.post("/admin/jobs/{job_id}/retry", response_class=HTMLResponse)
async def retry_job(
    request: Request,
    job_id: int,
    session: DbSession,
    csrf_token_field: Annotated[str | None, Form(alias=CSRF_FIELD)] = None,
) -> Response:
    check_csrf(request, csrf_token_field)
    _, refused = await operator(request, session)
    if refused is not None:
        return refused
    async with admin.job_manager() as manager:
        await admin.retry(manager, job_id)
    return RedirectResponse(f"/admin/jobs?retried={job_id}", status_code=303)
