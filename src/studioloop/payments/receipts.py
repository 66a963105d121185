"""Receipts: numbered per studio without gaps, VAT shown, rendered as PDF.

The number comes from the studio's counter row, incremented in the same transaction that
records the payment's success: if that transaction rolls back, so does the increment, and
concurrent payments of one studio take numbers one after the other (the row is locked
until commit). Prices include VAT; the VAT line is worked out in integers, rounded half up.
"""

from __future__ import annotations

import io
import uuid
from collections.abc import Sequence
from datetime import UTC
from typing import Any

from fpdf import FPDF
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from studioloop.accounts.models import User
from studioloop.config import Settings
from studioloop.core.money import format_money
from studioloop.notifications.service import Attachment
from studioloop.payments import repository
from studioloop.payments.models import Payment, Receipt
from studioloop.tenants import logo, service as tenants_service


def vat_included(amount: int, rate_basis_points: int) -> int:
    """The VAT inside a VAT-inclusive amount: 11500 at 15% (1500) is 1500."""
    if rate_basis_points <= 0:
        return 0
    denominator = 10_000 + rate_basis_points
    return (2 * amount * rate_basis_points + denominator) // (2 * denominator)


def display_number(number: int) -> str:
    return f"R-{number:06d}"


async def issue(session: AsyncSession, payment: Payment) -> Receipt:
    """The receipt of a payment that just succeeded (once per payment)."""
    settings = await tenants_service.settings_of(session, payment.tenant_id)
    rate = settings.get("vat_rate_basis_points", 0)
    rate = rate if isinstance(rate, int) and 0 <= rate <= 10_000 else 0
    number = await repository.next_receipt_number(session, payment.tenant_id)
    receipt = Receipt(
        tenant_id=payment.tenant_id,
        payment_id=payment.id,
        number=number,
        amount=payment.amount,
        vat_amount=vat_included(payment.amount, rate),
        vat_rate_basis_points=rate,
        currency=payment.currency,
        description=payment.description,
        lines=list(payment.lines or []),
    )
    session.add(receipt)
    await session.flush()
    await session.refresh(receipt)
    return receipt


async def receipt_of(session: AsyncSession, payment: Payment) -> Receipt | None:
    found: Receipt | None = await session.scalar(
        select(Receipt).where(Receipt.payment_id == payment.id)
    )
    return found


async def payments_with_receipts(
    session: AsyncSession, payment_ids: Sequence[uuid.UUID]
) -> set[uuid.UUID]:
    """Which of these payments have a receipt (one statement for a page of payments)."""
    if not payment_ids:
        return set()
    query = select(Receipt.payment_id).where(Receipt.payment_id.in_(list(payment_ids)))
    return set(await session.scalars(query))


async def render_pdf(
    session: AsyncSession, app_settings: Settings, payment: Payment, receipt: Receipt
) -> bytes:
    tenant = await tenants_service.get_tenant(session, payment.tenant_id)
    payer = await session.get(User, payment.user_id)
    settings: dict[str, Any] = tenant.settings or {}
    logo_png = await logo.read(app_settings, tenant.logo_key)
    pdf = FPDF(format="A4")
    pdf.set_title(f"Receipt {display_number(receipt.number)}")
    pdf.set_author(tenant.name)
    pdf.add_page()
    if logo_png:
        # Top right, at most 40 x 20 mm, its proportions kept (fpdf2 fits it in the box).
        pdf.image(
            io.BytesIO(logo_png),
            x=pdf.w - pdf.r_margin - 40,
            y=10,
            w=40,
            h=20,
            keep_aspect_ratio=True,
        )
    pdf.set_font("Helvetica", "B", 18)
    pdf.cell(0, 10, _latin1(tenant.name), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", "", 10)
    address = ", ".join(str(v) for v in (tenant.address or {}).values() if v)
    for line in (address, tenant.email, _tax_line(settings)):
        if line:
            pdf.cell(0, 5, _latin1(line), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(8)
    pdf.set_font("Helvetica", "B", 14)
    title = "Tax invoice" if receipt.vat_rate_basis_points else "Receipt"
    pdf.cell(0, 8, f"{title} {display_number(receipt.number)}", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", "", 10)
    issued = receipt.issued_at.astimezone(UTC).strftime("%d %B %Y")
    pdf.cell(0, 5, f"Date: {issued}", new_x="LMARGIN", new_y="NEXT")
    if payer is not None:
        name = f"{payer.first_name} {payer.last_name} <{payer.email}>"
        pdf.cell(0, 5, _latin1(f"Customer: {name}"), new_x="LMARGIN", new_y="NEXT")
    pdf.cell(0, 5, f"Payment reference: {payment.id}", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(6)
    money = format_money
    rows = [
        (str(line["description"]), money(int(line["amount"]), receipt.currency))
        for line in receipt.lines or []
    ] or [(receipt.description, money(receipt.amount, receipt.currency))]
    if receipt.vat_rate_basis_points:
        whole, hundredths = divmod(receipt.vat_rate_basis_points, 100)
        percent = f"{whole}.{hundredths:02d}".rstrip("0").rstrip(".") + "%"
        rows.append((f"of which VAT at {percent}", money(receipt.vat_amount, receipt.currency)))
    rows.append(("Total paid", money(receipt.amount, receipt.currency)))
    for index, (label, value) in enumerate(rows):
        bold = index == len(rows) - 1
        pdf.set_font("Helvetica", "B" if bold else "", 11)
        pdf.cell(130, 8, _latin1(label), border="B")
        pdf.cell(0, 8, value, border="B", align="R", new_x="LMARGIN", new_y="NEXT")
    if payment.amount_refunded:
        pdf.ln(4)
        pdf.set_font("Helvetica", "", 10)
        refunded = money(payment.amount_refunded, payment.currency)
        pdf.cell(0, 5, f"Refunded since: {refunded}", new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())


def _tax_line(settings: dict[str, Any]) -> str | None:
    number = settings.get("tax_number")
    return f"VAT number: {number}" if isinstance(number, str) and number else None


def _latin1(text: str) -> str:
    # The PDF core fonts cover Latin-1; anything else is shown as "?" rather than failing.
    return text.encode("latin-1", "replace").decode("latin-1")


async def as_attachment(
    session: AsyncSession, app_settings: Settings, payment: Payment, receipt: Receipt
) -> Attachment:
    """The receipt's PDF, to send with the email that tells the member about it."""
    return Attachment(
        filename=f"receipt-{display_number(receipt.number)}.pdf",
        content_type="application/pdf",
        content=await render_pdf(session, app_settings, payment, receipt),
    )
