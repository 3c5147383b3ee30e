"""Reading a page for text of another language than its own: Han characters on an English
page, English words on a Chinese one, traditional characters on a zh-Hans page and simplified
ones on a zh-Hant page.

Text marked with another `lang` (the language switch, a provider's Chinese name on an English
page) is that language's, and code (`<code>`, `translate="no"`) is nobody's. On Chinese pages
a run of letters and digits with a digit in it (an id, a plate, a time) and the names in
`LATIN_ALLOWED` (brands, units, acronyms) are no English.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

from cityhub.web.i18n import SIMPLIFIED_ONLY, TRADITIONAL_ONLY

HAN = re.compile(r"[\u3400-\u9fff]")
TOKEN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._%'-]*")
LATIN_ALLOWED = {"CityHub", "API", "App", "QR", "PM", "AQI", "SMS", "CSV", "JSON", "CNY", "ID"}
READ_ATTRIBUTES = ("aria-label", "placeholder", "alt", "title")
VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source",
        "track", "wbr"}  # fmt: skip
NOBODYS = {"script", "style", "code", "kbd", "samp"}


class _Reader(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[tuple[str, str | None, bool]] = []  # tag, lang, nobody's
        self.texts: list[tuple[str, str]] = []  # (language, text)

    def _lang(self) -> str:
        return next((lang for _t, lang, _n in reversed(self.stack) if lang), "")

    def _nobodys(self) -> bool:
        return any(n for _t, _l, n in self.stack)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        nobody = tag in NOBODYS or a.get("translate") == "no"
        if tag not in VOID:
            self.stack.append((tag, a.get("lang") or None, nobody))
        lang = a.get("lang") or self._lang()
        if not (nobody or self._nobodys()):
            self.texts += [(lang, a[name]) for name in READ_ATTRIBUTES if a.get(name)]

    def handle_endtag(self, tag: str) -> None:
        while self.stack:
            if self.stack.pop()[0] == tag:
                break

    def handle_data(self, data: str) -> None:
        if data.strip() and not self._nobodys():
            self.texts.append((self._lang(), data.strip()))


def foreign(html: str) -> list[str]:
    """What on the page is not in the page's language (empty: nothing)."""
    reader = _Reader()
    reader.feed(html)
    found = []
    for lang, text in reader.texts:
        if lang == "en" and HAN.search(text):
            found.append(f"Han on an English page: {text!r}")
        elif lang in ("zh-Hans", "zh-Hant"):
            words = [
                t for t in TOKEN.findall(text)
                if not any(c.isdigit() for c in t) and len(t) > 1 and t not in LATIN_ALLOWED
            ]  # fmt: skip
            if words:
                found.append(f"English on a {lang} page: {words} in {text!r}")
            other = TRADITIONAL_ONLY if lang == "zh-Hans" else SIMPLIFIED_ONLY
            mixed = sorted(other.intersection(text))
            if mixed:
                found.append(f"the other script on a {lang} page: {mixed} in {text!r}")
    return found
