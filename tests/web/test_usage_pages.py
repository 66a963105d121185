"""The usage pages over HTTP: the creator's page (customers near their caps, trends, top
consumers, every customer's use and its CSV, meters made, changed and archived, with the
service's refusals), a member's bars on "My membership", and who may open what."""

from __future__ import annotations

import csv
import io
import re
import uuid
from typing import Any

import httpx
import pytest

from tests.conftest import Api, Owner
from tests.usage.conftest import Creator, RunJobs, run_jobs
from tests.web.test_pages import CSRF, _login

__all__ = ["run_jobs"]  # the fixture, for these tests

USAGE = "/s/loop-yoga/admin/usage"
CAPS = {"reviews": 10, "minutes": {"included": 100, "hard": False, "overage_unit_price": 150}}


@pytest.fixture
async def creator(api: Api) -> Creator:
    return await Creator(api, "loop-yoga").setup()


async def _as(web: httpx.AsyncClient, person: dict[str, Any], page: str) -> str:
    assert (await _login(web, person["email"], "secret123")).status_code == 303
    return CSRF.search((await web.get(page)).text).group(1)


async def _customer(
    creator: Creator, first_name: str, plan: dict[str, Any] | None, jobs: RunJobs
) -> dict[str, Any]:
    """A named member of the studio, on the tier `plan` (paid) or on none."""
    person = await creator.api.signup(first_name=first_name)
    await creator.api.join(person, creator.slug)
    if plan is not None:
        started = await creator.subscribe(person, plan["id"])
        assert started.status_code == 201, started.text
        await creator.checkout(started.json()["checkout_url"], "pay")
        await jobs()
    return person


def _events(person: dict[str, Any], name: str, count: int, **extra: Any) -> list[dict[str, Any]]:
    return [
        {"event_id": uuid.uuid4().hex, "customer": person["email"], "event": name, **extra}
        for _ in range(count)
    ]


async def _creator_with_usage(
    creator: Creator, database: Any, jobs: RunJobs
) -> dict[str, dict[str, Any]]:
    """Two meters capped by one tier; Ayanda at her hard cap, Bongi near it and past her
    soft cap, Chris without a tier."""
    await creator.meter(slug="reviews", name="AI reviews", event_name="ai_review", unit="reviews")
    await creator.meter(
        slug="minutes", name="Video minutes", event_name="video", aggregation="sum",
        value_property="minutes", unit="minutes",
    )  # fmt: skip
    plan = await creator.plan(name="Coach Pro", usage_caps=CAPS)
    people = {
        "ayanda": await _customer(creator, "Ayanda", plan, jobs),
        "bongi": await _customer(creator, "Bongi", plan, jobs),
        "chris": await _customer(creator, "Chris", None, jobs),
    }
    result = await creator.ingest(
        database,
        [
            *_events(people["ayanda"], "ai_review", 10),
            *_events(people["ayanda"], "video", 2, properties={"minutes": 20}),
            *_events(people["bongi"], "ai_review", 8),
            *_events(people["bongi"], "video", 1, properties={"minutes": 130}),
            *_events(people["chris"], "ai_review", 3),
        ],
    )
    assert result.accepted == 24 and not result.rejected, result
    return people


def _section(page: str, heading_id: str, until: str = "</section>") -> str:
    """The HTML of the <section> labelled by `heading_id`, up to `until`."""
    start = page.index(f'aria-labelledby="{heading_id}"')
    return page[start : page.index(until, start)]


