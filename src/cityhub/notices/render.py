"""Templates: typed placeholders, checked when a notice is sent, and rendering per language."""

from __future__ import annotations

import datetime as dt
import string
from collections.abc import Mapping
from typing import Any

from cityhub.identity.pii import personal_number_in
from cityhub.platform import texts as translated
from cityhub.platform.errors import Unprocessable

LANGUAGES = ("zh-Hans", "zh-Hant", "en")
TYPES = ("text", "int", "money", "date")
PARTS = ("title", "body")
_formatter = string.Formatter()


def fields_of(text: str) -> set[str]:
    """The placeholder names a text uses (`{name}`); ValueError on a malformed text."""
    names = set()
    for _literal, name, spec, conversion in _formatter.parse(text):
        if name is None:
            continue
        if not name.isidentifier() or spec or conversion:
            raise ValueError(f"placeholder {{{name}}} must be a plain name such as {{amount}}")
        names.add(name)
    return names


def refuse_personal_number(text: str, field: str) -> None:
    """A 422 naming the field if staff typed a full phone or identity number into what every
    follower's inbox shows (they are masked everywhere else in the hub)."""
    found = personal_number_in(text)
    if found:
        raise Unprocessable(
            f"{field} holds a full {found}: notices go to many inboxes, so leave it out or"
            " mask it (138****5678, 310***********1234)",
            code="personal_number",
            field=field,
        )


def check_template(
    placeholders: dict[str, str], texts: dict[str, dict[str, str]], *, staff_typed: bool = True
) -> None:
    """Refuse a template whose texts use a placeholder it does not declare, or (typed by
    staff) hold a full phone or identity number (422 naming it)."""
    for name, kind in placeholders.items():
        if not name.isidentifier():
            raise Unprocessable(f"{name!r} is not a placeholder name", field="placeholders")
        if kind not in TYPES:
            raise Unprocessable(
                f"placeholder {name}: type must be one of {', '.join(TYPES)}",
                field=f"placeholders.{name}",
            )
    for lang, parts in texts.items():
        for part in PARTS:
            try:
                used = fields_of(parts[part])
            except ValueError as exc:
                raise Unprocessable(str(exc), field=f"texts.{lang}.{part}") from None
            if staff_typed:
                refuse_personal_number(parts[part], f"texts.{lang}.{part}")
            undeclared = sorted(used - set(placeholders))
            if undeclared:
                raise Unprocessable(
                    f"texts.{lang}.{part} uses {{{undeclared[0]}}}, which is not declared",
                    field=f"texts.{lang}.{part}",
                )


def _text(name: str, value: Any) -> str:
    field = f"values.{name}"
    if not isinstance(value, str) or not value.strip():
        raise Unprocessable(f"{name} must be a non-empty text", field=field)
    if len(value) > 500:
        raise Unprocessable(f"{name} is longer than 500 characters", field=field)
    return value


def _value(name: str, kind: str, value: Any) -> str | dict[str, str]:
    """A value as the texts show it; a text may come in the hub's languages (a service's or
    a round's names, a status in words: `{"zh-Hans": ..., "en": ...}`), each recipient's
    language then chosen as `platform.texts.pick` chooses."""
    field = f"values.{name}"
    if kind == "text" and isinstance(value, Mapping):
        unknown = sorted(set(value) - set(LANGUAGES))
        if unknown or not value:
            raise Unprocessable(
                f"{name}: give a text, or texts keyed by {', '.join(LANGUAGES)}", field=field
            )
        return {lang: _text(name, text) for lang, text in value.items()}
    if kind == "text":
        return _text(name, value)
    if kind in ("int", "money"):
        if isinstance(value, bool) or not isinstance(value, int):
            raise Unprocessable(
                f"{name} must be an integer" + (" (fen)" if kind == "money" else ""), field=field
            )
        if kind == "money":
            if value < 0:
                raise Unprocessable(f"{name} must not be negative", field=field)
            return f"{value // 100}.{value % 100:02d}"
        return str(value)
    # date
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value).isoformat()
        except ValueError:
            pass
    raise Unprocessable(f"{name} must be a date such as 2026-12-01", field=field)


def render(
    placeholders: dict[str, str],
    texts: dict[str, dict[str, str]],
    values: dict[str, Any],
    *,
    staff_typed: bool = True,
) -> dict[str, dict[str, str]]:
    """Every language's title and body with the values put in; a missing, unknown or mistyped
    value is a 422 naming it, and so is (typed by staff) one holding a full phone or identity
    number. The hub's own templates (`staff_typed=False`) carry account numbers that may look
    like one."""
    for name in values:
        if name not in placeholders:
            raise Unprocessable(f"the template has no placeholder {name!r}", field=f"values.{name}")
    formatted: dict[str, str | dict[str, str]] = {}
    for name, kind in placeholders.items():
        if name not in values:
            raise Unprocessable(f"the value of {name} is missing", field=f"values.{name}")
        formatted[name] = shown = _value(name, kind, values[name])
        if staff_typed:
            for text in shown.values() if isinstance(shown, dict) else (shown,):
                refuse_personal_number(text, f"values.{name}")
    rendered = {}
    for lang, parts in texts.items():
        mine = {
            n: translated.pick(v, lang) if isinstance(v, dict) else v for n, v in formatted.items()
        }
        rendered[lang] = {part: parts[part].format_map(mine) for part in PARTS}
    return rendered


def in_language(texts: dict[str, Any], lang: str) -> dict[str, str]:
    """The title and body in `lang`, else in the first language the notice has."""
    chosen = texts.get(lang) or next(iter(texts.values()), {"title": "", "body": ""})
    return {"title": str(chosen["title"]), "body": str(chosen["body"])}
