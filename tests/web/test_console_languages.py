"""Every console page, in each language, shows no stored value as it is stored (`completed`,
`accepting`, `payment.confirmed`, `channel:4:receivable`) and no text of another language.

The pages are found by following the console's own links from the city's page, after a
payment, a notice and a lottery round give them something to show. Identifiers the console
shows on purpose (payment numbers, codes, job names) are set in `.mono` or `<code>` and are
left out of the check.
"""

from __future__ import annotations

import hashlib
import re
from html.parser import HTMLParser
from urllib.parse import urlsplit

import pytest
from babel.messages.pofile import read_po

from cityhub.billing.enums import PaymentStatus
from cityhub.complaints.enums import ComplaintStatus, ComplaintType
from cityhub.identity import audit
from cityhub.lottery.enums import RoundStatus
from cityhub.platform.config import Settings
from cityhub.platform.db import Database
from cityhub.requests.enums import RequestStatus
from cityhub.simulators import RunningServer
from cityhub.web import i18n, pages
from tests.browser.world import PORTAL_NAMES, WebWorld, web_world
from tests.identity.factories import PASSWORD
from tests.outbox_helpers import drain
from tests.simulators.fixtures import Sim, connector_settings, sim, simulator
from tests.web.browser import Browser
from tests.web.helpers import follow, quote, signed_in

__all__ = ["sim", "simulator"]
CITY = "/console/c/webtown"
MAX_PAGES = 80
RAW = {
    *PaymentStatus, *RoundStatus, *RequestStatus, *ComplaintStatus, *ComplaintType,
    "upcoming", "accepting", "awaiting_close", "fanning", "sent", "refund", "settlement",
    "payment.confirmed", "payment.completed", "payment.failed", "matched", "missing_at_hub",
    "missing_at_biller", "missing_at_channel", "amount_mismatch", "statement_unavailable",
    "biller", "channel", "inbox", "sms", "email", "water", "power", "water-bill",
    *audit.ACTIONS,
}  # fmt: skip
CODES = re.compile(r"\b(?:channel|biller):\d+(?::\w+)?\b|\bhub:(?:fees|settlement)\b")
# Four English words in a row (a snake_case column name is an identifier, not a word).
ENGLISH = re.compile(r"(?<!\w)[A-Za-z]+(?:[ ,']+[A-Za-z]+){3,}(?!\w)")
CJK = re.compile(r"[\u4e00-\u9fff]")
VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source",
        "track", "wbr"}  # fmt: skip


