"""Amounts of money as people read them."""

from __future__ import annotations


def format_money(amount: int, currency: str) -> str:
    """Minor units as a price, without floats: 12500 ZAR -> 'ZAR 125.00'."""
    whole, cents = divmod(amount, 100)
    return f"{currency} {whole:,}.{cents:02d}"
