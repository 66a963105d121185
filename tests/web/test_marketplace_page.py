"""The public marketplace page without a browser: mangled addresses still show a page, a
class name cannot break out of the JSON-LD block, and a class sold by card only is offered
for its price, never as a free booking."""

from __future__ import annotations

import json
import re

import httpx
import pytest

from studioloop.app import create_app
from tests.conftest import Api
from tests.marketplace.conftest import MarketStudio
from tests.web.test_pages import _login


@pytest.fixture
async def web(database, settings):
    app = create_app(settings.model_copy(update={"environment": "development"}))
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://127.0.0.1:8000"
    ) as client:
        yield client


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
