"""A member's own pages: bookings with their check-in codes, cancelling with the
consequence spelled out first, credits and packs, and how the studio may reach them."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, time, timedelta
from typing import Annotated, Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

import segno
from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from markupsafe import Markup
from sqlalchemy import select

from studioloop.accounts import service as accounts
from studioloop.accounts.models import User
from studioloop.accounts.schemas import ProfileUpdate
from studioloop.booking import qr, reading as booking_reading, service as booking_service
from studioloop.booking.eligibility import OccurrenceFacts
from studioloop.booking.models import ACTIVE_STATUSES, Booking
from studioloop.booking.schemas import BookingOut
from studioloop.core.money import format_money
from studioloop.credits import service as credits
from studioloop.db import tenancy
from studioloop.db.session import DbSession
from studioloop.notifications import manage as notification_settings
from studioloop.notifications.channels import e164
from studioloop.notifications.schemas import PreferencesUpdate
from studioloop.payments import service as payments
from studioloop.payments.models import Payment
from studioloop.tenants import service as tenants_service
from studioloop.tenants.dependencies import CurrentTenant
from studioloop.web.csrf import CSRF_FIELD, check_csrf
from studioloop.web.forms import attempt, parse
from studioloop.web.routes import render
from studioloop.web.session import web_user
from studioloop.web.studio_pages import studio_context

router = APIRouter(include_in_schema=False)
Csrf = Annotated[str | None, Form(alias=CSRF_FIELD)]
REMINDER_CHOICES = (48, 24, 12, 2, 1)


async def member_or_login(
    request: Request, session: DbSession
) -> tuple[User | None, Response | None]:
    """The signed-in person, or the sign-in page to send them to (and back here after)."""
    user = await web_user(request, session)
    if user is None:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return None, RedirectResponse(f"/login?next={quote(target)}", status_code=303)
    return user, None


def qr_svg(code: str) -> Markup:
    """The check-in code as inline SVG: no extra request, so it is there offline too."""
    return Markup(segno.make(code, error="m").svg_inline(scale=6, border=2, omitsize=True))  # noqa: S704


async def _my_bookings(session: DbSession, user: User) -> list[tuple[BookingOut, Any, str | None]]:
    """Upcoming bookings at every studio: (booking, studio, where to pay a held seat)."""
    found: list[tuple[BookingOut, Any, str | None]] = []
    since = datetime.now(UTC) - timedelta(hours=12)
    for role in (await accounts.profile(session, user)).tenant_roles:
        async with tenancy.scope(session, role.tenant_id):
            for booking in await booking_reading.list_bookings(
                session, user.id, status=None, start_from=since, start_to=None, limit=50
            ):
                if booking.status == "cancelled" and not booking.cancelled_by_studio:
                    continue  # their own cancellations: in their history, not here
                pay_url = None
                if booking.status == "held":
                    pay_url = await session.scalar(
                        select(Payment.checkout_url).where(
                            Payment.booking_id == booking.id, Payment.status == "pending"
                        )
                    )
                found.append((booking, role, pay_url))
    return sorted(found, key=lambda entry: entry[0].start_time)


@router.get("/my/bookings", response_class=HTMLResponse)
async def my_bookings(request: Request, session: DbSession) -> Response:
    user, refused = await member_or_login(request, session)
    if refused is not None or user is None:
        return refused or Response(status_code=401)
    bookings = await _my_bookings(session, user)
    zones = {
        role.tenant_id: (await tenants_service.get_tenant(session, role.tenant_id)).timezone
        for _, role, _ in bookings
    }
    now = datetime.now(UTC)
    entries = [
        {
            "booking": booking,
            "studio": role,
            "lapsed": hold_lapsed(booking, now),
            "class_url": f"/s/{role.tenant_slug}/classes/{booking.class_schedule_id}",
            "when": booking.start_time.astimezone(UTC).isoformat(),
            "local": booking.start_time.astimezone(ZoneInfo(zones[role.tenant_id])).strftime(
                "%a %d %b %H:%M"
            ),
            "qr": qr_svg(booking.qr_code) if booking.qr_code else None,
            "pay_url": pay_url,
            # On the studio's clock, like the class time above it.
            "held_until": booking.hold_expires_at.astimezone(
                ZoneInfo(zones[role.tenant_id])
            ).strftime("%H:%M")
            if booking.hold_expires_at
            else None,
        }
        for booking, role, pay_url in bookings
    ]
    studios = [
        r for r in (await accounts.profile(session, user)).tenant_roles if r.status == "active"
    ]
    context = {"user": user, "entries": entries, "studios": studios}
    return render(request, "my/bookings.html", context)


def hold_lapsed(booking: BookingOut, now: datetime) -> bool:
    """A seat hold whose time is up: shown as released even before the job that releases
    it has run, so nobody is offered to pay for (or cancel) a seat that is gone."""
    if booking.status == "expired":
        return True
    expires = booking.hold_expires_at
    return booking.status == "held" and expires is not None and expires <= now


async def _own_booking(session: DbSession, user: User, booking_id: uuid.UUID) -> Booking:
    return await booking_reading.visible_booking(session, user.id, booking_id, staff=None)


@router.get("/my/bookings/{booking_id}", response_class=HTMLResponse)
async def my_booking(
    request: Request, session: DbSession, booking_id: uuid.UUID, new: int = 0
) -> Response:
    user, refused = await member_or_login(request, session)
    if refused is not None or user is None:
        return refused or Response(status_code=401)
    booking = await _own_booking(session, user, booking_id)
    out = await booking_reading.booking_out(session, booking)
    facts = await booking_reading.occurrence_facts(session, booking.class_schedule_id)
    studio = await tenants_service.get_tenant(session, booking.tenant_id)
    lapsed = hold_lapsed(out, datetime.now(UTC))
    pay_url = None
    if out.status == "held" and not lapsed:
        pay_url = await session.scalar(
            select(Payment.checkout_url).where(
                Payment.booking_id == booking.id, Payment.status == "pending"
            )
        )
    context = {
        "user": user,
        "booking": out,
        "facts": facts,
        "studio": studio,
        "qr": qr_svg(out.qr_code) if out.qr_code else None,
        "short_code": qr.show_short_code(
            qr.short_code(request.app.state.settings, booking.tenant_id, booking.id)
        )
        if out.qr_code
        else None,
        "new": bool(new),
        "cancellable": out.status in ACTIVE_STATUSES and not lapsed,
        "lapsed": lapsed,
        "pay_url": pay_url,
        "class_url": f"/s/{studio.slug}/classes/{booking.class_schedule_id}",
        "held_until": out.hold_expires_at.astimezone(ZoneInfo(studio.timezone)).strftime("%H:%M")
        if out.hold_expires_at
        else None,
    }
    return render(request, "my/booking.html", context)


def _consequence(booking: Booking, facts: OccurrenceFacts) -> str:
    """What cancelling now costs, in the member's words (the service decides the same way)."""
    if booking.status == "waitlisted":
        return "You leave the waitlist. Nothing is charged."
    if booking.status == "held":
        return "The seat held for your payment is released. Nothing was charged."
    late = datetime.now(UTC) > facts.start_time - facts.cancellation_window
    plural = booking.credits_used != 1
    credits_word = f"{booking.credits_used} credit{'s' if plural else ''}"
    come_back = "come back" if plural else "comes back"
    if not late:
        if booking.credits_used:
            return f"You are cancelling in good time: your {credits_word} {come_back}."
        return "You are cancelling in good time: anything you paid is refunded."
    hours = int(facts.cancellation_window.total_seconds() // 3600)
    if facts.tenant_settings.get("late_cancel_policy", "forfeit") == "forfeit":
        return (
            f"This is less than {hours} hours before the class, so under the studio's policy "
            f"your {credits_word} will not come back."
        )
    return f"This is less than {hours} hours before the class; your {credits_word} {come_back}."


@router.get("/my/bookings/{booking_id}/cancel", response_class=HTMLResponse)
async def cancel_page(request: Request, session: DbSession, booking_id: uuid.UUID) -> Response:
    user, refused = await member_or_login(request, session)
    if refused is not None or user is None:
        return refused or Response(status_code=401)
    booking = await _own_booking(session, user, booking_id)
    facts = await booking_reading.occurrence_facts(session, booking.class_schedule_id)
    context = {
        "user": user,
        "booking": booking,
        "facts": facts,
        "consequence": _consequence(booking, facts),
        "error": None,
    }
    return render(request, "my/cancel.html", context)


@router.post("/my/bookings/{booking_id}/cancel", response_class=HTMLResponse)
async def cancel_submit(
    request: Request, session: DbSession, booking_id: uuid.UUID, csrf: Csrf = None
) -> Response:
    check_csrf(request, csrf)
    user, refused = await member_or_login(request, session)
    if refused is not None or user is None:
        return refused or Response(status_code=401)
    booking = await _own_booking(session, user, booking_id)
    actor = booking_service.Actor(user=user, is_staff=False)
    settings = request.app.state.settings
    done, problem = await attempt(
        session, lambda: booking_service.cancel(session, settings, booking_id, actor, None)
    )
    if problem is not None or done is None:
        facts = await booking_reading.occurrence_facts(session, booking.class_schedule_id)
        context = {
            "user": user,
            "booking": booking,
            "facts": facts,
            "consequence": _consequence(booking, facts),
            "error": problem.message if problem else "The booking could not be cancelled.",
        }
        return render(request, "my/cancel.html", context, status_code=409)
    return RedirectResponse(f"/my/bookings?cancelled={booking_id}", status_code=303)


@router.get("/s/{slug}/credits", response_class=HTMLResponse)
async def credits_page(request: Request, tenant: CurrentTenant, session: DbSession) -> Response:
    user, refused = await member_or_login(request, session)
    if refused is not None or user is None:
        return refused or Response(status_code=401)
    account, lots, history = await credits.statement(session, tenant.id, user.id)
    packages = [p for p in await credits.list_packages(session) if p.is_active]
    context = {
        **await studio_context(session, tenant),
        "user": user,
        "balance": account.balance if account else 0,
        "lots": lots,
        "history": history,
        "packages": [(p, format_money(p.price, tenant.currency)) for p in packages],
    }
    return render(request, "studio/credits.html", context)


@router.post("/s/{slug}/credits/buy")
async def buy_pack(
    request: Request,
    tenant: CurrentTenant,
    session: DbSession,
    package_id: Annotated[uuid.UUID, Form()],
    csrf: Csrf = None,
) -> Response:
    check_csrf(request, csrf)
    user, refused = await member_or_login(request, session)
    if refused is not None or user is None:
        return refused or Response(status_code=401)
    settings = request.app.state.settings
    _, checkout_url = await payments.start_credit_purchase(
        session, settings, tenant, user, package_id, str(request.base_url).rstrip("/")
    )
    return RedirectResponse(checkout_url, status_code=303)


@router.get("/s/{slug}/notifications", response_class=HTMLResponse)
async def notifications_page(
    request: Request, tenant: CurrentTenant, session: DbSession, saved: int = 0
) -> Response:
    user, refused = await member_or_login(request, session)
    if refused is not None or user is None:
        return refused or Response(status_code=401)
    prefs = await notification_settings.preferences_view(session, tenant.id, user)
    context = {
        **await studio_context(session, tenant),
        "user": user,
        "prefs": prefs,
        "choices": REMINDER_CHOICES,
        "errors": {},
        "saved": bool(saved),
    }
    return render(request, "studio/notifications.html", context)


@router.post("/s/{slug}/notifications", response_class=HTMLResponse)
async def notifications_submit(
    request: Request, tenant: CurrentTenant, session: DbSession
) -> Response:
    form = await request.form()
    check_csrf(request, str(form.get(CSRF_FIELD) or ""))
    user, refused = await member_or_login(request, session)
    if refused is not None or user is None:
        return refused or Response(status_code=401)
    prefs = await notification_settings.preferences_view(session, tenant.id, user)
    first = str(form.get("first_channel") or "")
    order = [first, *(c for c in prefs.studio_channels if c != first)] if first else []
    quiet = bool(form.get("quiet"))
    data: dict[str, Any] = {
        "booking_updates": bool(form.get("booking_updates")),
        "reminders": bool(form.get("reminders")),
        "marketing": bool(form.get("marketing")),
        "reminder_hours": [int(str(h)) for h in form.getlist("reminder_hours") if str(h).isdigit()],
        "quiet_hours_start": _clock(form.get("quiet_hours_start")) if quiet else None,
        "quiet_hours_end": _clock(form.get("quiet_hours_end")) if quiet else None,
    }
    if order:
        data["channels"] = order
    update, errors = parse(PreferencesUpdate, data)
    if update is not None:
        await notification_settings.update_preferences(session, tenant.id, user, update)
        return RedirectResponse(f"/s/{tenant.slug}/notifications?saved=1", status_code=303)
    context = {
        **await studio_context(session, tenant),
        "user": user,
        "prefs": prefs,
        "choices": REMINDER_CHOICES,
        "errors": errors,
        "saved": False,
    }
    return render(request, "studio/notifications.html", context, status_code=400)


def _clock(value: object) -> time | str | None:
    text = str(value or "").strip()
    try:
        return time.fromisoformat(text) if text else None
    except ValueError:
        return text  # the schema reports it as not a time


LANGUAGES = {"en": "English"}


def _profile_context(user: User, errors: dict[str, str], saved: bool) -> dict[str, Any]:
    return {
        "phone_reachable": bool(user.phone) and e164(user.phone) is not None,
        "user": user,
        "errors": errors,
        "saved": saved,
        "languages": LANGUAGES,
        "locale": (user.preferences or {}).get("locale", "en"),
    }


@router.get("/my/profile", response_class=HTMLResponse)
async def profile_page(request: Request, session: DbSession, saved: int = 0) -> Response:
    user, refused = await member_or_login(request, session)
    if refused is not None or user is None:
        return refused or Response(status_code=401)
    return render(request, "my/profile.html", _profile_context(user, {}, bool(saved)))


@router.post("/my/profile", response_class=HTMLResponse)
async def profile_submit(request: Request, session: DbSession) -> Response:
    form = await request.form()
    check_csrf(request, str(form.get(CSRF_FIELD) or ""))
    user, refused = await member_or_login(request, session)
    if refused is not None or user is None:
        return refused or Response(status_code=401)
    locale = str(form.get("locale") or "en")
    data = {
        "first_name": str(form.get("first_name") or "").strip(),
        "last_name": str(form.get("last_name") or "").strip(),
        "phone": str(form.get("phone") or "").strip() or None,
        "preferences": {
            **(user.preferences or {}),
            "locale": locale if locale in LANGUAGES else "en",
        },
    }
    update, errors = parse(ProfileUpdate, data)
    if update is None:
        context = _profile_context(user, errors, False)
        context["form"] = data
        return render(request, "my/profile.html", context, status_code=400)
    await accounts.update_profile(session, user, update)
    return RedirectResponse("/my/profile?saved=1", status_code=303)