async def test_the_creator_sees_caps_trends_top_consumers_and_customers(
    web: httpx.AsyncClient, creator: Creator, database: Any, run_jobs: RunJobs
) -> None:
    people = await _creator_with_usage(creator, database, run_jobs)
    await _as(web, creator.owner, USAGE)
    page = await web.get(USAGE)
    assert page.status_code == 200
    text = page.text
    assert f'href="{USAGE}">Usage</a>' in text  # in the admin menu

    near = _section(text, "near-heading")
    # Fullest first: Bongi's minutes (130%), Ayanda's reviews (100%), Bongi's reviews (80%).
    order = [near.index(s) for s in ("130 of 100", "10 of 10", "8 of 10")]
    assert order == sorted(order) and near.count('class="row-card"') == 3
    assert "AI reviews: 10 of 10 reviews (100%)" in near and "cap reached" in near
    assert "Video minutes: 130 of 100 minutes (130%, soft cap)" in near
    assert "past the cap, billed" in near
    assert "AI reviews: 8 of 10 reviews (80%)" in near and "near the cap" in near
    assert "Chris" not in near  # no tier, no cap

    trends = _section(text, "trend-heading", 'aria-labelledby="top-heading"')
    assert trends.count('<svg class="chart"') == 2
    assert 'aria-label="AI reviews per day, last 30 days (reviews)"' in trends
    # Today's figure in the table beside the chart: everyone's reviews and minutes.
    assert re.search(r"<td>\d\d \w\w\w</td><td>21</td>", trends)
    assert re.search(r"<td>\d\d \w\w\w</td><td>170</td>", trends)
    assert "21 reviews in 30 days; busiest day" in trends

    top = _section(text, "top-heading", 'aria-labelledby="customers-heading"')
    reviews = top[: top.index("Video minutes")]
    assert reviews.index("Ayanda") < reviews.index("Bongi") < reviews.index("Chris")
    assert "Chris User</a>: 3 reviews" in reviews

    customers = _section(text, "customers-heading")
    assert customers.count('class="row-card"') == 3
    assert "no tier" in customers and customers.count("Coach Pro") == 2
    assert f'href="{USAGE}.csv"' in customers

    # One customer's trend.
    chris = people["chris"]["user"]["id"]
    one = await web.get(USAGE, params={"customer": chris})
    trends = _section(one.text, "trend-heading", 'aria-labelledby="top-heading"')
    assert "Last 30 days: Chris User" in trends
    assert 'aria-label="AI reviews by Chris User per day' in trends
    assert re.search(r"<td>\d\d \w\w\w</td><td>3</td>", trends)
    assert "<td>170</td>" not in trends
    # Someone who is no customer, or no id, shows everyone.
    for other in (str(uuid.uuid4()), "nope"):
        shown = await web.get(USAGE, params={"customer": other})
        assert shown.status_code == 200 and "Last 30 days</h2>" in shown.text


def _has(row: dict[str, str], **expected: str) -> bool:
    return {name: row[name] for name in expected} == expected


async def test_the_csv_has_every_customer_and_meter_this_period(
    web: httpx.AsyncClient, creator: Creator, database: Any, run_jobs: RunJobs
) -> None:
    people = await _creator_with_usage(creator, database, run_jobs)
    await _as(web, creator.owner, USAGE)
    answer = await web.get(f"{USAGE}.csv")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/csv")
    assert 'filename="loop-yoga-usage.csv"' in answer.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(answer.text)))
    by = {(row["email"], row["meter"]): row for row in rows}
    assert len(rows) == 6  # three customers, two meters
    ayanda, bongi, chris = (people[n]["email"] for n in ("ayanda", "bongi", "chris"))
    assert _has(
        by[(ayanda, "reviews")],
        name="Ayanda User",
        tier="Coach Pro",
        used="10",
        included="10",
        cap="hard",
        state="blocked",
    )
    assert (by[(ayanda, "minutes")]["used"], by[(ayanda, "minutes")]["state"]) == ("40", "ok")
    minutes = by[(bongi, "minutes")]
    assert (minutes["used"], minutes["included"], minutes["cap"], minutes["state"]) == (
        "130",
        "100",
        "soft",
        "over",
    )
    assert by[(bongi, "reviews")]["state"] == "warn"
    # Without a tier: counted in the calendar month, nothing included.
    assert _has(by[(chris, "reviews")], tier="", used="3", included="", cap="", state="ok")
    assert by[(chris, "minutes")]["used"] == "0"
    assert by[(chris, "reviews")]["period_start"] < by[(chris, "reviews")]["period_end"]
    assert sum(int(row["used"]) for row in rows if row["meter"] == "reviews") == 21
    # The same numbers as the checks answer.
    for email in (ayanda, bongi, chris):
        check = await creator.check(customer=email, meter="minutes")
        assert check.json()["used"] == by[(email, "minutes")]["used"]


