"""Part and advance payments typed on the portal: where the biller's terms take them, a bill's
Pay form has an amount in yuan (prefilled with what remains, its bounds said under it); the
amount is checked by the terms the API uses, a refusal is said on the form with the amount
kept and nothing written, and an exact-amount bill has no field. In three languages."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from cityhub.billing import terms
from cityhub.billing.enums import AmountRule
from cityhub.billing.models import Bill, Payment, PaymentStatus
from cityhub.platform.config import Settings
from cityhub.platform.db import Database
from cityhub.platform.money import parse_major, plain_major
from cityhub.simulators import RunningServer
from cityhub.web.i18n import LANGUAGES
from tests.browser.world import WebWorld, web_world, with_gas
from tests.outbox_helpers import drain
from tests.simulators.fixtures import Sim, connector_settings, sim, simulator
from tests.web.browser import Browser, Form, Page
from tests.web.helpers import problem_of, signed_in
from tests.web.languages import foreign

__all__ = ["sim", "simulator"]
PARTIAL = terms.Terms(amount_rule=AmountRule.PARTIAL, min_fen=1_000, multiple_fen=100)
ADVANCE = terms.Terms(
    amount_rule=AmountRule.ADVANCE, min_fen=1_000, multiple_fen=100, max_fen=500_000
)
# The hint under the field and the refusal's sentence, as each language says them.
WHOLE_YUAN = {"zh-Hans": "须为整元", "zh-Hant": "須為整元", "en": "in whole yuan"}
TOO_MUCH = {
    "zh-Hans": "这个金额超过了这张账单目前可缴的金额",
    "zh-Hant": "這個金額超過了這張帳單目前可繳的金額",
    "en": "This amount is more than the bill can take now",
}


@pytest.fixture
def settings(settings: Settings, simulator: RunningServer) -> Settings:
    return connector_settings(settings, simulator.url)


@pytest.fixture
async def world(db: Database, sim: Sim) -> WebWorld:
    return await web_world(db, sim)


async def _terms(db: Database, world: WebWorld, service: str, these: terms.Terms) -> None:
    async with db.unit_of_work() as session:
        await terms.save(
            session=session,
            city_id=world.city.id,
            service_id=world.services[service].id,
            terms=these,
        )


async def _bill_form(browser: Browser, service: str, account: str, bill_id: str) -> Form:
    page = await browser.get(f"/c/webtown/pay/{service}?account={account}")
    return _form_of(page, bill_id)


def _form_of(page: Page, bill_id: str) -> Form:
    return next(f for f in page.forms if f.fields.get("bill_id") == bill_id)


async def _pay(browser: Browser, db: Database, settings: Settings, form: Form, amount: str) -> str:
    """Quote the typed amount, pay it with the demo wallet, the biller answers: the payment."""
    quoted = await browser.post(form.action, data={**form.fields, "amount": amount}, expect=303)
    payment_url: str = quoted.response.headers["location"]
    page = await browser.get(payment_url)
    await browser.post(payment_url + "/pay", data=page.form(payment_url + "/pay").fields)
    await drain(db, settings)
    return payment_url.rsplit("/", 1)[-1]


async def _payment(db: Database, public_id: str) -> Payment:
    async with db.unit_of_work() as session:
        found = await session.scalar(select(Payment).where(Payment.public_id == public_id))
    assert found is not None
    return found


async def _written(db: Database, bill_id: str) -> tuple[int, int]:
    """The payments of the bill and what its shared quotes hold."""
    async with db.unit_of_work() as session:
        bill = await session.scalar(select(Bill).where(Bill.bill_ref == bill_id))
        assert bill is not None
        count = await session.scalar(
            select(func.count()).select_from(Payment).where(Payment.bill_id == bill.id)
        )
    return int(count or 0), bill.reserved_fen


async def test_a_part_amount_paid_leaves_the_bill_partially_paid_with_what_remains(
    browser: Browser, sim: Sim, world: WebWorld, db: Database, settings: Settings
) -> None:
    await _terms(db, world, "power", PARTIAL)
    bill = world.unpaid("power")
    await signed_in(browser, sim, world.phones[0])
    for lang in LANGUAGES:
        browser.client.cookies.set("cityhub_lang", lang)
        page = await browser.get(f"/c/webtown/pay/power?account={bill.account}")
        assert foreign(page.response.text) == [] and WHOLE_YUAN[lang] in page.text
    form = _form_of(page, bill.bill_id)
    assert form.fields["amount"] == plain_major(bill.amount_fen) and "amount_fen" not in form.fields

    payment = await _payment(db, await _pay(browser, db, settings, form, "10"))

    assert payment.amount_fen == 1_000 and payment.status == PaymentStatus.COMPLETED
    after = await browser.get(f"/c/webtown/pay/power?account={bill.account}")
    item = after.response.text.split(f'value="{bill.bill_id}"')[0].rsplit('data-testid="bill"')[-1]
    assert 'data-status="partially_paid"' in item
    remaining = bill.amount_fen - 1_000
    assert _form_of(after, bill.bill_id).fields["amount"] == plain_major(remaining)
    # What remains, odd fen and all, may be paid in full: the bill is paid.
    rest = await _payment(db, await _pay(browser, db, settings, _form_of(after, bill.bill_id),
                                         plain_major(remaining)))  # fmt: skip
    assert rest.amount_fen == remaining and rest.status == PaymentStatus.COMPLETED
    paid = await browser.get(f"/c/webtown/pay/power?account={bill.account}")
    assert not any(f.fields.get("bill_id") == bill.bill_id for f in paid.forms)  # nothing to pay


async def test_an_exact_amount_bill_has_no_amount_field(
    browser: Browser, sim: Sim, world: WebWorld
) -> None:
    bill = world.unpaid("water")  # the water company takes the exact amount
    await signed_in(browser, sim, world.phones[0])
    form = await _bill_form(browser, "water", bill.account, bill.bill_id)
    assert "amount" not in form.fields and form.fields["amount_fen"] == str(bill.amount_fen)


@pytest.mark.parametrize(
    ("typed", "status", "code"),
    [
        ("10.50", 422, "amount_not_multiple"),
        ("5", 422, "amount_below_minimum"),
        ("ten", 422, "invalid_parameter"),
        ("10.005", 422, "invalid_parameter"),
        ("-10", 422, "invalid_parameter"),
    ],
)
async def test_an_amount_the_terms_refuse_is_said_on_the_form_and_nothing_is_written(
    browser: Browser, sim: Sim, world: WebWorld, db: Database, typed: str, status: int, code: str
) -> None:
    await _terms(db, world, "power", PARTIAL)
    bill = world.unpaid("power")
    await signed_in(browser, sim, world.phones[0])
    form = await _bill_form(browser, "power", bill.account, bill.bill_id)

    refused = await browser.post(form.action, data={**form.fields, "amount": typed}, expect=status)

    assert problem_of(refused) == code
    kept = _form_of(refused, bill.bill_id)
    assert kept.fields["amount"] == typed and kept.fields["account"] == bill.account
    assert 'aria-invalid="true"' in refused.response.text
    assert await _written(db, bill.bill_id) == (0, 0)


async def test_an_amount_over_what_remains_is_refused_in_each_language(
    browser: Browser, sim: Sim, world: WebWorld, db: Database
) -> None:
    await _terms(db, world, "power", PARTIAL)
    bill = world.unpaid("power")
    counter = {"payment_id": "counter-1", "account": bill.account, "bill_id": bill.bill_id,
               "amount_fen": 1_000}  # fmt: skip
    sim.control.post("/power/sh-power/payments", json=counter).raise_for_status()
    await signed_in(browser, sim, world.phones[0])
    remaining = bill.amount_fen - 1_000
    over = plain_major((remaining // 100 + 1) * 100)  # whole yuan, still within the bill
    above_bill = plain_major((bill.amount_fen // 100 + 1) * 100)
    for lang in LANGUAGES:
        browser.client.cookies.set("cityhub_lang", lang)
        form = await _bill_form(browser, "power", bill.account, bill.bill_id)
        assert form.fields["amount"] == plain_major(remaining)
        for typed, status, code in ((over, 409, "bill_amount_exceeded"),
                                    (above_bill, 422, "amount_above_bill")):  # fmt: skip
            data = {**form.fields, "amount": typed}
            refused = await browser.post(form.action, data=data, expect=status)
            assert problem_of(refused) == code and TOO_MUCH[lang] in refused.text
            assert foreign(refused.response.text) == []
            assert _form_of(refused, bill.bill_id).fields["amount"] == typed
    assert await _written(db, bill.bill_id) == (0, 0)


async def test_an_advance_above_the_gas_bill_is_taken_up_to_its_maximum(
    browser: Browser, sim: Sim, world: WebWorld, db: Database, settings: Settings
) -> None:
    await with_gas(db, world)
    await _terms(db, world, "gas", ADVANCE)
    bill = world.unpaid("gas")
    await signed_in(browser, sim, world.phones[0])
    form = await _bill_form(browser, "gas", bill.account, bill.bill_id)
    assert form.fields["amount"] == plain_major(bill.amount_fen)
    # Above the most all its payments may add up to (the gas company's 5,000 yuan): refused.
    too_much = await browser.post(form.action, data={**form.fields, "amount": "5001"},
                                  expect=422)  # fmt: skip
    assert problem_of(too_much) == "amount_above_maximum"
    assert await _written(db, bill.bill_id) == (0, 0)

    ahead = 500_000  # the most it takes: far above the bill
    payment = await _payment(db, await _pay(browser, db, settings, form, plain_major(ahead)))

    assert payment.amount_fen == ahead > bill.amount_fen
    assert payment.status == PaymentStatus.COMPLETED
    async with db.unit_of_work() as session:
        kept = await session.scalar(select(Bill).where(Bill.bill_ref == bill.bill_id))
    assert kept is not None and kept.paid_fen == ahead


def test_yuan_are_read_as_fen_exactly() -> None:
    assert [parse_major(t) for t in ("12", "12.5", "12.50", " 1,200.00 ", ".05", "0.10")] == [
        1_200, 1_250, 1_250, 120_000, 5, 10,
    ]  # fmt: skip
    for wrong in ("", "0", "0.00", "-1", "1.234", "1e3", "abc", "12.", "１２", "1 2", "+5"):
        with pytest.raises(ValueError):
            parse_major(wrong)
