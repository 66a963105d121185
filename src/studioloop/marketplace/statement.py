"""A studio's marketplace statement: per booking, what the marketplace owes it for a
period, from its payout ledger (bookings paid with universal credits, and those paid by
card where the platform collected the money; a card paid straight into the studio's own
Stripe account is in its Stripe balance instead).

A statement lists the ledger entries made in the period, so a booking made in one month
and cancelled in the next appears in both: once owed, once reversed. The totals are
exactly what the studio's payout balance moved by through the marketplace.
"""

from __future__ import annotations

import csv
import io
import uuid
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from studioloop.core.errors import field_error
from studioloop.marketplace import repository
from studioloop.marketplace.schemas import StatementLine, StatementOut
from studioloop.tenants import service as tenants_service

MAX_PERIOD_DAYS = 366


def period_bounds(start: date, end: date, timezone: str) -> tuple[datetime, datetime]:
    """[start, end) as the studio's local days: midnight to midnight where it is."""
    if end <= start:
        raise field_error("to", "must be after from", location="query")
    if end - start > timedelta(days=MAX_PERIOD_DAYS):
        raise field_error("to", f"at most {MAX_PERIOD_DAYS} days at a time", location="query")
    zone = ZoneInfo(timezone)
    return datetime.combine(start, time(), zone), datetime.combine(end, time(), zone)


async def statement(
    session: AsyncSession, tenant_id: uuid.UUID, start: date, end: date
) -> StatementOut:
    tenant = await tenants_service.get_tenant(session, tenant_id)
    period_from, period_to = period_bounds(start, end, tenant.timezone)
    rows = await repository.statement_lines(session, tenant_id, period_from, period_to)
    lines = [
        StatementLine(
            booking_id=row.booking_id,
            booked_at=row.booked_at,
            class_name=row.class_name,
            start_time=row.start_time,
            member_name=f"{row.first_name} {row.last_name}".strip(),
            status=row.status,
            paid_with="card" if row.by_card else "credits",
            credits=row.credits_used,
            gross=row.gross,
            commission=row.commission,
            net=row.gross - row.commission,
        )
        for row in rows
    ]
    return StatementOut(
        period_from=period_from,
        period_to=period_to,
        currency=tenant.currency,
        # Bookings still owed for: one made and cancelled within the period is listed
        # (a zero line) but not counted.
        bookings=sum(1 for line in lines if line.gross > 0),
        credits=sum(line.credits for line in lines if line.gross > 0),
        gross=sum(line.gross for line in lines),
        commission=sum(line.commission for line in lines),
        net=sum(line.net for line in lines),
        lines=lines,
    )


def _money(minor: int) -> str:
    sign = "-" if minor < 0 else ""
    return f"{sign}{abs(minor) // 100}.{abs(minor) % 100:02d}"


def _cell(text: str) -> str:
    """A name as a spreadsheet shows it, never as a formula (CSV injection: a class or
    member named "=HYPERLINK(...)" would run in Excel or Sheets)."""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def as_csv(found: StatementOut, timezone: str) -> str:
    """The statement for a spreadsheet: one row per booking, amounts in major units with
    two decimals, times in the studio's zone, and a total row."""
    zone = ZoneInfo(timezone)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(
        [
            "booking_id",
            "booked_at",
            "class",
            "class_start",
            "member",
            "status",
            "paid_with",
            "credits",
            f"gross_{found.currency}",
            f"commission_{found.currency}",
            f"net_{found.currency}",
        ]
    )
    for line in found.lines:
        writer.writerow(
            [
                line.booking_id,
                line.booked_at.astimezone(zone).strftime("%Y-%m-%d %H:%M"),
                _cell(line.class_name),
                line.start_time.astimezone(zone).strftime("%Y-%m-%d %H:%M"),
                _cell(line.member_name),
                line.status,
                line.paid_with,
                line.credits,
                _money(line.gross),
                _money(line.commission),
                _money(line.net),
            ]
        )
    writer.writerow(
        [
            "total",
            "",
            "",
            "",
            "",
            "",
            "",
            found.credits,
            _money(found.gross),
            _money(found.commission),
            _money(found.net),
        ]
    )
    return out.getvalue()
