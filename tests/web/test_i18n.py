"""The catalogues: every string of the pages is translated, and languages are chosen right."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from cityhub.web import i18n

WEB = Path(i18n.__file__).parent
PLACEHOLDER = re.compile(r"%\(\w+\)[sd]")


def used_messages() -> set[str | tuple[str, str]]:
    """Every msgid the templates and the web code ask gettext for (as pybabel would)."""
    method_map = [("templates/**.html", "jinja2"), ("**.py", "python")]
    options = {
        "templates/**.html": {
            "extensions": "jinja2.ext.i18n",
            "newstyle_gettext": "true",
            "trim_blocks": "true",
            "lstrip_blocks": "true",
        }
    }
    found: set[str | tuple[str, str]] = set()
    for _file, _line, message, _comments, _context in extract_from_dir(
        str(WEB), method_map, options, keywords={"_": None, "gettext": None, "ngettext": (1, 2)}
    ):
        found.add(message if isinstance(message, str) else (message[0], message[1]))
    return found


def catalog(lang: str) -> Catalog:
    with (i18n.LOCALES / f"{lang}.po").open("rb") as po:
        return read_po(po, locale=i18n.locale_of(lang))


def test_the_pages_use_strings() -> None:
    assert "Choose your city" in used_messages()  # the extraction itself works


@pytest.mark.parametrize("lang", i18n.LANGUAGES)
def test_every_string_is_in_every_catalogue_and_nothing_stale(lang: str) -> None:
    used = used_messages()
    entries = {m.id if isinstance(m.id, str) else tuple(m.id) for m in catalog(lang) if m.id}
    assert sorted(map(str, used - entries)) == [], f"missing from {lang}.po"
    assert sorted(map(str, entries - used)) == [], f"no longer used, remove from {lang}.po"


@pytest.mark.parametrize("lang", ["zh-Hans", "zh-Hant"])
def test_chinese_catalogues_translate_everything_and_keep_placeholders(lang: str) -> None:
    for message in catalog(lang):
        if not message.id:
            continue
        ids = [message.id] if isinstance(message.id, str) else list(message.id)
        strings = [message.string] if isinstance(message.string, str) else list(message.string)
        assert all(strings) and not message.fuzzy, f"{lang}: {message.id!r} is not translated"
        wanted = set(PLACEHOLDER.findall(ids[0]))
        for string in strings:
            assert set(PLACEHOLDER.findall(string)) == wanted, f"{lang}: {message.id!r}"


def test_catalogues_compile_in_memory() -> None:
    assert i18n.translations("zh-Hans").gettext("Sign in") == "登录"
    assert i18n.translations("zh-Hant").gettext("Sign in") == "登入"
    assert i18n.translations("en").gettext("Sign in") == "Sign in"
    plural = i18n.translations("en").ngettext("%(num)d grant", "%(num)d grants", 2)
    assert plural == "%(num)d grants"


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("zh-CN", "zh-Hans"),
        ("zh", "zh-Hans"),
        ("zh-Hans-TW", "zh-Hans"),
        ("zh-HK", "zh-Hant"),
        ("zh_TW", "zh-Hant"),
        ("en-US,en;q=0.9", "en"),
        ("ja, en;q=0.1", "en"),
        ("*", None),
        ("fr;q=bad, de", None),
        ("", None),
    ],
)
def test_accept_language(header: str, expected: str | None) -> None:
    assert i18n.from_accept_language(header) == expected


def test_a_cookie_of_an_unknown_language_is_ignored() -> None:
    assert i18n.choose(cookie="xx", accept_language="zh-TW") == "zh-Hant"
    assert i18n.choose(cookie="en", accept_language="zh-TW") == "en"
    assert i18n.choose(cookie=None, accept_language=None) == "zh-Hans"
