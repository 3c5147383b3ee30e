"""A query's records as people read them: each declared field (`queries.fields`) with its
label in the reader's language and its value formatted by Babel (money in yuan, times in the
city's time zone, enum values by their labels), one card per record.

A value in another language than the page's (an employer's Chinese name on an English page)
is marked with its language (`lang`), as WCAG 3.1.2 asks and the page tests check.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo

from babel.dates import format_date, format_datetime, format_skeleton
from babel.numbers import format_decimal

from cityhub.platform import texts
from cityhub.queries.fields import AnswerField
from cityhub.web.i18n import language_of, locale_of
from cityhub.web.pages import format_money


@dataclass(frozen=True)
class Shown:
    """One field of a record on the page."""

    name: str
    label: str
    value: str
    lang: str | None = None  # the value's language where it is not the page's


def _text(field: AnswerField, record: dict[str, Any], lang: str) -> Any:
    source = field.sources.get(lang)
    if source and record.get(source) not in (None, ""):
        return record[source]
    if record.get(field.name) not in (None, ""):
        return record[field.name]
    for candidate in texts.FALLBACKS.get(lang, texts.LANGUAGES):
        other = field.sources.get(candidate)
        if other and record.get(other) not in (None, ""):
            return record[other]
    return None


def format_value(
    field: AnswerField, value: Any, record: dict[str, Any], *, lang: str, tz: str, currency: str
) -> str:
    """A value of the field as the reader's language writes it."""
    locale = locale_of(lang)
    try:
        if field.type == "money":
            money = record.get("currency") if isinstance(record.get("currency"), str) else None
            return format_money(int(value), money or currency, lang)
        if field.type == "time":
            when = dt.datetime.fromisoformat(str(value))
            if when.tzinfo is None:
                when = when.replace(tzinfo=dt.UTC)
            return format_datetime(when, "medium", tzinfo=ZoneInfo(tz), locale=locale)
        if field.type == "date":
            return format_date(dt.date.fromisoformat(str(value)[:10]), "medium", locale=locale)
        if field.type == "month":
            year, month = str(value)[:7].split("-")
            return format_skeleton("yMMM", dt.date(int(year), int(month), 1), locale=locale)
        if field.type == "number":
            number = format_decimal(Decimal(str(value)), locale=locale)
            return f"{number} {field.unit}" if field.unit else number
    except (ValueError, TypeError, InvalidOperation):
        pass  # a provider's value of another shape: shown as it came
    if field.type == "enum":
        return texts.pick(field.values.get(str(value)), lang, str(value))
    return str(value)


def cards(
    records: list[dict[str, Any]],
    fields: tuple[AnswerField, ...],
    *,
    lang: str,
    tz: str,
    currency: str,
) -> list[list[Shown]]:
    """Each record as the list of its declared fields that have a value (every field, by its
    own name, for a query that declares none)."""
    if not fields:
        fields = tuple(
            AnswerField(name, {}) for name in dict.fromkeys(k for r in records for k in r)
        )
    out = []
    for record in records:
        card = []
        for field in fields:
            value = _text(field, record, lang)
            if value is None:
                continue
            shown = format_value(field, value, record, lang=lang, tz=tz, currency=currency)
            mark = language_of(shown, lang) if field.type == "text" else None
            card.append(Shown(field.name, texts.pick(field.label, lang, field.name), shown, mark))
        out.append(card)
    return out
