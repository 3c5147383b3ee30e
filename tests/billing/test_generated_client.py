"""A channel's generated client works unmodified: `openapi-python-client` builds a Python
client from the committed openapi.json into a temporary folder, and it drives a hub served
over real HTTP through a payment (token, catalogue, bill look-up, quote, confirm), reads a 422
and a 409 as problems, and walks a paged list to its end."""

from __future__ import annotations

import importlib
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from cityhub.app import create_app
from cityhub.platform.config import Settings
from cityhub.simulators import serve_app_in_background
from tests.billing.factories import pay_world
from tests.client import Api
from tests.simulators.fixtures import Sim

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]
PACKAGE = "cityhub_client"


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ModuleType]:
    """The client generated from openapi.json, importable as `cityhub_client`."""
    folder = tmp_path_factory.mktemp("client")
    tool = Path(sys.executable).with_name("openapi-python-client")
    done = subprocess.run(
        [str(tool), "generate", "--path", str(ROOT / "openapi.json"), "--meta", "none",
         "--output-path", str(folder / PACKAGE)],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    # It knows no text/csv: the two CSV uploads are generated with their bytes body instead.
    skipped = [line for line in done.stdout.splitlines() if line.startswith("WARNING")]
    assert all("sessions.csv" in line or "statements" in line for line in skipped), done.stdout
    assert "will not be generated" not in done.stdout, done.stdout
    sys.path.insert(0, str(folder))
    try:
        yield importlib.import_module(PACKAGE)
    finally:
        sys.path.remove(str(folder))
        for name in [n for n in sys.modules if n == PACKAGE or n.startswith(PACKAGE + ".")]:
            del sys.modules[name]


@pytest.fixture
def hub(settings: Settings) -> Iterator[str]:
    running = serve_app_in_background(create_app(settings), port=0, lifespan="on")
    try:
        yield running.url
    finally:
        running.stop()


def part(name: str) -> Any:
    return importlib.import_module(f"{PACKAGE}.{name}")


async def test_a_generated_client_pays_a_bill_and_reads_problems(
    generated: ModuleType, hub: str, api: Api, db: Any, sim: Sim
) -> None:
    world = await pay_world(db, api, sim)
    city = world.city.slug
    models = part("models")
    token_op = part("api.identity.create_token")
    anonymous = generated.Client(base_url=hub)
    body = models.CreateTokenTokenRequest(
        grant_type=models.CreateTokenTokenRequestGrantType.CLIENT_CREDENTIALS,
        client_id=world.login.client_id,
        client_secret=world.login.secret,
    )
    token = await token_op.asyncio(client=anonymous, body=body)
    assert isinstance(token, models.TokenRead) and "payments:write" in token.scope
    body.client_secret = "wrong"
    refused = await token_op.asyncio_detailed(client=anonymous, body=body)
    assert refused.status_code == 401 and isinstance(refused.parsed, models.OAuthProblem)
    assert (refused.parsed.code, refused.parsed.error) == ("invalid_client", "invalid_client")

    client = generated.AuthenticatedClient(base_url=hub, token=token.access_token)
    services = await part("api.cities.list_services").asyncio(city=city, client=client)
    assert {"water", "power", "gas"} == {s.code for s in services.items}

    bills = world.unpaid("water", count=3)
    look_up = part("api.payments.look_up_bills")
    shown = await look_up.asyncio(city=city, code="water", client=client, account=bills[0].account)
    assert isinstance(shown, models.BillsRead)
    assert bills[0].bill_id in {b.bill_id for b in shown.bills}
    create = part("api.payments.create_payment")

    def quote(bill: Any, key: str, amount: int | None = None) -> Any:
        payment_in = models.PaymentCreate(
            service="water", bill_id=bill.bill_id, currency="CNY",
            amount_fen=bill.amount_fen if amount is None else amount,
        )  # fmt: skip
        return create.asyncio_detailed(
            city=city, client=client, body=payment_in, idempotency_key=key
        )

    quoted = (await quote(bills[0], "gen-1")).parsed
    assert isinstance(quoted, models.PaymentRead) and quoted.status == models.PaymentStatus.QUOTED
    confirm_in = models.PaymentConfirm(
        channel_txn_id="wx-gen-1", amount_fen=quoted.total_fen, currency=quoted.currency
    )
    confirmed = await part("api.payments.confirm_payment").asyncio(
        city=city, payment_id=quoted.id, client=client, body=confirm_in
    )
    assert isinstance(confirmed, models.PaymentRead)
    assert confirmed.status in (models.PaymentStatus.CONFIRMED, models.PaymentStatus.COMPLETED)

    invalid = await quote(bills[1], "gen-2", amount=0)
    assert invalid.status_code == 422 and isinstance(invalid.parsed, models.Problem)
    assert (invalid.parsed.code, invalid.parsed.field) == ("validation_failed", "amount_fen")
    assert invalid.parsed.errors[0].field == "amount_fen"
    again = await quote(bills[0], "gen-3")  # the bill is paid, or being paid
    assert again.status_code == 409 and isinstance(again.parsed, models.Problem)
    assert again.parsed.code in ("bill_already_paid", "bill_being_paid")

    for bill in bills[1:]:
        await look_up.asyncio(city=city, code="water", client=client, account=bill.account)
        assert (await quote(bill, f"gen-{bill.bill_id}")).status_code == 201
    listed, cursor, pages = [], None, 0
    list_payments = part("api.payments.list_payments")
    while True:
        page = await list_payments.asyncio(city=city, client=client, limit=2, cursor=cursor)
        assert isinstance(page, models.PaymentReadPage)
        listed += [p.id for p in page.items]
        pages += 1
        cursor = page.next_cursor
        if not isinstance(cursor, str):
            break
    assert pages == 2 and len(listed) == 3 == len(set(listed))
