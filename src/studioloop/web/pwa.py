"""The installable web app: its manifest, its service worker (served from the site's root
so it may look after every page), and the page shown offline when nothing was kept."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response

from studioloop.web.routes import render

router = APIRouter(include_in_schema=False)
STATIC = Path(__file__).resolve().parent / "static"

MANIFEST = {
    "name": "StudioLoop",
    "short_name": "StudioLoop",
    "description": "Book classes, keep your check-in codes, and hear from your studios.",
    "start_url": "/my/bookings",
    "scope": "/",
    "display": "standalone",
    "background_color": "#f8fafc",
    "theme_color": "#0f766e",
    "icons": [
        {"src": "/static/icons/icon-192.png", "sizes": "192x192", "type": "image/png"},
        {"src": "/static/icons/icon-512.png", "sizes": "512x512", "type": "image/png"},
        {
            "src": "/static/icons/icon-512.png",
            "sizes": "512x512",
            "type": "image/png",
            "purpose": "maskable",
        },
        {"src": "/static/icons/icon.svg", "sizes": "any", "type": "image/svg+xml"},
    ],
}


@router.get("/manifest.webmanifest")
async def manifest() -> Response:
    return JSONResponse(MANIFEST, media_type="application/manifest+json")


@router.get("/sw.js")
async def service_worker() -> Response:
    # Always checked for a new version: a stale worker would keep serving old pages.
    return FileResponse(
        STATIC / "sw.js",
        media_type="text/javascript",
        headers={"Cache-Control": "no-cache", "Service-Worker-Allowed": "/"},
    )


@router.get("/offline", response_class=HTMLResponse)
async def offline(request: Request) -> Response:
    return render(request, "offline.html", {"user": None})
