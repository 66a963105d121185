"""The owner's People pages over HTTP: filters and the CSV of them, and one person's page
with bookings and attendance, credits, membership actions and staff notes."""

from __future__ import annotations

import csv
import io
import re
from typing import Any

import httpx
import pytest

from tests.billing.conftest import MemberStudio
from tests.conftest import Api, Owner
from tests.payments.conftest import RunJobs, run_jobs
from tests.web.test_pages import CSRF, _login

__all__ = ["run_jobs"]  # the fixture, for these tests

PEOPLE = "/s/loop-yoga/admin/members"
UNKNOWN = "00000000-0000-0000-0000-000000000000"


@pytest.fixture
async def gym(api: Api) -> MemberStudio:
    return await MemberStudio(api, "loop-yoga").setup()


async def _as(web: httpx.AsyncClient, person: dict[str, Any], page: str) -> str:
    assert (await _login(web, person["email"], "secret123")).status_code == 303
    return CSRF.search((await web.get(page)).text).group(1)


async def test_people_are_filtered_and_exported(
    web: httpx.AsyncClient, gym: MemberStudio, run_jobs: RunJobs, owner_db: Owner
) -> None:
    regular = await gym.new_member(credits=5)
    occurrence = await gym.occurrence(hours_ahead=30)
    assert (await gym.book(regular, occurrence["id"])).status_code == 201
    gone = await gym.new_member(credits=1)
    subscriber, _subscription = await gym.member_with(await gym.plan(), run_jobs, credits=4)
    owner_db.rows("UPDATE users SET first_name = '=HYPERLINK(1)' WHERE id = %s", gone["user"]["id"])
    await _as(web, gym.owner, PEOPLE)

    def shown(text: str, person: dict[str, Any]) -> bool:
        return person["email"] in text

    everyone = (await web.get(PEOPLE)).text
    assert all(shown(everyone, p) for p in (regular, gone, subscriber))
    lapsed = (await web.get(PEOPLE, params={"lapsed": "1"})).text
    assert shown(lapsed, gone) and shown(lapsed, subscriber) and not shown(lapsed, regular)
    low = (await web.get(PEOPLE, params={"low": "1"})).text
    assert shown(low, gone) and not shown(low, regular)
    with_plan = (await web.get(PEOPLE, params={"plan": "1"})).text
    assert shown(with_plan, subscriber) and not shown(with_plan, regular)
    assert not shown(with_plan, gone)
    both = (await web.get(PEOPLE, params={"lapsed": "1", "low": "1", "active": "1"})).text
    assert shown(both, gone) and not shown(both, regular)
    owner_db.rows(
        "UPDATE user_tenant_roles SET status = 'inactive' WHERE user_id = %s", gone["user"]["id"]
    )
    assert not shown((await web.get(PEOPLE, params={"active": "1"})).text, gone)
    bad = await web.get(PEOPLE, params={"lapsed": "yes"})
    assert bad.status_code == 400 and "Unknown filter" in bad.text
    assert (await web.get(PEOPLE, params={"cursor": "garbage"})).status_code == 400

    # The CSV holds what the filters show, every page of it, formulas defused.
    link = re.search(r'id="export"', lapsed) and re.search(
        r'href="(/s/loop-yoga/admin/members\.csv\?[^"]+)" id="export"', lapsed
    )
    assert link
    exported = await web.get(link.group(1).replace("&amp;", "&"))
    assert exported.status_code == 200 and exported.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    emails = {row["email"] for row in rows}
    assert gone["email"] in emails and regular["email"] not in emails
    assert next(r for r in rows if r["email"] == gone["email"])["first_name"] == "'=HYPERLINK(1)"
    assert (
        next(r for r in rows if r["email"] == subscriber["email"])["credits"] == "12"
    )  # 4 given, 8 from the plan
    assert (await web.get(f"{PEOPLE}.csv", params={"low": "maybe"})).status_code == 400

    member_web = httpx.AsyncClient(transport=web._transport, base_url="http://127.0.0.1:8000")
    async with member_web:
        await _as(member_web, gym.member, "/s/loop-yoga")
        assert (await member_web.get(f"{PEOPLE}.csv")).status_code == 403


