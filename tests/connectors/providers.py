"""Throwaway providers for the generic connector: small HTTP APIs unlike the simulators',
served on 127.0.0.1 by the test that needs them."""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

API_KEY = "k-pudong-123"
HMAC_KEY_ID = "cityhub-sh"
HMAC_SECRET = "s3cret-for-signing"
INVOICES = [
    {
        "invoice_no": "INV-2025-10",
        "month": "2025-10",
        "amount": "123.45",
        "due": "2025-11-20",
        "state": "UNPAID",
    },
    {
        "invoice_no": "INV-2025-09",
        "month": "2025-09",
        "amount": 98,
        "due": "2025-10-20",
        "state": "PAID",
    },
]


@dataclass
class Seen:
    """What the provider received."""

    requests: list[dict[str, Any]] = field(default_factory=list)


def water_api(*, auth: str = "api_key") -> tuple[FastAPI, Seen]:
    """A water company whose API speaks yuan, nests its data, and checks credentials
    (`auth`: api_key, hmac or none)."""
    app = FastAPI()
    seen = Seen()

    @app.middleware("http")
    async def check(request: Request, call_next: Any) -> Response:
        body = await request.body()
        seen.requests.append(
            {
                "method": request.method,
                "path": request.url.path,
                "headers": dict(request.headers),
                "body": body,
            }
        )
        if auth == "api_key" and request.headers.get("x-api-key") != API_KEY:
            return JSONResponse({"message": "bad key"}, status_code=401)
        if auth == "hmac" and not _signed(request, body):
            return JSONResponse({"message": "bad signature"}, status_code=401)
        answer: Response = await call_next(request)
        return answer

    @app.get("/api/v2/customers/{account}/invoices")
    async def invoices(account: str) -> Any:
        if account == "huge":
            return Response(
                json.dumps({"data": {"invoices": ["x" * 1000] * 3000}}),
                media_type="application/json",
            )
        if account == "garbled":
            return Response("<html>maintenance</html>", media_type="text/html")
        if account == "deep":  # nested past any parser's recursion
            return Response("[" * 100_000, media_type="application/json")
        if account == "odd":
            return {"code": 0, "data": {"invoices": [{**INVOICES[0], "amount": "1.234"}]}}
        if account == "strange":
            return {"code": 0, "data": {"invoices": [{**INVOICES[0], "state": "HALF_PAID"}]}}
        if account != "1001":
            return JSONResponse({"message": "no such customer"}, status_code=404)
        return {"code": 0, "data": {"customer": account, "invoices": INVOICES}}

    @app.post("/api/v2/payments")
    async def pay(request: Request) -> Any:
        body = await request.json()
        return {"code": 0, "data": {"txn": f"T-{body['reference']}", "amount": body["amount"]}}

    return app, seen


def _signed(request: Request, body: bytes) -> bool:
    # Checked independently of the hub's code, as the provider would.
    stamp = request.headers.get("x-cityhub-timestamp", "")
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    message = f"{stamp}\n{request.method}\n{target}\n".encode() + body
    expected = hmac.new(HMAC_SECRET.encode(), message, hashlib.sha256).hexdigest()
    return request.headers.get("x-cityhub-key-id") == HMAC_KEY_ID and hmac.compare_digest(
        expected, request.headers.get("x-cityhub-signature", "")
    )


def water_definition(base_url: str, **changes: Any) -> dict[str, Any]:
    """The description of `water_api`, as a city would write it."""
    definition: dict[str, Any] = {
        "name": "pudong-water",
        "kind": "biller",
        "description": "Pudong water company, invoices API v2",
        "base_url": f"{base_url}/api/v2",
        "auth": {"type": "api_key", "header": "X-Api-Key", "key": {"value": API_KEY}},
        "operations": {
            "bills": {
                "method": "GET",
                "path": "/customers/{account}/invoices",
                "query": {"state": "all"},
                "response": {
                    "items": "data.invoices",
                    "fields": {
                        "bill_id": "invoice_no",
                        "period": "month",
                        "amount_fen": {"path": "amount", "unit": "yuan"},
                        "due_date": "due",
                        "status": {"path": "state", "values": {"UNPAID": "unpaid", "PAID": "paid"}},
                    },
                },
            },
            "pay": {
                "method": "POST",
                "path": "/payments",
                "idempotent": True,
                "body": {
                    "reference": "{payment_id}",
                    "customer": "{account}",
                    "invoice": "{bill_id}",
                    "amount": "{amount_yuan}",
                },
                "response": {"fields": {"provider_ref": "data.txn"}},
            },
        },
        "test": {"operation": "bills", "params": {"account": "1001"}},
    }
    definition.update(changes)
    return definition
