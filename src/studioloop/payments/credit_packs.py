"""A credit pack paid for: its credits granted, its receipt issued and sent.

Registered as the fulfilment of purpose `credit_pack` (payments/fulfilment.py); the checkout
is opened by `service.start_credit_purchase`.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from studioloop.accounts.models import User
from studioloop.config import Settings
from studioloop.core.money import format_money
from studioloop.credits import service as credits
from studioloop.notifications import service as notifications
from studioloop.payments import receipts
from studioloop.payments.models import Payment


async def fulfil(session: AsyncSession, settings: Settings, payment: Payment) -> None:
    if payment.package_id is None:
        return
    package = await credits.get_package(session, payment.package_id)
    now = datetime.now(UTC)
    expires = now + timedelta(days=package.validity_days) if package.validity_days else None
    lot = await credits.grant(
        session,
        payment.tenant_id,
        payment.user_id,
        package.credits,
        source="purchase",
        transaction_type="purchase",
        expires_at=expires,
        package_id=package.id,
        reason=f"Bought {package.name}",
    )
    payment.credit_lot_id = lot.id
    receipt = await receipts.issue(session, payment)
    user = await session.get(User, payment.user_id)
    if user is not None:
        await notifications.notify(
            session,
            "payment_receipt",
            tenant_id=payment.tenant_id,
            user_id=user.id,
            attachments=[await receipts.as_attachment(session, settings, payment, receipt)],
            dedup_key=f"payment_receipt:{payment.id}",
            context={
                "first_name": user.first_name,
                "description": payment.description,
                "amount": format_money(payment.amount, payment.currency),
                "payment_id": str(payment.id),
                "expires": expires.strftime("%d %b %Y") if expires else None,
                "receipt_number": receipts.display_number(receipt.number),
            },
        )
