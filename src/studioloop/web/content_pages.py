"""The owner's content forms on the Settings page (the studio's description, address and
map pin, contact, opening hours, photos; each class's photo; each teacher's bio and
photo), and the photos themselves, served to everyone.

Every decision is tenants/content.py's (and storage/images.py's for what an upload must
be); a refusal shows the Settings page again with the message beside the form and
changes nothing.
"""

from __future__ import annotations

import re
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.datastructures import FormData, UploadFile

from studioloop.accounts.models import User
from studioloop.core.errors import AppError
from studioloop.db.session import DbSession, ReadSession
from studioloop.storage import images
from studioloop.tenants import content
from studioloop.tenants.cache import TenantRef
from studioloop.tenants.dependencies import CurrentTenant, ReadTenant
from studioloop.web.csrf import CSRF_FIELD, check_csrf
from studioloop.web.forms import attempt, parse
from studioloop.web.owner_pages import admin_form, admin_of
from studioloop.web.settings_pages import settings_response
from studioloop.web.studio_content import parsed_id, profile_form

router = APIRouter(include_in_schema=False)
# Photo uploads may be larger than other requests (BodySizeLimitMiddleware): up to twice
# the photo limit reaches the page, so a photo a little too big gets a message, not a 413.
PHOTO_UPLOAD_PATHS = re.compile(
    r"^/s/[^/]+/admin/settings/(photos|classes/[^/]+/photo|teachers/[^/]+)$"
)
PHOTO_UPLOAD_MAX_BYTES = 2 * images.MAX_BYTES + 64 * 1024
PHOTO_FILE = re.compile(r"^([0-9a-f]{32})-([0-9]{2,4})\.webp$")
NOT_A_PHOTO = "That file is not a photo we can use: a PNG, JPEG or WebP image up to 5 MB."


def _saved(tenant: TenantRef, anchor: str) -> Response:
    return RedirectResponse(f"/s/{tenant.slug}/admin/settings?saved=1#{anchor}", status_code=303)


async def _upload_form(
    request: Request, session: DbSession, tenant: TenantRef
) -> tuple[FormData, User | None, Response | None]:
    """A multipart form with a photo: its fields, once the CSRF token and the admin are
    checked."""
    form = await request.form(max_part_size=PHOTO_UPLOAD_MAX_BYTES)
    check_csrf(request, str(form.get(CSRF_FIELD) or ""))
    user, refused = await admin_of(request, session, tenant)
    return form, user, refused


async def _photo_bytes(form: FormData, name: str) -> bytes | None:
    """The chosen file's bytes (at most one past the limit, so a bigger one is refused),
    or None when no file was chosen."""
    upload = form.get(name)
    if not isinstance(upload, UploadFile) or not upload.filename:
        return None
    return await upload.read(images.MAX_BYTES + 1)


def _message(problem: AppError) -> str:
    return NOT_A_PHOTO if isinstance(problem, images.InvalidPhoto) else problem.message


@router.post("/s/{slug}/admin/settings/profile", response_class=HTMLResponse)
async def save_profile(request: Request, tenant: CurrentTenant, session: DbSession) -> Response:
    form, user, refused = await admin_form(request, session, tenant)
    if refused is not None or user is None:
        return refused or Response(status_code=401)
    typed = profile_form(form)
    data, errors = parse(content.StudioProfileIn, typed)
    if data is None:
        errors = {("profile" if k == "form" else k): v for k, v in errors.items()}
        return await settings_response(
            request, session, tenant, user, errors=errors, status_code=400, typed=typed
        )
    await content.save_profile(session, tenant.id, data)
    return _saved(tenant, "about-heading")


