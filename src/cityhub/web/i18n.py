"""Languages of the pages: the catalogues (compiled from the .po files in memory at import)
and the choice of a request's language (cookie, then Accept-Language, then zh-Hans).

The .po files in `locales/` are the only source: there is no build step and no .mo file. To
add a string, write it in a template with `_()` or `{% trans %}`, then add it to every .po file
(tests/web/test_i18n.py lists what is missing or stale); for a large change, pybabel can do the
bookkeeping (see babel.cfg beside this file).
"""

from __future__ import annotations

import io
from functools import cache
from pathlib import Path
from typing import Protocol

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import Translations

LOCALES = Path(__file__).parent / "locales"
LANGUAGES = ("zh-Hans", "zh-Hant", "en")
DEFAULT_LANGUAGE = "zh-Hans"
# Each language named in itself: the switch must be readable whatever the page's language.
ENDONYMS = {"zh-Hans": "简体中文", "zh-Hant": "繁體中文", "en": "English"}
LANG_COOKIE = "cityhub_lang"

# Chinese tags that mean traditional characters when no script is given.
_HANT_REGIONS = {"tw", "hk", "mo"}


class Named(Protocol):
    """Anything with a name per language (cities, categories, services)."""

    name_zh_hans: str
    name_zh_hant: str
    name_en: str


def locale_of(lang: str) -> str:
    """The Babel locale identifier of one of our languages (`zh-Hans` -> `zh_Hans`)."""
    return lang.replace("-", "_")


@cache
def translations(lang: str) -> Translations:
    """The compiled catalogue of a language, read from its .po file once per process."""
    with (LOCALES / f"{lang}.po").open("rb") as po:
        catalog = read_po(po, locale=locale_of(lang), domain="messages")
    compiled = io.BytesIO()
    write_mo(compiled, catalog, use_fuzzy=False)  # a fuzzy entry is a guess: show the msgid
    compiled.seek(0)
    return Translations(fp=compiled, domain="messages")


def match(tag: str) -> str | None:
    """Our language for one BCP 47 tag (`zh-TW` -> `zh-Hant`), or None."""
    parts = tag.strip().lower().replace("_", "-").split("-")
    if parts[0] == "en":
        return "en"
    if parts[0] != "zh":
        return None
    rest = set(parts[1:])
    if "hant" in rest or (rest & _HANT_REGIONS and "hans" not in rest):
        return "zh-Hant"
    return "zh-Hans"


def from_accept_language(header: str) -> str | None:
    """The best of our languages an Accept-Language header asks for, or None."""
    ranked: list[tuple[float, int, str]] = []
    for position, item in enumerate(header.split(",")):
        tag, _, params = item.partition(";")
        quality = 1.0
        for param in params.split(";"):
            key, _, value = param.strip().partition("=")
            if key == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        if quality > 0 and tag.strip():
            ranked.append((-quality, position, tag))
    for _quality, _position, tag in sorted(ranked):
        found = match(tag)
        if found:
            return found
    return None


def choose(*, cookie: str | None, accept_language: str | None) -> str:
    """A request's language: the remembered choice, else what the browser asks for."""
    if cookie in LANGUAGES:
        return cookie
    return from_accept_language(accept_language or "") or DEFAULT_LANGUAGE


def name_in(thing: Named, lang: str) -> str:
    """The name of a city, category or service in the language."""
    if lang == "zh-Hant":
        return thing.name_zh_hant
    if lang == "en":
        return thing.name_en
    return thing.name_zh_hans
