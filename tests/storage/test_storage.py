"""File storage: the local directory and an S3-compatible bucket behave alike."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import SecretStr

from studioloop.config import Settings
from studioloop.storage.service import (
    LocalStorage,
    S3Storage,
    Storage,
    StorageUnavailable,
    get_storage,
)
from tests.fakes.s3 import BUCKET, CREDENTIALS, fake_s3
from tests.fakes.smtp import free_port


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    with fake_s3() as endpoint:
        yield endpoint


def _s3_settings(settings: Settings, endpoint: str) -> Settings:
    return settings.model_copy(
        update={
            "s3_bucket": BUCKET,
            "s3_endpoint_url": endpoint,
            "s3_access_key_id": CREDENTIALS["aws_access_key_id"],
            "s3_secret_access_key": SecretStr(CREDENTIALS["aws_secret_access_key"]),
        }
    )


async def _round_trip(storage: Storage) -> None:
    key = "tenants/abc/logo.png"
    assert await storage.get(key) is None
    await storage.put(key, b"first", "image/png")
    await storage.put(key, b"second", "image/png")  # replaced whole
    assert await storage.get(key) == b"second"
    await storage.delete(key)
    await storage.delete(key)  # twice is fine
    assert await storage.get(key) is None
    for bad in ("../etc/passwd", "/abs", "tenants/../x", "Tenants/X", ""):
        with pytest.raises(ValueError, match="not a storage key"):
            await storage.put(bad, b"x", "text/plain")


async def test_local_storage(tmp_path: Path, settings: Settings) -> None:
    storage = get_storage(settings.model_copy(update={"data_dir": tmp_path}))
    assert isinstance(storage, LocalStorage)
    await _round_trip(storage)
    assert not list((tmp_path / "files").rglob(".upload-*"))  # no temporary files left


async def test_s3_storage(settings: Settings, s3_endpoint: str) -> None:
    storage = get_storage(_s3_settings(settings, s3_endpoint))
    assert isinstance(storage, S3Storage)
    await _round_trip(storage)


async def test_an_unreachable_bucket_is_a_clear_error(settings: Settings) -> None:
    storage = get_storage(_s3_settings(settings, f"http://127.0.0.1:{free_port()}"))
    with pytest.raises(StorageUnavailable):
        await storage.put("tenants/abc/logo.png", b"x", "image/png")
