"""Content in the hub's three languages: names of accounts, topics, departments, titles of
doctors and lottery rounds, the names of providers.

Such a text is kept as a plain column (the text given when the thing was made, shown when
nothing better is known) beside a JSON column of translations, `{"zh-Hans": ..., "zh-Hant":
..., "en": ...}`, any of which may be missing. `pick` chooses what a reader sees: their
language, else the other Chinese script before English (a reader of traditional characters
reads simplified ones better than English), else the plain column.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import Field, StringConstraints

LANGUAGES = ("zh-Hans", "zh-Hant", "en")
Language = Literal["zh-Hans", "zh-Hant", "en"]
FALLBACKS: dict[str, tuple[str, ...]] = {
    "zh-Hans": ("zh-Hans", "zh-Hant", "en"),
    "zh-Hant": ("zh-Hant", "zh-Hans", "en"),
    "en": ("en", "zh-Hans", "zh-Hant"),
}


_DESCRIPTION = (
    'the text in the hub\'s languages, e.g. {"zh-Hans": "停水", "zh-Hant": "停水", '
    '"en": "Water outages"}; any may be left out (a reader then sees the other Chinese '
    "script, then English, then the plain text)"
)
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=120)]
Title = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
# Translations of a name (up to 120 characters) or of a title (up to 200), as inputs.
NameTexts = Annotated[dict[Language, Name], Field(description=_DESCRIPTION)]
TitleTexts = Annotated[dict[Language, Title], Field(description=_DESCRIPTION)]


def pick(texts: Mapping[str, Any] | None, lang: str, default: str | None = None) -> str:
    """What a reader of `lang` sees of a text with these translations."""
    if texts:
        for candidate in FALLBACKS.get(lang, LANGUAGES):
            value = texts.get(candidate)
            if isinstance(value, str) and value:
                return value
    return default or ""


def translations(texts: Mapping[Any, str] | None) -> dict[str, str]:
    """The translations to keep: those given, in the hub's languages only."""
    return {lang: texts[lang] for lang in LANGUAGES if texts and texts.get(lang)}
