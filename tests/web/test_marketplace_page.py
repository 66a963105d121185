"""The public marketplace page without a browser: mangled addresses still show a page, a
class name cannot break out of the JSON-LD block, and a class sold by card only is offered
for its price, never as a free booking."""

from __future__ import annotations

import json
import re

import httpx

from tests.conftest import Api, Owner
from tests.marketplace.conftest import (
    MarketStudio,
    give_universal,
    make_operator,
    universal_balance,
)
from tests.web.test_pages import CSRF, _login


async def test_mangled_search_addresses_still_show_the_page(api: Api) -> None:
    for query in ("radius=abc", "cursor=not-a-cursor", "lat=95&lng=x", "when=someday&sort=??"):
        page = await api.client.get(f"/marketplace?{query}")
        assert page.status_code == 200, (query, page.text[:200])
        assert "Find a class near you" in page.text


async def test_a_class_name_cannot_end_the_json_ld_block(api: Api) -> None:
    studio = await MarketStudio(api, "sea-point-yoga").setup()
    await studio.listing(name="</script><script>alert(1)</script>")
    page = await api.client.get("/marketplace", params={"lat": -33.92, "lng": 18.42})
    assert "<script>alert(1)" not in page.text
    block = re.search(r'<script type="application/ld\+json">(.*?)</script>', page.text, re.S)
    assert block is not None
    [event] = json.loads(block.group(1))
    assert event["name"] == "</script><script>alert(1)</script>"
    assert event["@type"] == "Event"


async def test_a_card_only_class_is_offered_for_its_price(api: Api, web: httpx.AsyncClient) -> None:
    studio = await MarketStudio(api, "sea-point-yoga").setup()
    await studio.listing(name="Card Only Flow", credits_required=0, price=12_000)
    explorer = await api.signup(first_name="Explorer")
    assert (await _login(web, explorer["email"], "secret123")).status_code == 303
    page = await web.get("/marketplace", params={"lat": -33.92, "lng": 18.42})
    result = page.text[page.text.index("Card Only Flow") :]
    result = result[: result.index("</li>")]
    assert "Free" not in result
    assert 'value="card"' in result and "Pay ZAR 120.00" in result
    assert 'value="credits"' not in result


async def test_universal_credits_are_spent_only_after_a_confirmation(
    api: Api, web: httpx.AsyncClient, owner_db: Owner
) -> None:
    studio = await MarketStudio(api, "sea-point-yoga").setup()
    listed = await studio.listing(name="Confirm Flow")
    explorer = await api.signup(first_name="Explorer")
    await give_universal(api, await make_operator(api, owner_db), explorer, 5)
    assert (await _login(web, explorer["email"], "secret123")).status_code == 303
    page = await web.get("/marketplace", params={"lat": -33.92, "lng": 18.42})
    token = CSRF.search(page.text).group(1)
    assert "How they work, and your history" in page.text
    form = {"csrf_token": token, "occurrence_id": listed["id"], "pay_with": "credits"}
    asked = await web.post("/marketplace/book", data=form)
    assert asked.status_code == 200 and "Book Confirm Flow?" in asked.text
    spend = re.search(r'id="spend">(.*?)</p>', asked.text, re.S)
    assert spend is not None and "of your 5" in spend.group(1)
    assert owner_db.value("SELECT count(*) FROM bookings") == 0  # nothing spent yet
    assert await universal_balance(api, explorer) == 5

    booked = await web.post("/marketplace/book", data={**form, "confirmed": "1"})
    assert booked.status_code == 303 and booked.headers["location"].startswith("/my/bookings/")
    assert owner_db.value("SELECT count(*) FROM bookings") == 1
    left = await universal_balance(api, explorer)
    assert left < 5
    history = await web.get("/my/credits/universal")
    assert history.status_code == 200 and f'id="balance">{left}<' in history.text
    assert "Marketplace welcome" in history.text

    unknown = await web.post(
        "/marketplace/book",
        data={**form, "occurrence_id": "00000000-0000-0000-0000-000000000000"},
        headers={"accept": "text/html"},
    )
    assert unknown.status_code == 404
    assert owner_db.value("SELECT count(*) FROM bookings") == 1
