"""How pages and files travel: text over 1 KB compressed for clients that accept it;
static files under names that change with their content, kept by browsers for a year."""

from __future__ import annotations

import hashlib
import re

import httpx

from studioloop.web.static_files import STATIC_DIR


async def test_text_over_a_kilobyte_is_compressed(web: httpx.AsyncClient) -> None:
    for path in ("/", "/static/css/app.css", "/api/v1/openapi.json"):
        response = await web.get(path, headers={"accept-encoding": "gzip"})
        assert response.status_code == 200, path
        assert response.headers.get("content-encoding") == "gzip", path
        assert response.headers["vary"].lower().find("accept-encoding") >= 0, path
    plain = await web.get("/", headers={"accept-encoding": "identity"})
    assert "content-encoding" not in plain.headers
    small = await web.get("/health", headers={"accept-encoding": "gzip"})
    assert "content-encoding" not in small.headers


async def test_static_files_have_names_that_change_with_their_content(
    web: httpx.AsyncClient,
) -> None:
    page = await web.get("/")
    linked = re.search(r'href="(/static/css/app\.([0-9a-f]{12})\.css)"', page.text)
    assert linked is not None, "the page links the stylesheet by its fingerprinted name"
    body = (STATIC_DIR / "css" / "app.css").read_bytes()
    assert linked.group(2) == hashlib.sha256(body).hexdigest()[:12]
    forever = await web.get(linked.group(1))
    assert forever.status_code == 200 and forever.content == body
    assert forever.headers["cache-control"] == "public, max-age=31536000, immutable"
    plain = await web.get("/static/css/app.css")
    assert plain.headers["cache-control"] == "no-cache" and plain.headers.get("etag")
    again = await web.get("/static/css/app.css", headers={"if-none-match": plain.headers["etag"]})
    assert again.status_code == 304
    stale = await web.get("/static/css/app.000000000000.css")
    assert stale.status_code == 200 and stale.headers["cache-control"] == "no-cache"
    missing = await web.get("/static/css/nothing.000000000000.css")
    assert missing.status_code == 404