async def test_meters_are_made_changed_and_archived_and_refusals_change_nothing(
    web: httpx.AsyncClient, creator: Creator, database: Any, owner_db: Owner
) -> None:
    token = await _as(web, creator.owner, USAGE)
    page = await web.get(USAGE)
    assert "No meters yet." in page.text and "Near their caps" not in page.text
    form = {
        "csrf_token": token,
        "slug": "reviews",
        "name": "AI reviews",
        "event_name": "ai_review",
        "aggregation": "count",
        "value_property": "",
        "unit": "",
        "reset": "billing_period",
    }
    made = await web.post(f"{USAGE}/meters", data=form)
    assert made.status_code == 303, made.text
    assert made.headers["location"].startswith(f"{USAGE}?done=added#meter-")
    meter_id, unit = owner_db.rows("SELECT id, unit FROM usage_meters")[0]
    assert unit == "units"

    def count() -> int:
        return int(owner_db.value("SELECT count(*) FROM usage_meters"))

    taken = await web.post(f"{USAGE}/meters", data=form)
    assert taken.status_code == 409 and 'id="new-slug-error"' in taken.text
    assert "Another meter of this studio has that slug." in taken.text
    for bad, marked in (
        ({"slug": "Has Spaces"}, "new-slug-error"),
        ({"slug": "x\x00"}, "new-slug-error"),
        ({"slug": "other", "name": ""}, "new-name-error"),
        ({"slug": "other", "aggregation": "median"}, "new-aggregation-error"),
        ({"slug": "other", "reset": "weekly"}, "new-reset-error"),
        ({"slug": "other", "value_property": "minutes"}, "new-value_property-error"),
    ):
        refused = await web.post(f"{USAGE}/meters", data={**form, **bad})
        # The schema's refusals are the form's (400); a count with a property, the
        # service's METER_INVALID (422).
        assert refused.status_code == (422 if "value_property" in bad else 400), bad
        assert f'id="{marked}"' in refused.text, bad
        assert "Nothing was saved" in refused.text or 'role="alert"' in refused.text
    assert count() == 1

    # Before it counts, what it counts may change; after, only its name and unit.
    edit = f"{USAGE}/meters/{meter_id}"
    fields = {k: v for k, v in form.items() if k != "slug"}
    emptied = await web.post(edit, data={**fields, "name": ""})
    assert emptied.status_code == 400 and f'id="meter-{meter_id}-name-error"' in emptied.text
    assert owner_db.value("SELECT name FROM usage_meters") == "AI reviews"
    changed = await web.post(edit, data={**fields, "event_name": "review"})
    assert changed.status_code == 303
    member = await creator.new_member()
    await creator.ingest(database, _events(member, "review", 1))
    in_use = await web.post(edit, data={**fields, "event_name": "review", "aggregation": "max"})
    assert in_use.status_code == 409
    assert "Archive it and make a new one." in in_use.text
    assert f'id="meter-{meter_id}-aggregation-error"' in in_use.text
    assert owner_db.value("SELECT aggregation FROM usage_meters") == "count"
    renamed = await web.post(
        edit, data={**fields, "event_name": "review", "name": "Reviews", "unit": "reviews"}
    )
    assert renamed.status_code == 303
    assert owner_db.rows("SELECT name, unit FROM usage_meters") == [("Reviews", "reviews")]

    # Another studio's meter, or no id, is not found, and nothing changes.
    other = await creator.api.signup(first_name="Other")
    await creator.api.create_tenant(other, "elsewhere")
    theirs = await creator.client.post(
        "/api/v1/tenants/elsewhere/usage/meters",
        headers=other["headers"],
        json={"slug": "theirs", "name": "Theirs", "event_name": "x"},
    )
    for wrong in (theirs.json()["id"], "nope"):
        missing = await web.post(f"{USAGE}/meters/{wrong}", data={**fields, "name": "Mine"})
        assert missing.status_code == 404 and "not one of this studio&#39;s" in missing.text
        gone = await web.post(f"{USAGE}/meters/{wrong}/archive", data={"csrf_token": token})
        assert gone.status_code == 404
    assert owner_db.value("SELECT name FROM usage_meters WHERE slug = 'theirs'") == "Theirs"

    archived = await web.post(f"{edit}/archive", data={"csrf_token": token})
    assert archived.status_code == 303
    assert owner_db.value(
        "SELECT archived_at IS NOT NULL FROM usage_meters WHERE id = %s", meter_id
    )
    page = await web.get(archived.headers["location"])
    assert "The meter is archived" in page.text and ">archived</span>" in page.text
    # Without the form's token nothing is made.
    assert (await web.post(f"{USAGE}/meters", data={**form, "csrf_token": "x"})).status_code == 403
    assert count() == 2


