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


def parse_major(text: str, currency: str = "CNY") -> int:
    """What a person typed in yuan (the currency's major unit) as minor units, exactly (no
    floats): `"12"`, `"12.5"`, `"12.50"`, `"1,200.00"` -> 1200, 1250, 1250, 120000. ValueError
    unless it is a positive amount with no more decimals than the currency has."""
    digits = int(get_currency_precision(currency))
    cleaned = text.strip().replace(",", "").replace("，", "")
    whole, dot, part = cleaned.partition(".")
    if not whole.isascii() or not part.isascii():
        raise ValueError(f"not an amount: {text!r}")
    if not (whole or part) or not (whole or "0").isdigit() or (dot and not part.isdigit()):
        raise ValueError(f"not an amount: {text!r}")
    if len(part) > digits:
        raise ValueError(f"{text!r} has more than {digits} decimals")
    scale: int = 10**digits
    minor = int(whole or "0") * scale + int(part.ljust(digits, "0") or "0")
    if minor <= 0:
        raise ValueError(f"not a positive amount: {text!r}")
    return minor


def plain_major(fen: int, currency: str = "CNY") -> str:
    """`1250` -> `12.50`: an amount as a form field holds it (no currency, no grouping)."""
    digits = get_currency_precision(currency)
    return f"{Decimal(fen).scaleb(-digits):.{digits}f}"