async def test_a_members_page_credits_membership_and_notes(
    web: httpx.AsyncClient, gym: MemberStudio, run_jobs: RunJobs, owner_db: Owner
) -> None:
    member, _subscription = await gym.member_with(await gym.plan(), run_jobs, credits=2)
    went = await gym.occurrence(hours_ahead=30, name="Went")
    assert (await gym.book(member, went["id"])).status_code == 201
    owner_db.rows(
        "UPDATE class_schedules SET start_time = start_time - interval '3 days', "
        "end_time = end_time - interval '3 days' WHERE id = %s",
        went["id"],
    )
    owner_db.rows(
        "UPDATE bookings SET check_in_time = now() - interval '2 days' "
        "WHERE class_schedule_id = %s",
        went["id"],
    )
    coming = await gym.occurrence(hours_ahead=50, name="Coming")
    assert (await gym.book(member, coming["id"])).status_code == 201
    page_url = f"{PEOPLE}/{member['user']['id']}"
    token = await _as(web, gym.owner, page_url)
    page = (await web.get(page_url)).text
    assert "Coming" in page and "attended" in page and "attended 1 of 1" in page
    assert "Eight a month" in page and "badge-active" in page

    # Credits: added, taken away, and every bad value refused.
    credits_url = f"{page_url}/credits"
    balance = await gym.balance(member)
    added = await web.post(
        credits_url,
        data={"csrf_token": token, "amount": "3", "reason": "Goodwill", "valid_days": "30"},
    )
    assert added.status_code == 303 and await gym.balance(member) == balance + 3
    for data, words in (
        ({"amount": "0", "reason": "Nothing"}, "at least one credit"),
        ({"amount": "", "reason": "Nothing"}, "Fill this in"),
        ({"amount": "two", "reason": "Nothing"}, "whole number"),
        ({"amount": "1", "reason": ""}, "Fill this in"),
        ({"amount": "-1", "reason": "Take", "valid_days": "5"}, "Only credits added"),
    ):
        answer = await web.post(credits_url, data={"csrf_token": token, **data})
        assert answer.status_code == 400 and words in answer.text, (
            data,
            re.findall(r"(?:alert|field-error)[^<]*<", answer.text),
        )
    too_many = await web.post(
        credits_url, data={"csrf_token": token, "amount": "-999", "reason": "Too many"}
    )
    assert too_many.status_code == 409
    assert await gym.balance(member) == balance + 3

    # Notes: staff only, empty refused.
    note = await web.post(
        f"{page_url}/notes", data={"csrf_token": token, "body": "Knee injury: no jumps"}
    )
    assert note.status_code == 303
    assert "Knee injury: no jumps" in (await web.get(page_url)).text
    empty = await web.post(f"{page_url}/notes", data={"csrf_token": token, "body": "   "})
    assert empty.status_code == 400 and "Write the note first" in empty.text
    member_web = httpx.AsyncClient(transport=web._transport, base_url="http://127.0.0.1:8000")
    async with member_web:
        member_token = await _as(member_web, member, "/s/loop-yoga")
        assert (await member_web.get(page_url)).status_code == 403
        refused = await member_web.post(
            f"{page_url}/notes", data={"csrf_token": member_token, "body": "Sneaky"}
        )
        assert refused.status_code == 403
    assert owner_db.value("SELECT count(*) FROM member_notes") == 1

    # Membership: cancel at the period's end, keep, pause, end now; refusals in words.
    act = f"{page_url}/membership"
    assert (await web.post(act, data={"csrf_token": token, "action": "explode"})).status_code == 400
    assert (await web.post(act, data={"csrf_token": token, "action": "keep"})).status_code == 409
    assert (await web.post(act, data={"csrf_token": token, "action": "cancel"})).status_code == 303
    assert "set to end with its period" in (await web.get(page_url)).text
    twice = await web.post(act, data={"csrf_token": token, "action": "cancel"})
    assert twice.status_code == 409 and "already set to end" in twice.text
    assert (await web.post(act, data={"csrf_token": token, "action": "keep"})).status_code == 303
    bad_pause = await web.post(
        act, data={"csrf_token": token, "action": "pause", "start": "soon", "end": ""}
    )
    assert bad_pause.status_code == 400 and "first day" in bad_pause.text
    past_pause = await web.post(
        act,
        data={"csrf_token": token, "action": "pause", "start": "2020-01-01", "end": "2020-01-10"},
    )
    assert past_pause.status_code == 422 and "cannot start in the past" in past_pause.text
    assert (await web.post(act, data={"csrf_token": token, "action": "end"})).status_code == 303
    ended = owner_db.value(
        "SELECT status FROM subscriptions WHERE user_id = %s", member["user"]["id"]
    )
    assert ended == "canceled"
    none_left = await web.post(act, data={"csrf_token": token, "action": "cancel"})
    assert none_left.status_code == 409 and "no membership running" in none_left.text

    # Someone else's, unknown or malformed: a message, nothing changed.
    rival = await gym.api.signup(first_name="Rival")
    await gym.api.create_tenant(rival, "jozi-hiit")
    for who in (UNKNOWN, "not-an-id", rival["user"]["id"]):
        assert (await web.get(f"{PEOPLE}/{who}")).status_code == 404
        answer = await web.post(f"{PEOPLE}/{who}/notes", data={"csrf_token": token, "body": "Hi"})
        assert answer.status_code == 404 and "not one of this studio" in answer.text
        answer = await web.post(
            f"{PEOPLE}/{who}/credits", data={"csrf_token": token, "amount": "1", "reason": "Hi!"}
        )
        assert answer.status_code == 404
    assert owner_db.value("SELECT count(*) FROM member_notes") == 1
