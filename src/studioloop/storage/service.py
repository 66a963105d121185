"""Files (studio logos today; course media later): a local directory by default, an
S3-compatible bucket (boto3) when S3_BUCKET is set.

Keys are paths like `tenants/<id>/logo.png`, checked against a narrow pattern so no key
can leave the storage root. boto3 is synchronous, so its calls run in a worker thread
and never block the event loop.
"""

from __future__ import annotations

import asyncio
import functools
import os
import re
import tempfile
from pathlib import Path
from typing import Any, Protocol

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from studioloop.config import Settings
from studioloop.core.errors import AppError

KEY = re.compile(r"^[a-z0-9][a-z0-9_-]*(/[a-z0-9][a-z0-9_.-]*)*$")


class StorageUnavailable(AppError):
    status_code = 503
    code = "STORAGE_UNAVAILABLE"
    message = "File storage could not be reached. Please try again."


def _checked(key: str) -> str:
    if not KEY.match(key) or ".." in key:
        raise ValueError(f"not a storage key: {key!r}")
    return key


class Storage(Protocol):
    async def put(self, key: str, data: bytes, content_type: str) -> None: ...

    async def get(self, key: str) -> bytes | None: ...

    async def delete(self, key: str) -> None: ...


class LocalStorage:
    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, key: str) -> Path:
        return self.root / _checked(key)

    def _write(self, path: Path, data: bytes) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        # Written beside it and renamed: a reader never sees half a file.
        handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".upload-")
        with os.fdopen(handle, "wb") as out:
            out.write(data)
        os.replace(temporary, path)

    async def put(self, key: str, data: bytes, content_type: str) -> None:
        await asyncio.to_thread(self._write, self._path(key), data)

    async def get(self, key: str) -> bytes | None:
        path = self._path(key)
        try:
            return await asyncio.to_thread(path.read_bytes)
        except FileNotFoundError:
            return None

    async def delete(self, key: str) -> None:
        await asyncio.to_thread(self._path(key).unlink, missing_ok=True)


class S3Storage:
    def __init__(self, client: Any, bucket: str) -> None:
        self._client = client
        self._bucket = bucket

    async def _call(self, method: str, **params: Any) -> Any:
        try:
            return await asyncio.to_thread(
                getattr(self._client, method), Bucket=self._bucket, **params
            )
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                return None
            raise StorageUnavailable() from error
        except BotoCoreError as error:
            raise StorageUnavailable() from error

    async def put(self, key: str, data: bytes, content_type: str) -> None:
        await self._call("put_object", Key=_checked(key), Body=data, ContentType=content_type)

    async def get(self, key: str) -> bytes | None:
        found = await self._call("get_object", Key=_checked(key))
        if found is None:
            return None
        body: bytes = await asyncio.to_thread(found["Body"].read)
        return body

    async def delete(self, key: str) -> None:
        await self._call("delete_object", Key=_checked(key))


@functools.lru_cache(maxsize=8)
def _s3_client(
    endpoint: str | None, region: str, access_key: str | None, secret: str | None
) -> Any:
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name=region,
        aws_access_key_id=access_key,
        aws_secret_access_key=secret,
        config=Config(retries={"max_attempts": 3, "mode": "standard"}, connect_timeout=5),
    )


def get_storage(settings: Settings) -> Storage:
    if settings.s3_bucket:
        client = _s3_client(
            settings.s3_endpoint_url,
            settings.s3_region,
            settings.s3_access_key_id,
            settings.s3_secret_access_key.get_secret_value()
            if settings.s3_secret_access_key
            else None,
        )
        return S3Storage(client, settings.s3_bucket)
    return LocalStorage(settings.data_dir / "files")
