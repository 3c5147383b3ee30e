"""The receipt on the portal: a paid bill's page shows when it was paid (in the city's time),
its receipt number and the QR code of its verification link; "my payments" shows each
payment's date and time; the PDF is the resident's own; the verification page tells a genuine
receipt from a forged one."""

from __future__ import annotations

import re
from html import unescape

import pytest

from cityhub.platform.config import Settings
from cityhub.platform.db import Database
from cityhub.simulators import RunningServer
from tests.billing.test_receipts import with_fields
from tests.browser.world import WebWorld, web_world
from tests.outbox_helpers import drain
from tests.simulators.fixtures import Sim, connector_settings, sim, simulator
from tests.web.browser import Browser
from tests.web.helpers import quote, signed_in

__all__ = ["sim", "simulator"]
TOKEN = re.compile(r"/receipts/verify\?t=([A-Za-z0-9_\-.%]+)")


@pytest.fixture
def settings(settings: Settings, simulator: RunningServer) -> Settings:
    return connector_settings(settings, simulator.url)


@pytest.fixture
async def world(db: Database, sim: Sim) -> WebWorld:
    return await web_world(db, sim)


async def test_a_paid_bill_has_its_time_and_a_receipt_that_verifies(
    browser: Browser, sim: Sim, world: WebWorld, db: Database, settings: Settings
) -> None:
    await signed_in(browser, sim, world.phones[0])
    payment_url = await quote(browser, world)
    quoted = await browser.get(payment_url)
    assert 'data-testid="paid-at"' not in quoted.response.text  # not paid yet
    await browser.post(payment_url + "/pay", data=quoted.form(payment_url + "/pay").fields)
    await drain(db, settings)
    paid = await browser.get(payment_url)
    assert 'data-testid="paid-at"' in paid.response.text and "缴费时间" in paid.text
    number = re.search(r'data-testid="receipt-number">(RC[0-9A-F-]+)<', paid.response.text)
    assert (
        number and 'data-testid="receipt-qr"' in paid.response.text and "<svg" in paid.response.text
    )
    mine = await browser.get("/c/webtown/payments")
    assert 'data-testid="payment-time"' in mine.response.text
    assert re.search(r"\d{4}年\d{1,2}月\d{1,2}日 \d{2}:\d{2}:\d{2}", mine.text), mine.text

    pdf = await browser.client.get(payment_url + "/receipt.pdf")
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF-")

    # The QR code's link (also a link on the page): nobody needs to be signed in to check it.
    found = TOKEN.search(unescape(paid.response.text))
    assert found and 'href="/receipts/verify?t=' in paid.response.text
    token = found.group(1)
    browser.client.cookies.clear()
    genuine = await browser.get(f"/receipts/verify?t={token}")
    assert 'data-valid="true"' in genuine.response.text and number.group(1) in genuine.text
    forged = await browser.get(f"/receipts/verify?t={with_fields(token, amount_fen=1)}", expect=400)
    assert 'data-valid="false"' in forged.response.text and "回执无效" in forged.text
    await browser.get("/receipts/verify?t=nonsense", expect=400)

    # Another resident gets no PDF of it.
    await signed_in(browser, sim, world.phones[1])
    assert (await browser.client.get(payment_url + "/receipt.pdf")).status_code == 404
