"""Money as people read it in command output: yuan (or the currency's major unit) with its
decimals and the currency code, `69.20 CNY`. Amounts are kept as integer minor units; this is
only how they are written."""

from __future__ import annotations

from decimal import Decimal

from babel.numbers import get_currency_precision


def major(fen: int, currency: str = "CNY") -> str:
    """`6920, "CNY"` -> `69.20 CNY`; negative amounts keep their sign."""
    digits = get_currency_precision(currency)
    value = Decimal(fen).scaleb(-digits)
    return f"{value:.{digits}f} {currency}"
