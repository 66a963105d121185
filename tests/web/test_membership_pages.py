"""A member's membership in the browser, over HTTP: the memberships page knows their plan,
My membership says what they have, and every change goes through billing; a bad input,
another studio's plan, a second cancellation or another person changes nothing."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest

from tests.billing.conftest import MemberStudio, RunJobs, run_jobs
from tests.conftest import Api, Owner
from tests.web.test_pages import CSRF, _login

__all__ = ["run_jobs"]  # the fixture, for these tests
HTML = {"accept": "text/html"}


@pytest.fixture
async def gym(api: Api) -> MemberStudio:
    return await MemberStudio(api, "loop-yoga").setup()


async def _signed_in(web: httpx.AsyncClient, person: dict[str, Any]) -> str:
    assert (await _login(web, person["email"], "secret123")).status_code == 303
    return CSRF.search((await web.get("/s/loop-yoga/membership")).text).group(1)


async def _pay(web: httpx.AsyncClient, checkout_url: str, run_jobs: RunJobs) -> None:
    path = checkout_url.removeprefix("http://127.0.0.1:8000")
    page = await web.get(path)
    token, sig = CSRF.search(page.text), re.search(r'name="sig" value="([^"]+)"', page.text)
    assert token and sig, page.text
    paid = await web.post(
        path.split("?")[0],
        data={"csrf_token": token.group(1), "sig": sig.group(1), "outcome": "pay"},
    )
    assert "Payment approved" in paid.text
    await run_jobs()


def _state(owner_db: Owner) -> list[tuple[Any, ...]]:
    return owner_db.rows(
        "SELECT plan_id::text, next_plan_id::text, status, cancel_at_period_end, "
        "current_period_end, paused_from FROM subscriptions ORDER BY created_at"
    )


async def test_the_memberships_page_knows_your_plan_and_my_membership_shows_it(
    web: httpx.AsyncClient, gym: MemberStudio, owner_db: Owner, run_jobs: RunJobs
) -> None:
    small = await gym.plan()
    big = await gym.plan(name="Twenty a month", price=85000, credits_per_period=20)
    owner_db.rows("UPDATE tenants SET timezone = 'Africa/Johannesburg'")
    before = await web.get("/s/loop-yoga/memberships")
    assert "Join Eight a month" in before.text and "renews automatically on" in before.text
    assert "Cancel any time on My membership" in before.text

    member, _ = await gym.member_with(small, run_jobs)
    await _signed_in(web, member)
    listing = await web.get("/s/loop-yoga/memberships")
    assert "Your plan" in listing.text and "Join " not in listing.text
    assert f"/s/loop-yoga/membership/change?plan={big['id']}" in listing.text
    assert "Switch to this plan" in listing.text

    page = await web.get("/s/loop-yoga/membership")
    assert page.status_code == 200
    end = owner_db.value(
        "SELECT to_char(current_period_end AT TIME ZONE 'Africa/Johannesburg', 'DD Mon YYYY') "
        "FROM subscriptions"
    )
    assert "Eight a month" in page.text and ">Active" in page.text
    assert f"{end}, ZAR 450.00" in page.text  # the renewal, on the studio's calendar
    assert "8 credits this period" in page.text
    assert "saved with Sandbox" in page.text and "charged to it automatically" in page.text
    assert "Eight a month membership" in page.text and "succeeded" in page.text  # history
    bookings = await web.get("/my/bookings")
    assert 'href="/s/loop-yoga/membership"' in bookings.text


async def test_upgrade_now_downgrade_at_renewal_and_keep(
    web: httpx.AsyncClient, gym: MemberStudio, owner_db: Owner, run_jobs: RunJobs
) -> None:
    small = await gym.plan()
    big = await gym.plan(name="Twenty a month", price=85000, credits_per_period=20)
    member, sub = await gym.member_with(small, run_jobs)
    owner_db.rows(
        "UPDATE subscriptions SET current_period_start = now() - interval '15 days', "
        "current_period_end = now() + interval '15 days'"
    )
    token = await _signed_in(web, member)
    quote = await web.get(f"/s/loop-yoga/membership/change?plan={big['id']}")
    assert quote.status_code == 200
    assert re.search(r"You pay ZAR (199\.9\d|200\.00) now", quote.text)  # half of 400
    assert "for the rest of this period" in quote.text
    assert _state(owner_db)[0][0] == small["id"]  # looking changes nothing
    upgrade = await web.post(
        "/s/loop-yoga/membership/change", data={"csrf_token": token, "plan_id": big["id"]}
    )
    assert upgrade.status_code == 303 and "/sandbox/checkout/" in upgrade.headers["location"]
    await _pay(web, upgrade.headers["location"], run_jobs)
    assert _state(owner_db)[0][0] == big["id"]

    down = await web.get(f"/s/loop-yoga/membership/change?plan={small['id']}")
    assert "Nothing is charged now" in down.text
    switched = await web.post(
        "/s/loop-yoga/membership/change", data={"csrf_token": token, "plan_id": small["id"]}
    )
    assert switched.headers["location"] == "/s/loop-yoga/membership?done=changed"
    page = await web.get(switched.headers["location"])
    assert "You switch to <strong>Eight a month</strong>" in page.text
    assert _state(owner_db)[0][:2] == (big["id"], small["id"])
    kept = await web.post(
        "/s/loop-yoga/membership/change", data={"csrf_token": token, "plan_id": big["id"]}
    )
    assert kept.headers["location"].endswith("done=kept")
    assert _state(owner_db)[0][:2] == (big["id"], None)
    assert sub["id"]


async def test_bad_plans_are_refused_and_change_nothing(
    web: httpx.AsyncClient, gym: MemberStudio, api: Api, owner_db: Owner, run_jobs: RunJobs
) -> None:
    small = await gym.plan()
    yearly = await gym.plan(name="Yearly", price=450000, interval="year")
    retired = await gym.plan(name="Old", price=50000)
    await gym.client.patch(
        f"{gym.base}/membership-plans/{retired['id']}",
        headers=gym.owner["headers"],
        json={"is_active": False},
    )
    elsewhere = await MemberStudio(api, "other-gym").setup()
    foreign = await elsewhere.plan(name="Theirs", price=99000)
    member, _ = await gym.member_with(small, run_jobs)
    token = await _signed_in(web, member)
    before, payments = _state(owner_db), owner_db.value("SELECT count(*) FROM payments")

    cases = {
        "not-a-plan": (404, "Choose one of this studio"),
        "00000000-0000-0000-0000-000000000000": (404, "Choose one of this studio"),
        retired["id"]: (404, "Choose one of this studio"),
        foreign["id"]: (404, "Choose one of this studio"),
        yearly["id"]: (422, "Choose a plan with the same interval"),
        "": (404, "Choose one of this studio"),
    }
    for plan_id, (status, words) in cases.items():
        shown = await web.get(f"/s/loop-yoga/membership/change?plan={plan_id}")
        assert (shown.status_code, words in shown.text) == (status, True), (plan_id, shown.text)
        posted = await web.post(
            "/s/loop-yoga/membership/change", data={"csrf_token": token, "plan_id": plan_id}
        )
        assert (posted.status_code, words in posted.text) == (status, True), plan_id
    forged = await web.post(
        "/s/loop-yoga/membership/change", data={"plan_id": small["id"]}, headers=HTML
    )
    assert forged.status_code == 403
    joined_again = await web.post(
        f"/s/loop-yoga/memberships/{small['id']}", data={"csrf_token": token}
    )
    assert (
        joined_again.status_code == 409 and "switch plans from My membership" in joined_again.text
    )
    malformed_join = await web.post("/s/loop-yoga/memberships/nope", data={"csrf_token": token})
    assert malformed_join.status_code == 404
    assert _state(owner_db) == before
    assert owner_db.value("SELECT count(*) FROM payments") == payments


async def test_cancel_at_period_end_once_then_take_it_back(
    web: httpx.AsyncClient, gym: MemberStudio, owner_db: Owner, run_jobs: RunJobs
) -> None:
    plan = await gym.plan()
    member, _ = await gym.member_with(plan, run_jobs)
    token = await _signed_in(web, member)
    for action in ("cancel", "resume", "pause", "change"):  # no CSRF token: refused
        forged = await web.post(
            f"/s/loop-yoga/membership/{action}",
            data={"start": "2099-01-01", "end": "2099-01-02", "plan_id": plan["id"]},
            headers=HTML,
        )
        assert forged.status_code == 403, action
    assert _state(owner_db)[0][3] is False
    explained = await web.get("/s/loop-yoga/membership/cancel")
    assert "keeps running until" in explained.text and "nothing more is charged" in explained.text
    assert _state(owner_db)[0][3] is False
    done = await web.post("/s/loop-yoga/membership/cancel", data={"csrf_token": token})
    assert done.headers["location"].endswith("done=cancelled")
    page = await web.get(done.headers["location"])
    assert "ends on" in page.text and "Keep my membership" in page.text
    ended = _state(owner_db)
    assert ended[0][2:4] == ("active", True)

    again = await web.post("/s/loop-yoga/membership/cancel", data={"csrf_token": token})
    assert again.status_code == 409 and "already set to end" in again.text
    assert _state(owner_db) == ended
    resumed = await web.post("/s/loop-yoga/membership/resume", data={"csrf_token": token})
    assert resumed.headers["location"].endswith("done=resumed")
    assert _state(owner_db)[0][3] is False
    twice = await web.post("/s/loop-yoga/membership/resume", data={"csrf_token": token})
    assert twice.status_code == 409 and "not set to end" in twice.text


async def test_pausing_from_the_page(
    web: httpx.AsyncClient, gym: MemberStudio, owner_db: Owner, run_jobs: RunJobs
) -> None:
    plan = await gym.plan()
    member, _ = await gym.member_with(plan, run_jobs)
    token = await _signed_in(web, member)
    before = _state(owner_db)
    for start, end, status, words in (
        ("soon", "later", 422, "Enter the first day"),
        ("2020-01-01", "2020-01-10", 422, "cannot start in the past"),
        ("2099-01-01", "2099-01-10", 422, "within the current period"),
    ):
        refused = await web.post(
            "/s/loop-yoga/membership/pause", data={"csrf_token": token, "start": start, "end": end}
        )
        assert (refused.status_code, words in refused.text) == (status, True), refused.text
    assert _state(owner_db) == before
    tomorrow = owner_db.value("SELECT (now() AT TIME ZONE 'UTC')::date + 1")
    back = owner_db.value("SELECT (now() AT TIME ZONE 'UTC')::date + 8")
    paused = await web.post(
        "/s/loop-yoga/membership/pause",
        data={"csrf_token": token, "start": str(tomorrow), "end": str(back)},
    )
    assert paused.headers["location"].endswith("done=paused")
    page = await web.get(paused.headers["location"])
    assert "no classes covered then" in page.text
    assert _state(owner_db)[0][5] is not None


async def test_nobody_else_sees_or_changes_it(
    web: httpx.AsyncClient, gym: MemberStudio, api: Api, owner_db: Owner, run_jobs: RunJobs
) -> None:
    plan = await gym.plan()
    big = await gym.plan(name="Twenty a month", price=85000, credits_per_period=20)
    await gym.member_with(plan, run_jobs)
    other_studio = await MemberStudio(api, "other-gym").setup()
    before = _state(owner_db)

    anonymous = await web.get("/s/loop-yoga/membership")
    assert anonymous.status_code == 303 and anonymous.headers["location"].startswith("/login")
    someone = await gym.new_member()
    token = await _signed_in(web, someone)
    page = await web.get("/s/loop-yoga/membership")
    assert "You have no membership" in page.text and "Eight a month" not in page.text
    for action, data in (
        ("cancel", {}),
        ("resume", {}),
        ("pause", {"start": "2099-01-01", "end": "2099-01-02"}),
        ("change", {"plan_id": big["id"]}),
    ):
        answer = await web.post(
            f"/s/loop-yoga/membership/{action}", data={"csrf_token": token, **data}
        )
        assert answer.status_code == 409 and "no membership" in answer.text, action
    # The staff of another studio, on their own studio's page, see their own (none).
    await web.post("/logout", data={"csrf_token": token})
    owner_token = await _signed_in(web, other_studio.owner)
    theirs = await web.get("/s/other-gym/membership")
    assert "You have no membership" in theirs.text
    cancel = await web.post("/s/other-gym/membership/cancel", data={"csrf_token": owner_token})
    assert cancel.status_code == 409
    assert _state(owner_db) == before


async def test_before_the_first_payment_and_while_a_renewal_is_unpaid(
    web: httpx.AsyncClient, gym: MemberStudio, owner_db: Owner, run_jobs: RunJobs
) -> None:
    small = await gym.plan()
    big = await gym.plan(name="Twenty a month", price=85000, credits_per_period=20)
    member = await gym.new_member()
    token = await _signed_in(web, member)
    started = await web.post(f"/s/loop-yoga/memberships/{small['id']}", data={"csrf_token": token})
    assert started.status_code == 303
    page = await web.get("/s/loop-yoga/membership")
    assert "Waiting for your first payment" in page.text and "Not paid yet." in page.text
    assert started.headers["location"].replace("&", "&amp;") in page.text  # Pay now
    assert "Switch to" not in page.text and "Cancel at the end" not in page.text
    listing = await web.get("/s/loop-yoga/memberships")
    assert "Join Eight a month" in listing.text and "Your plan" not in listing.text
    refused = await web.get(f"/s/loop-yoga/membership/change?plan={big['id']}")
    assert refused.status_code == 409 and "no membership at this studio to change" in refused.text

    await _pay(web, started.headers["location"], run_jobs)
    owner_db.rows("UPDATE subscriptions SET status = 'past_due'")
    before = _state(owner_db)
    page = await web.get("/s/loop-yoga/membership")
    assert "Renewal unpaid" in page.text
    assert "Your plan" in (await web.get("/s/loop-yoga/memberships")).text
    posted = await web.post(
        "/s/loop-yoga/membership/change", data={"csrf_token": token, "plan_id": big["id"]}
    )
    assert posted.status_code == 409 and "cannot be changed in its current state" in posted.text
    assert _state(owner_db) == before
