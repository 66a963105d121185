"""The public marketplace page without a browser: mangled addresses still show a page,
and a class name cannot break out of the JSON-LD block."""

from __future__ import annotations

import json
import re

from tests.conftest import Api
from tests.marketplace.conftest import MarketStudio


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