async def test_only_the_owner_and_admins_open_the_usage_page(
    web: httpx.AsyncClient, creator: Creator, api: Api
) -> None:
    anonymous = await web.get(USAGE)
    assert anonymous.status_code == 303 and anonymous.headers["location"].startswith("/login")
    stranger = await api.signup(first_name="Stranger")
    await api.create_tenant(stranger, "elsewhere")
    for person in (creator.member, creator.instructor, stranger):
        token = await _as(web, person, "/s/loop-yoga/membership")
        for answer in (
            await web.get(USAGE),
            await web.get(f"{USAGE}.csv"),
            await web.post(
                f"{USAGE}/meters",
                data={"csrf_token": token, "slug": "x", "name": "X", "event_name": "x"},
            ),
        ):
            assert answer.status_code == 403, person["email"]
            assert "This page is for the studio&#39;s owner and admins" in answer.text
    admin = await creator.add_staff("admin", "Admin")
    await _as(web, admin, USAGE)
    assert (await web.get(USAGE)).status_code == 200
    # The stranger's own studio is theirs.
    await _as(web, stranger, "/s/elsewhere/admin/usage")
    assert (await web.get("/s/elsewhere/admin/usage")).status_code == 200


async def test_a_member_sees_their_tier_and_bars_against_the_caps(
    web: httpx.AsyncClient, creator: Creator, database: Any, run_jobs: RunJobs
) -> None:
    # Before the studio meters anything, the membership page shows no usage.
    await _as(web, creator.member, "/s/loop-yoga/membership")
    assert "My usage" not in (await web.get("/s/loop-yoga/membership")).text

    people = await _creator_with_usage(creator, database, run_jobs)
    await _as(web, people["ayanda"], "/s/loop-yoga/membership")
    usage = _section((await web.get("/s/loop-yoga/membership")).text, "usage-heading")
    assert "Your tier: <strong>Coach Pro</strong>" in usage
    reviews = usage[usage.index('id="usage-reviews"') : usage.index('id="usage-minutes"')]
    assert 'class="usage-line usage-blocked" id="usage-reviews"' in usage
    assert "10 of 10 reviews used" in reviews
    assert "Limit reached:" in reviews and 'width="100"' in reviews and "Resets on" in reviews
    minutes = usage[usage.index('id="usage-minutes"') :]
    assert "40 of 100 minutes used" in minutes and 'width="40"' in minutes
    assert "Billed past this: ZAR 1.50 each." in minutes

    await _as(web, people["bongi"], "/s/loop-yoga/membership")
    usage = _section((await web.get("/s/loop-yoga/membership")).text, "usage-heading")
    assert 'class="usage-line usage-warn" id="usage-reviews"' in usage and "80% used." in usage
    assert "Past what your tier includes:" in usage and "billed at ZAR 1.50 each" in usage

    await _as(web, people["chris"], "/s/loop-yoga/membership")
    page = (await web.get("/s/loop-yoga/membership")).text
    usage = _section(page, "usage-heading")
    assert "You have no tier at Loop Yoga" in usage and "3 reviews" in usage
    assert "Not included without a tier." in usage and "<svg" not in usage