class Reading(HTMLParser):
    """What a person reads in the page's body, less the identifiers shown on purpose; and the
    console's links."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.texts: list[str] = []
        self.links: list[str] = []
        self._skip: list[bool] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "a" and a.get("href", "").startswith(CITY):
            self.links.append(a["href"])
        if tag in VOID:
            return
        quiet = tag in {"code", "script", "style", "title", "pre"} or "mono" in a.get("class", "")
        self._skip.append(quiet or bool(self._skip and self._skip[-1]))

    def handle_endtag(self, tag: str) -> None:
        if tag not in VOID and self._skip:
            self._skip.pop()

    def handle_data(self, data: str) -> None:
        if data.strip() and not (self._skip and self._skip[-1]):
            self.texts.append(" ".join(data.split()))


def catalogue(lang: str) -> dict[str, str]:
    """msgid -> what the language shows for it (the msgid itself in English)."""
    with (i18n.LOCALES / f"{lang}.po").open("rb") as po:
        found = read_po(po, locale=i18n.locale_of(lang))
    shown: dict[str, str] = {}
    for m in found:
        if m.id:
            one = m.id if isinstance(m.id, str) else m.id[0]
            string = m.string if isinstance(m.string, str) else m.string[0]
            shown[one] = string or one
    return shown


def foreign(lang: str) -> set[str]:
    """Long enough pieces of the other languages' strings that this language writes
    otherwise (a piece found on the page is a string left untranslated)."""
    mine = catalogue(lang)
    pieces: set[str] = set()
    for other in i18n.LANGUAGES:
        if other == lang:
            continue
        for msgid, text in catalogue(other).items():
            if text == mine.get(msgid):
                continue
            for piece in re.split(r"%\(\w+\)[sd]", text):
                piece = piece.strip(" .,:;，。：；（）()")
                wide = len(piece) >= 4 if CJK.search(piece) else len(piece.split()) >= 3
                if wide and piece not in " ".join(mine.values()):
                    pieces.add(piece)
    return pieces


@pytest.fixture
def settings(settings: Settings, simulator: RunningServer) -> Settings:
    return connector_settings(settings, simulator.url)


async def busy_world(browser: Browser, db: Database, sim: Sim, settings: Settings) -> WebWorld:
    """A city with a payment and a complaint about it, a notice sent to a follower and an open
    lottery round."""
    world = await web_world(db, sim)
    await signed_in(browser, sim, world.phones[0])
    await follow(browser)
    payment_url = await quote(browser, world)
    page = await browser.get(payment_url)
    await browser.post(payment_url + "/pay", data=page.form(payment_url + "/pay").fields)
    await drain(db, settings)
    new = f"/c/webtown/complaints/new?payment={payment_url.rsplit('/', 1)[1]}"
    form = (await browser.get(new)).form("/c/webtown/complaints/new").fields
    await browser.post("/c/webtown/complaints/new",
                       data={**form, "type": "wrong_amount", "description": "A3"})  # fmt: skip
    browser.client.cookies.clear()
    await browser.sign_in(world.admin.username, PASSWORD)
    # The complaint's notices made the city's own account: two to choose from now.
    compose = await browser.get(f"{CITY}/notices/new", params={"account": "water-co"})
    form = compose.form(f"{CITY}/notices/preview").fields
    form.pop("urgent")
    shown = await browser.post(
        f"{CITY}/notices/preview", data={**form, "v_district": "浦东", "v_hours": "4"}, expect=200
    )
    await browser.post(f"{CITY}/notices/send", data=shown.form(f"{CITY}/notices/send").fields)
    lotteries = await browser.get(f"{CITY}/lotteries")
    await browser.post(
        f"{CITY}/lotteries",
        data={
            **lotteries.form(f"{CITY}/lotteries").fields,
            "service": "car-plates",
            "code": "plates-dec",
            "kind": "car-plate",
            "title": "十二月车牌",
            "opens_at": "2026-01-01T09:00",
            "closes_at": "2036-01-01T09:00",
            "quota": "3",
            "commitment": hashlib.sha256(b"s").hexdigest(),
        },
    )
    await drain(db, settings)
    return world


async def test_every_console_page_in_each_language_shows_no_raw_value_nor_another_language(
    browser: Browser, db: Database, sim: Sim, settings: Settings
) -> None:
    world = await busy_world(browser, db, sim, settings)
    browser.client.cookies.clear()
    await browser.sign_in(world.admin.username, PASSWORD)
    problems: list[str] = []
    seen: set[str] = set()
    for lang in i18n.LANGUAGES:
        browser.client.cookies.set(i18n.LANG_COOKIE, lang)
        strange = foreign(lang)
        queue, visited = ["/console/", CITY], set()
        while queue and len(visited) < MAX_PAGES:
            url = queue.pop(0)
            path = urlsplit(url).path
            if url in visited or path.endswith(".csv"):
                continue
            visited.add(url)
            page = await browser.get(url)
            assert page.lang == lang, url
            reading = Reading()
            reading.feed(page.response.text)
            queue += [link for link in reading.links if link not in visited]
            text = " | ".join(reading.texts)
            problems += [f"{lang} {url}: raw {t!r}" for t in reading.texts if t in RAW]
            problems += [f"{lang} {url}: code {c!r}" for c in CODES.findall(text)]
            problems += [f"{lang} {url}: foreign {p!r}" for p in strange if p in text]
            if lang != "en":
                problems += [f"{lang} {url}: English {e!r}" for e in ENGLISH.findall(text)]
        seen |= {urlsplit(u).path for u in visited}
        # The channels by their names in the reader's language (the portal's grants).
        city = (await browser.get(CITY)).text
        problems += [f"{lang} {CITY}: no {PORTAL_NAMES[lang]!r}"] * (PORTAL_NAMES[lang] not in city)
        problems += [
            f"{lang} {CITY}: {n!r}" for o, n in PORTAL_NAMES.items() if o != lang and n in city
        ]
        log = await browser.get(f"{CITY}/audit")
        assert 'class="mono muted">notice.send<' in log.response.text  # an action it labels
    assert not problems, "\n".join(problems)
    # The walk reached the pages worth checking (each section, and a payment and a notice).
    for section in ("overview", "payments", "notices", "settlement", "lotteries", "jobs", "audit",
                    "complaints"):  # fmt: skip
        assert f"{CITY}/{section}" in seen
    assert any(p.startswith(f"{CITY}/payments/pay_") for p in seen)
    assert any(p.startswith(f"{CITY}/complaints/cmp_") for p in seen)
    assert any(p.startswith(f"{CITY}/notices/") and p.count("/") == 5 for p in seen)


@pytest.mark.parametrize("lang", i18n.LANGUAGES)
def test_every_audit_action_has_a_label_in_each_language(lang: str) -> None:
    labels = pages.environment(lang).get_template("console/_labels.html").module
    shown = {action: str(labels.audit_action(action)).strip() for action in audit.ACTIONS}  # type: ignore[attr-defined]
    assert [a for a, text in shown.items() if text == a] == []
    assert len(set(shown.values())) == len(shown)  # no two actions read the same
    if lang != "en":
        assert [t for t in shown.values() if not CJK.search(t)] == []


async def test_the_log_refuses_an_action_it_cannot_name(db: Database) -> None:
    async with db.unit_of_work() as session:
        with pytest.raises(ValueError, match="unknown audit action"):
            await audit.append(
                session=session, actor=audit.Actor.system(), action="thing.frobnicate",
                object_type="thing", object_id=1,
            )  # fmt: skip
