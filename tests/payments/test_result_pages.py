"""Journeys that used to stop halfway: the page after a payment leads back to what was
bought (with "Try again" after a decline), a seat offered from the waitlist can be paid
for from the member's pages, a lapsed hold is shown as released, the waitlist warns a
member short of credits, and a browser gets HTML, not JSON, for a bad address."""

from __future__ import annotations

import re
import uuid
from typing import Any

import httpx
import pytest

from tests.booking.conftest import BookingStudio
from tests.conftest import Api, Owner
from tests.payments.conftest import RunJobs
from tests.web.test_pages import CSRF, _login

HTML = {"accept": "text/html"}


@pytest.fixture
async def studio(api: Api) -> BookingStudio:
    return await BookingStudio(api, "pay-loop").setup()


async def _signed_in(web: httpx.AsyncClient, person: dict[str, Any]) -> str:
    response = await _login(web, person["email"], "secret123")
    assert response.status_code == 303
    page = await web.get("/my/bookings")
    return CSRF.search(page.text).group(1)


async def _checkout(web: httpx.AsyncClient, url: str) -> tuple[str, str]:
    """The sandbox checkout page of a held seat: its address and CSRF token."""
    page = await web.get(url)
    assert page.status_code == 200, page.text
    token = CSRF.search(page.text)
    assert token is not None
    return url, token.group(1)


async def _hold_by_card(
    web: httpx.AsyncClient, studio: BookingStudio, member: dict[str, Any]
) -> tuple[dict[str, Any], str, str]:
    occurrence = await studio.occurrence(hours_ahead=48, credits_required=0, price=1500)
    token = await _signed_in(web, member)
    sent = await web.post(
        f"/s/pay-loop/classes/{occurrence['id']}/book", data={"csrf_token": token}
    )
    assert sent.status_code == 303, sent.text
    assert "/sandbox/checkout/" in sent.headers["location"]
    return occurrence, *(await _checkout(web, sent.headers["location"]))


async def test_after_paying_the_member_is_led_to_their_booking(
    web: httpx.AsyncClient, studio: BookingStudio, owner_db: Owner, run_jobs: RunJobs
) -> None:
    member = await studio.new_member()
    _, url, token = await _hold_by_card(web, studio, member)
    paid = await web.post(url, data={"csrf_token": token, "outcome": "pay", "sig": _sig(url)})
    assert paid.status_code == 200 and "Payment approved" in paid.text
    assert "Sign in" not in paid.text and "/my/profile" in paid.text
    await run_jobs()  # the webhook's processing
    done_url = re.search(r'id="continue" href="([^"]+)"', paid.text)
    assert done_url is not None
    done = await web.get(done_url.group(1).replace("&amp;", "&"))
    assert done.status_code == 200 and 'data-state="paid"' in done.text, done.text
    booking_id = owner_db.value("SELECT id FROM bookings WHERE status = 'confirmed'")
    assert f'href="/my/bookings/{booking_id}"' in done.text
    assert "Sign in" not in done.text


async def test_a_declined_card_offers_to_try_again(
    web: httpx.AsyncClient, studio: BookingStudio, owner_db: Owner, run_jobs: RunJobs
) -> None:
    member = await studio.new_member()
    occurrence, url, token = await _hold_by_card(web, studio, member)
    declined = await web.post(
        url, data={"csrf_token": token, "outcome": "decline", "sig": _sig(url)}
    )
    assert "Payment declined" in declined.text
    await run_jobs()
    done_url = re.search(r'id="continue" href="([^"]+)"', declined.text)
    assert done_url is not None
    done = await web.get(done_url.group(1).replace("&amp;", "&"))
    assert 'data-state="declined"' in done.text
    assert f'href="/s/pay-loop/classes/{occurrence["id"]}">Try again' in done.text
    # The released hold is shown as such: no "Cancel" for a seat that is gone.
    mine = await web.get("/my/bookings")
    assert "hold expired" in mine.text and "Cancel…" not in mine.text
    assert "Book again" in mine.text


async def test_the_result_page_shows_only_the_members_own_payment(
    web: httpx.AsyncClient, studio: BookingStudio, owner_db: Owner
) -> None:
    payer = await studio.new_member()
    await _hold_by_card(web, studio, payer)
    payment_id, tenant_id = owner_db.rows("SELECT id, tenant_id FROM payments")[0]
    other = await studio.new_member()
    await _signed_in(web, other)
    page = await web.get(f"/payments/done?payment={payment_id}&studio={tenant_id}")
    assert page.status_code == 200 and 'data-state="unknown"' in page.text
    assert "ZAR" not in page.text  # nothing of the other member's payment
    wrong_studio = await web.get(f"/payments/done?payment={payment_id}&studio={uuid.uuid4()}")
    assert wrong_studio.status_code == 200 and 'data-state="unknown"' in wrong_studio.text
    bad = await web.get("/payments/done?payment=not-an-id", headers=HTML)
    assert bad.status_code == 400 and bad.headers["content-type"].startswith("text/html")
    assert owner_db.value("SELECT status FROM payments") == "pending"


async def test_a_freed_seat_is_offered_to_a_waitlisted_member_without_credits(
    web: httpx.AsyncClient, studio: BookingStudio, owner_db: Owner
) -> None:
    occurrence = await studio.occurrence(hours_ahead=48, capacity=1, price=1200)
    booked = await studio.new_member(credits=1)
    first = (await studio.book(booked, occurrence["id"])).json()
    waiting = await studio.new_member()
    token = await _signed_in(web, waiting)
    page = await web.get(f"/s/pay-loop/classes/{occurrence['id']}")
    warning = re.search(r'id="waitlist-warning">(.*?)</p>', page.text, re.S)
    assert warning is not None and "hold it for you for 15 minutes" in warning.group(1)
    joined = await web.post(
        f"/s/pay-loop/classes/{occurrence['id']}/book",
        data={"csrf_token": token, "join_waitlist": "1"},
    )
    assert joined.status_code == 303

    freed = await studio.client.delete(f"/api/v1/bookings/{first['id']}", headers=booked["headers"])
    assert freed.status_code == 200
    mine = await web.get("/my/bookings")
    assert "Your seat is held until" in mine.text
    pay = await web.post(f"/s/pay-loop/classes/{occurrence['id']}/book", data={"csrf_token": token})
    assert pay.status_code == 303 and "/sandbox/checkout/" in pay.headers["location"]
    assert owner_db.value("SELECT count(*) FROM payments WHERE status = 'pending'") == 1


async def test_bad_page_addresses_answer_html(
    web: httpx.AsyncClient, studio: BookingStudio
) -> None:
    member = await studio.new_member()
    await _signed_in(web, member)
    for path in (f"/my/bookings/{uuid.uuid4()}", "/my/bookings/not-a-uuid"):
        page = await web.get(path, headers=HTML)
        assert page.status_code == 404, (path, page.text)
        assert page.headers["content-type"].startswith("text/html")
        assert "<h1>" in page.text
    api = await web.get("/api/v1/bookings/not-a-uuid")
    assert api.headers["content-type"].startswith("application/json")


def _sig(url: str) -> str:
    found = re.search(r"sig=([^&]+)", url)
    assert found is not None
    return found.group(1)
