"""Electronic receipts: one per completed payment, with its time in the city's time, the
biller, the masked account, the amounts, the channel and the biller's reference; a PDF; a
signed verification link that a forged receipt (an amount changed) fails."""

from __future__ import annotations

import base64
import datetime as dt
import json
from urllib.parse import parse_qs, urlsplit

from cityhub.billing import receipts
from cityhub.platform.config import Settings
from cityhub.platform.db import Database
from tests.billing.factories import pay_world
from tests.cities.factories import create_grant
from tests.client import Api
from tests.identity.factories import create_channel
from tests.outbox_helpers import drain
from tests.simulators.fixtures import Sim


def token_of(verify_url: str) -> str:
    return parse_qs(urlsplit(verify_url).query)["t"][0]


def with_fields(token: str, **changed: object) -> str:
    """The token with some signed fields changed and its signature kept: a forgery."""
    payload, _, mac = token.partition(".")
    fields = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    raw = json.dumps({**fields, **changed}, sort_keys=True, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode() + "." + mac


async def test_a_completed_payment_has_a_receipt_that_verifies_and_a_forgery_does_not(
    api: Api, db: Database, sim: Sim, settings: Settings
) -> None:
    world = await pay_world(db, api, sim)
    bill = world.unpaid("water")[0]
    payment = await world.pay(bill)
    url = world.url(f"/payments/{payment['id']}/receipt")
    early = await world.channel.get(url, expect=404)  # the biller has not accepted it yet
    assert early["code"] == "receipt_not_found"
    await drain(db, settings)
    done = await world.get(payment["id"])
    receipt = await world.channel.get(url)
    assert receipt["number"].startswith("RC") and receipt["payment_id"] == payment["id"]
    assert receipt["amount_fen"] == bill.amount_fen and receipt["currency"] == "CNY"
    assert receipt["provider_ref"] == done["provider_ref"] and receipt["channel"]
    assert receipt["biller"] == "water" and receipt["timezone"] == world.city.timezone
    assert bill.account not in json.dumps(receipt)  # masked
    assert (
        receipt["account_masked"].endswith(bill.account[-4:]) and "*" in receipt["account_masked"]
    )
    day = receipt["number"][2:10]  # RCyyyymmdd-...: the day in the city's time
    assert receipt["issued_at_local"][:10] == f"{day[:4]}-{day[4:6]}-{day[6:]}"

    pdf = await world.channel.client.get(receipt["pdf_url"], headers=world.channel.headers)
    assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
    assert pdf.content.startswith(b"%PDF-") and len(pdf.content) > 1000

    token = token_of(receipt["verify_url"])
    assert urlsplit(receipt["verify_url"]).path == receipts.VERIFY_PATH
    good = await api.get("/v1/receipts/verification", params={"token": token})
    assert good["valid"] is True and good["reason"] == "valid"
    assert good["receipt"]["amount_fen"] == bill.amount_fen

    forged = with_fields(token, amount_fen=bill.amount_fen * 10)
    bad = await api.get("/v1/receipts/verification", params={"token": forged})
    assert (bad["valid"], bad["reason"], bad["receipt"]) == (False, "forged", None)
    junk = await api.get("/v1/receipts/verification", params={"token": "not-a-receipt"})
    assert (junk["valid"], junk["reason"]) == (False, "malformed")
    other_key = settings.model_copy(update={"secret_key": "another-hub-" + "k" * 40})
    elsewhere = await api.get(
        "/v1/receipts/verification", params={"token": token_of(_resigned(other_key, receipt))}
    )
    assert elsewhere["reason"] == "forged"  # signed with another key


def _resigned(settings: Settings, read: dict[str, object]) -> str:
    """A verification link for the receipt's fields, signed under `settings`' key."""
    receipt = receipts.Receipt(
        number=str(read["number"]),
        city=str(read["city"]),
        payment_id=str(read["payment_id"]),
        issued_at=dt.datetime.fromisoformat(str(read["issued_at"])),
        timezone=str(read["timezone"]),
        biller_zh_hans="",
        biller_zh_hant="",
        biller_en="",
        service=str(read["biller"]),
        account_masked=str(read["account_masked"]),
        holder_masked=None,
        amount_fen=int(str(read["amount_fen"])),
        fee_fen=int(str(read["fee_fen"])),
        total_fen=int(str(read["total_fen"])),
        currency=str(read["currency"]),
        refunded_fen=0,
        channel="",
        provider_ref=str(read["provider_ref"]),
    )
    return receipts.verify_url(settings, receipt)


async def test_another_channel_gets_no_receipt_of_a_payment_not_its_own(
    api: Api, db: Database, sim: Sim, settings: Settings
) -> None:
    world = await pay_world(db, api, sim)
    login = await create_channel(db)
    await create_grant(db, channel=login.channel, service=world.services["power"])
    other = await api.as_channel(login.client_id, login.secret)
    payment = await world.pay(world.unpaid("power")[0])
    await drain(db, settings)
    url = world.url(f"/payments/{payment['id']}/receipt")
    assert (await other.get(url, expect=404))["code"] == "payment_not_found"
    await other.get(url + ".pdf", expect=404)
    await world.channel.get(url + ".pdf")


def test_an_account_is_masked_but_its_end_kept() -> None:
    assert receipts.mask_account("3101234567") == "31****4567"
    assert receipts.mask_account("A123") == "**23"
