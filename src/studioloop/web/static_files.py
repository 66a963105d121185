"""Our static files, under names that change when their content does.

Pages link `app.3f2a9c1be07d.css` (`static_url("css/app.css")`), which is served with a
year-long, immutable cache: a phone on a slow network asks for the stylesheet once per
release, never per page. The plain name (`app.css`) still answers, revalidated each time
(ETag), for links that cannot know the fingerprint (the service worker's first copy, an
old cached page). The `vendor/` folder is named by version already (`jsqr-1.4.0/`), so it
is long-lived as it is.

Starlette's StaticFiles has no fingerprinting; whitenoise and Django's manifest storage
do it by copying files at build time, which a `pip install -e .` checkout does not have.
Hashing at first use (and again when a file's mtime changes, as in development) needs no
build step.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

from starlette.responses import Response
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

FOREVER = "public, max-age=31536000, immutable"
REVALIDATE = "no-cache"
_FINGERPRINTED = re.compile(r"^(?P<stem>.+)\.(?P<digest>[0-9a-f]{12})\.(?P<ext>[A-Za-z0-9]+)$")
_VERSIONED = ("vendor/",)


class FingerprintedStaticFiles(StaticFiles):
    def __init__(self, directory: Path, prefix: str = "/static") -> None:
        super().__init__(directory=directory)
        self.root = directory
        self.prefix = prefix
        self._digests: dict[str, tuple[int, str]] = {}

    def digest(self, path: str) -> str | None:
        """The first 12 hex digits of the file's SHA-256, or None if there is no file."""
        file = self.root / path
        try:
            mtime = file.stat().st_mtime_ns
        except OSError:
            return None
        known = self._digests.get(path)
        if known is None or known[0] != mtime:
            known = (mtime, hashlib.sha256(file.read_bytes()).hexdigest()[:12])
            self._digests[path] = known
        return known[1]

    def url(self, path: str) -> str:
        """The address to link: fingerprinted when the file exists."""
        digest = self.digest(path)
        stem, dot, ext = path.rpartition(".")
        if digest is None or not dot:
            return f"{self.prefix}/{path}"
        return f"{self.prefix}/{stem}.{digest}.{ext}"

    async def get_response(self, path: str, scope: Scope) -> Response:
        found = _FINGERPRINTED.match(path)
        if found is not None:
            plain = f"{found['stem']}.{found['ext']}"
            if self.digest(plain) == found["digest"]:
                response = await super().get_response(plain, scope)
                response.headers["Cache-Control"] = FOREVER
                return response
            # An old fingerprint (a page cached before a release): today's file, not
            # to be kept forever under that name.
            response = await super().get_response(plain, scope)
            response.headers["Cache-Control"] = REVALIDATE
            return response
        response = await super().get_response(path, scope)
        if response.status_code < 400:
            versioned = path.startswith(_VERSIONED)
            response.headers.setdefault("Cache-Control", FOREVER if versioned else REVALIDATE)
        return response


STATIC_DIR = Path(__file__).resolve().parent / "static"
STATIC = FingerprintedStaticFiles(STATIC_DIR)
static_url = STATIC.url
