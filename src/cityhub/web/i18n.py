"""Languages of the pages: the catalogues (compiled from the .po files in memory at import)
and the choice of a request's language (cookie, then Accept-Language, then zh-Hans).

The .po files in `locales/` are the only source: there is no build step and no .mo file. To
add a string, write it in a template with `_()` or `{% trans %}`, then add it to every .po file
(tests/web/test_i18n.py lists what is missing or stale); for a large change, pybabel can do the
bookkeeping (see babel.cfg beside this file).
"""

from __future__ import annotations

import io
import re
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

# Characters that only one of the two Chinese scripts writes (those of the pages, their content
# and the demo's data): they tell a zh-Hans text from a zh-Hant one, to mark a provider's text
# in the other script (`lang`) and for the tests that read every page in each language.
SIMPLIFIED_ONLY = frozenset(
    "与两个临为书于产仅们价会传关内写决况净则刚删别办务动区医单参发变号吗启员围国处备复够实审对导将届并库应开弃张当录径态总户执报拟择挂换据摇数断无时显暂机权条来构标"
    "栏检欢毕没满点状环现电码确种积称笔筛签类紧约级纬纳纸线终经结给统继续缓编缴网职联营补见览计认记设证评诉诊试询该详语误说请诺读调负责败账费资车转轮辆输边达过运还这"
    "进连迟选钟钥钱链错门闭问间队陆页项顺须预频题额驶验气质罚违疗药驾险养东灯业厅园馆图画广场岛汉苏厦华庆宁乐长镇县乡杂讯寻络简汇"
)
TRADITIONAL_ONLY = frozenset(
    "與兩個臨為書於產僅們價會傳關內寫決況淨則剛刪別辦務動區醫單參發變號嗎啟員圍國處備復夠實審對導將屆並庫應開棄張當錄徑態總戶執報擬擇掛換據搖數斷無時顯暫機權條來構標"
    "欄檢歡畢沒滿點狀環現電碼確種積稱筆篩籤類緊約級緯納紙線終經結給統繼續緩編繳網職聯營補見覽計認記設證評訴診試詢該詳語誤說請諾讀調負責敗帳費資車轉輪輛輸邊達過運還這"
    "進連遲選鐘鑰錢鏈錯門閉問間隊陸頁項順須預頻題額駛驗氣質罰違療藥駕險養東燈業廳園館圖畫廣場島漢蘇廈華慶寧樂長鎮縣鄉雜訊尋絡簡匯係併複賬簽"
)

HAN = re.compile(r"[\u3400-\u9fff]")
LATIN_WORD = re.compile(r"[A-Za-z]{3,}")

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


def language_of(value: str, lang: str) -> str | None:
    """The language to mark a provider's text with, when it is not the page's (an
    employer's name in simplified characters on a zh-Hant page is `zh-Hans`)."""
    if lang == "en":
        return "zh" if HAN.search(value) else None
    if not HAN.search(value):
        return "en" if LATIN_WORD.search(value) else None
    if lang == "zh-Hant" and not SIMPLIFIED_ONLY.isdisjoint(value):
        return "zh-Hans"
    if lang == "zh-Hans" and not TRADITIONAL_ONLY.isdisjoint(value):
        return "zh-Hant"
    return None
