"""Receipts: numbered per studio with no gaps, VAT worked out in integers, PDF."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from studioloop.config import get_settings
from studioloop.payments.receipts import vat_included
from tests.conftest import Owner, assert_error
from tests.fakes.smtp import FakeSmtpServer
from tests.payments.conftest import RunJobs, ShopStudio

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-results"


def test_vat_inside_a_price() -> None:
    assert vat_included(11500, 1500) == 1500  # R115.00 at 15% holds R15.00 VAT
    assert vat_included(12500, 1500) == 1630  # 1630.43... rounded half up to 1630
    assert vat_included(1, 1500) == 0
    assert vat_included(12500, 0) == 0


async def _buy(shop: ShopStudio, member: dict, package: dict, run_jobs: RunJobs) -> dict:
    checkout = (await shop.purchase(member, package["id"])).json()
    await shop.checkout(checkout["checkout_url"], "pay")
    await run_jobs()
    payment: dict = checkout["payment"]
    return payment


async def test_receipts_are_numbered_per_studio_and_downloadable(
    shop: ShopStudio, client, api, owner_db: Owner, run_jobs: RunJobs
) -> None:
    updated = await client.patch(
        f"/api/v1/tenants/{shop.slug}",
        headers=shop.owner["headers"],
        json={"settings": {"vat_rate_basis_points": 1500, "tax_number": "4123456789"}},
    )
    assert updated.status_code == 200, updated.text
    member = await shop.new_member()
    package = await shop.package(price=11500)
    first = await _buy(shop, member, package, run_jobs)
    # A checkout that never completes takes no number.
    await shop.purchase(member, package["id"])
    second = await _buy(shop, member, package, run_jobs)
    assert owner_db.rows("SELECT number, amount, vat_amount FROM receipts ORDER BY number") == [
        (1, 11500, 1500),
        (2, 11500, 1500),
    ]

    pdf = await client.get(
        f"{shop.base}/payments/{second['id']}/receipt.pdf", headers=member["headers"]
    )
    assert pdf.status_code == 200
    assert pdf.headers["content-type"] == "application/pdf"
    assert pdf.content.startswith(b"%PDF")
    assert 'filename="receipt-R-000002.pdf"' in pdf.headers["content-disposition"]
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / "receipt-R-000002.pdf").write_bytes(pdf.content)  # to look at
    emails = owner_db.rows(
        "SELECT subject FROM notifications WHERE event = 'payment_receipt' ORDER BY subject"
    )
    assert [e[0] for e in emails] == [
        "Receipt R-000001: 10 credits: Ten pack",
        "Receipt R-000002: 10 credits: Ten pack",
    ]
    # The owner may download it too; another member may not; nor before it is paid.
    owner_pdf = await client.get(
        f"{shop.base}/payments/{first['id']}/receipt.pdf", headers=shop.owner["headers"]
    )
    assert owner_pdf.status_code == 200
    other = await shop.new_member()
    assert_error(
        await client.get(
            f"{shop.base}/payments/{first['id']}/receipt.pdf", headers=other["headers"]
        ),
        404,
        "PAYMENT_NOT_FOUND",
    )
    unpaid = (await shop.purchase(member, package["id"])).json()["payment"]
    assert_error(
        await client.get(
            f"{shop.base}/payments/{unpaid['id']}/receipt.pdf", headers=member["headers"]
        ),
        404,
        "RECEIPT_NOT_FOUND",
    )

    # Another studio counts from 1 on its own.
    rival = await api.signup(first_name="Rival")
    await api.create_tenant(rival, "jozi-hiit")
    rival_shop = ShopStudio(api, "jozi-hiit")
    rival_shop.owner = rival
    rival_package = await rival_shop.package()
    buyer = await api.signup(first_name="Buyer")
    await api.join(buyer, "jozi-hiit")
    await _buy(rival_shop, buyer, rival_package, run_jobs)
    assert owner_db.rows("SELECT number FROM receipts ORDER BY issued_at DESC LIMIT 1") == [(1,)]


async def test_payments_arriving_together_take_consecutive_numbers(
    shop: ShopStudio, owner_db: Owner, run_jobs: RunJobs
) -> None:
    package = await shop.package()
    members = [await shop.new_member() for _ in range(6)]
    checkouts = [(await shop.purchase(m, package["id"])).json() for m in members]
    await asyncio.gather(*(shop.checkout(c["checkout_url"], "pay") for c in checkouts))
    await run_jobs()
    numbers = [row[0] for row in owner_db.rows("SELECT number FROM receipts ORDER BY number")]
    assert numbers == [1, 2, 3, 4, 5, 6]


async def test_settings_are_merged_not_replaced(shop: ShopStudio, client, owner_db: Owner) -> None:
    for change in (
        {"payment_provider": "sandbox", "tax_number": "4123456789"},
        {"vat_rate_basis_points": 1500},
        {"tax_number": None},
    ):
        answer = await client.patch(
            f"/api/v1/tenants/{shop.slug}", headers=shop.owner["headers"], json={"settings": change}
        )
        assert answer.status_code == 200, answer.text
    settings = owner_db.value("SELECT settings FROM tenants WHERE slug = %s", shop.slug)
    assert settings["payment_provider"] == "sandbox"
    assert settings["vat_rate_basis_points"] == 1500
    assert "tax_number" not in settings


async def test_the_receipt_pdf_is_emailed(
    shop: ShopStudio, run_jobs: RunJobs, monkeypatch: pytest.MonkeyPatch
) -> None:
    with FakeSmtpServer() as smtp:
        monkeypatch.setenv("SMTP_HOST", "127.0.0.1")
        monkeypatch.setenv("SMTP_PORT", str(smtp.port))
        monkeypatch.setenv("SMTP_STARTTLS", "false")
        get_settings.cache_clear()
        try:
            member = await shop.new_member()
            package = await shop.package()
            checkout = (await shop.purchase(member, package["id"])).json()
            await shop.checkout(checkout["checkout_url"], "pay")
            await run_jobs()  # the webhook, then the emails it wrote
        finally:
            monkeypatch.delenv("SMTP_HOST")
            get_settings.cache_clear()
    receipts = [m for m in smtp.messages if m["Subject"].startswith("Receipt R-000001")]
    assert len(receipts) == 1
    parts = [p for p in receipts[0].walk() if p.get_filename()]
    assert [(p.get_filename(), p.get_content_type()) for p in parts] == [
        ("receipt-R-000001.pdf", "application/pdf")
    ]
    payload = parts[0].get_payload(decode=True)
    assert isinstance(payload, bytes) and payload.startswith(b"%PDF")
