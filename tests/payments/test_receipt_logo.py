"""A studio's logo: uploaded by staff, checked and re-encoded, served, and on receipts."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from PIL import Image
from pydantic import SecretStr

from studioloop.config import Settings
from tests.conftest import Api, Owner, assert_error
from tests.fakes.s3 import BUCKET, CREDENTIALS, fake_s3
from tests.payments.conftest import RunJobs, ShopStudio
from tests.payments.test_receipts import ARTIFACTS


def _image(width: int = 1200, height: int = 300, kind: str = "PNG") -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), (15, 118, 110)).save(out, format=kind)
    return out.getvalue()


async def _upload(client: Any, who: dict, body: bytes, content_type: str = "image/png") -> Any:
    return await client.put(
        "/api/v1/tenants/loop-yoga/logo",
        headers={**who["headers"], "Content-Type": content_type},
        content=body,
    )


async def test_staff_set_the_logo_and_receipts_show_it(
    shop: ShopStudio, client, owner_db: Owner, run_jobs: RunJobs
) -> None:
    member = await shop.new_member()
    assert_error(await _upload(client, member, _image()), 403, "INSUFFICIENT_ROLE")
    assert_error(
        await _upload(client, shop.owner, b"<svg/>", "image/svg+xml"), 422, "INVALID_IMAGE"
    )
    assert_error(await _upload(client, shop.owner, b"GIF89a" + b"0" * 100), 422, "INVALID_IMAGE")
    assert owner_db.value("SELECT logo_key FROM tenants WHERE slug = 'loop-yoga'") is None
    too_big = await _upload(client, shop.owner, b"0" * (1024 * 1024 + 1))
    assert_error(too_big, 413, "PAYLOAD_TOO_LARGE")

    uploaded = await _upload(client, shop.owner, _image(kind="JPEG"), "image/jpeg")
    assert uploaded.status_code == 200, uploaded.text
    assert uploaded.json()["logo_url"] == "/api/v1/tenants/loop-yoga/logo"
    public = await client.get("/api/v1/tenants/loop-yoga")
    assert public.json()["logo_url"] == "/api/v1/tenants/loop-yoga/logo"
    served = await client.get("/api/v1/tenants/loop-yoga/logo")
    assert served.headers["content-type"] == "image/png"
    with Image.open(io.BytesIO(served.content)) as logo:
        assert (logo.format, logo.size) == ("PNG", (600, 150))  # fitted, proportions kept

    package = await shop.package()
    checkout = (await shop.purchase(member, package["id"])).json()
    await shop.checkout(checkout["checkout_url"], "pay")
    await run_jobs()
    pdf = await client.get(
        f"{shop.base}/payments/{checkout['payment']['id']}/receipt.pdf", headers=member["headers"]
    )
    assert pdf.status_code == 200 and b"/Subtype /Image" in pdf.content
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / "receipt-with-logo.pdf").write_bytes(pdf.content)  # to look at

    removed = await client.delete("/api/v1/tenants/loop-yoga/logo", headers=shop.owner["headers"])
    assert removed.status_code == 204
    assert_error(await client.get("/api/v1/tenants/loop-yoga/logo"), 404, "LOGO_NOT_FOUND")
    plain = await client.get(
        f"{shop.base}/payments/{checkout['payment']['id']}/receipt.pdf", headers=member["headers"]
    )
    assert b"/Subtype /Image" not in plain.content


@pytest.fixture
def s3_settings(settings: Settings) -> Iterator[Settings]:
    with fake_s3() as endpoint:
        yield settings.model_copy(
            update={
                "s3_bucket": BUCKET,
                "s3_endpoint_url": endpoint,
                "s3_access_key_id": CREDENTIALS["aws_access_key_id"],
                "s3_secret_access_key": SecretStr(CREDENTIALS["aws_secret_access_key"]),
            }
        )


@pytest.fixture
async def s3_client(database: Any, s3_settings: Settings) -> AsyncIterator[Any]:
    from studioloop.app import create_app

    transport = httpx.ASGITransport(app=create_app(s3_settings))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client


async def test_logos_live_in_the_bucket_when_one_is_set(
    s3_client: Any, s3_settings: Settings, owner_db: Owner
) -> None:
    import boto3

    studio = await ShopStudio(Api(s3_client, owner_db), "loop-yoga").setup()
    uploaded = await _upload(s3_client, studio.owner, _image(400, 400))
    assert uploaded.status_code == 200, uploaded.text
    bucket = boto3.client(
        "s3", endpoint_url=s3_settings.s3_endpoint_url, region_name="us-east-1", **CREDENTIALS
    )
    (stored,) = bucket.list_objects_v2(Bucket=BUCKET)["Contents"]
    assert stored["Key"] == f"tenants/{studio.tenant['id']}/logo.png"
    served = await s3_client.get("/api/v1/tenants/loop-yoga/logo")
    assert served.status_code == 200 and served.content.startswith(b"\x89PNG")