@router.post("/s/{slug}/admin/settings/photos", response_class=HTMLResponse)
async def studio_photos(request: Request, tenant: CurrentTenant, session: DbSession) -> Response:
    """Add a photo of the studio, or remove one (`remove` = its id)."""
    form, user, refused = await _upload_form(request, session, tenant)
    if refused is not None or user is None:
        return refused or Response(status_code=401)
    settings = request.app.state.settings
    remove = str(form.get("remove") or "")
    if remove:
        action: Any = lambda: content.remove_studio_photo(session, settings, tenant.id, remove)  # noqa: E731
    else:
        data = await _photo_bytes(form, "photo")
        if data is None:
            errors = {"photos": "Choose a photo to upload."}
            return await settings_response(
                request, session, tenant, user, errors=errors, status_code=400
            )
        action = lambda: content.add_studio_photo(session, settings, tenant.id, data)  # noqa: E731
    _done, problem = await attempt(session, action)
    if problem is not None:
        errors = {"photos": _message(problem)}
        return await settings_response(
            request, session, tenant, user, errors=errors, status_code=400
        )
    return _saved(tenant, "photos-heading")


@router.post("/s/{slug}/admin/settings/classes/{class_id}/photo", response_class=HTMLResponse)
async def class_photo(
    request: Request, tenant: CurrentTenant, session: DbSession, class_id: str
) -> Response:
    """Give a class a photo, or remove it (`remove`)."""
    form, user, refused = await _upload_form(request, session, tenant)
    if refused is not None or user is None:
        return refused or Response(status_code=401)
    settings = request.app.state.settings
    found = parsed_id(class_id)
    data = None if form.get("remove") else await _photo_bytes(form, "photo")
    problem: AppError | None = None
    message = None
    if found is None:
        message = "That class is not one of this studio's."
    elif data is None and not form.get("remove"):
        message = "Choose a photo to upload."
    else:
        _done, problem = await attempt(
            session, lambda: content.set_class_photo(session, settings, tenant.id, found, data)
        )
    if message or problem:
        errors = {"class_photos": message or _message(problem)}  # type: ignore[arg-type]
        return await settings_response(
            request, session, tenant, user, errors=errors, status_code=400
        )
    return _saved(tenant, "class-photos-heading")


@router.post("/s/{slug}/admin/settings/teachers/{user_id}", response_class=HTMLResponse)
async def teacher_profile(
    request: Request, tenant: CurrentTenant, session: DbSession, user_id: str
) -> Response:
    """A teacher's bio and photo (a new photo, or `remove_photo`)."""
    form, user, refused = await _upload_form(request, session, tenant)
    if refused is not None or user is None:
        return refused or Response(status_code=401)
    settings = request.app.state.settings
    found = parsed_id(user_id)
    bio = str(form.get("bio") or "")
    problem: AppError | None = None
    message = None
    if found is None:
        message = "That person does not teach at this studio."
    elif len(bio) > 1000:
        message = "Keep the bio to 1000 characters."
    else:
        data = await _photo_bytes(form, "photo")
        _done, problem = await attempt(
            session,
            lambda: content.set_teacher_profile(
                session,
                settings,
                tenant.id,
                found,
                bio=bio,
                photo=data,
                remove_photo=bool(form.get("remove_photo")),
            ),
        )
    if message or problem:
        errors = {"teachers": message or _message(problem)}  # type: ignore[arg-type]
        return await settings_response(
            request, session, tenant, user, errors=errors, status_code=400
        )
    return _saved(tenant, "teachers-heading")


@router.get("/s/{slug}/photos/{name}")
async def photo(request: Request, tenant: ReadTenant, session: ReadSession, name: str) -> Response:
    """A photo's copy at one width (public; copies never change, so cached for good)."""
    found = PHOTO_FILE.match(name)
    body = None
    if found is not None:
        body = await images.read(request.app.state.settings, tenant.id, found[1], int(found[2]))
    if body is None:
        return Response("No such photo.", status_code=404, media_type="text/plain")
    return Response(
        body,
        media_type="image/webp",
        headers={"Cache-Control": "public, max-age=31536000, immutable"},
    )
