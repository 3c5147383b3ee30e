"""Connectors to the provider simulators (`cityhub simulate`), by their own HTTP APIs.

Service configuration: connector `simulator:<kind>` (water, power, gas, traffic,
social-insurance, housing-fund, environment, outages, vehicle-admin, hospital,
population-registry) and
connector_config `{"provider_id": "..."}`, which names the provider inside the simulator.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, TypeVar

from pydantic import ValidationError

from cityhub.connectors.endpoint import Endpoint
from cityhub.connectors.transport import Answer, malformed
from cityhub.connectors.types import (
    Bill,
    Eligibility,
    IdentityCheck,
    PaymentOrder,
    PaymentReceipt,
    Record,
    Reversal,
    Statement,
    Subject,
)
from cityhub.platform.errors import Forbidden, Unprocessable

BILLER_KINDS = ("water", "power", "gas")
RECORD_KINDS = ("traffic", "social-insurance", "housing-fund", "environment", "outages")


def _ok(endpoint: Endpoint, answer: Answer) -> Any:
    if answer.status >= 400:
        raise endpoint.refusal(answer)
    return answer.body


class SimulatorBiller:
    """A simulated water, power or gas company."""

    def __init__(self, endpoint: Endpoint) -> None:
        self.endpoint = endpoint

    async def bills(self, *, account: str, fields: dict[str, str] | None = None) -> list[Bill]:
        answer = await self.endpoint.call("GET", f"/accounts/{account}/bills", params=fields)
        body = _ok(self.endpoint, answer)
        try:
            rows, holder = body["bills"], body.get("holder")  # the holder: once per account
            return [
                Bill.model_validate(
                    {"holder": holder, **row, "bill_id": row["id"], "account": account}
                )
                for row in rows
            ]
        except (TypeError, KeyError, ValidationError) as exc:
            raise malformed(self.endpoint.provider, str(exc)) from None

    async def pay(self, *, order: PaymentOrder) -> PaymentReceipt:
        answer = await self.endpoint.call("POST", "/payments", json_body=order.model_dump())
        return _parse(self.endpoint, PaymentReceipt, _ok(self.endpoint, answer))

    async def reverse(self, *, payment_id: str, reason: str) -> Reversal:
        answer = await self.endpoint.call(
            "POST", f"/payments/{payment_id}/reversal", json_body={"reason": reason}
        )
        return _parse(self.endpoint, Reversal, _ok(self.endpoint, answer))

    async def statement(self, *, day: dt.date) -> Statement:
        answer = await self.endpoint.call("GET", f"/statements/{day.isoformat()}")
        return _parse(self.endpoint, Statement, _ok(self.endpoint, answer))


M = TypeVar("M", PaymentReceipt, Reversal, Statement, Eligibility, IdentityCheck)


def _parse(endpoint: Endpoint, model: type[M], body: Any) -> M:
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        raise malformed(endpoint.provider, str(exc).splitlines()[0]) from None


def records_of(endpoint: Endpoint, body: Any, key: str | None) -> list[Record]:
    """The list of records in an answer (the answer itself when `key` is None)."""
    rows = body if key is None else body.get(key) if isinstance(body, dict) else None
    if key is None:
        rows = [body]
    if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
        raise malformed(endpoint.provider, f"{key or 'the answer'} is not a list of records")
    return rows


class SimulatorRecords:
    """A simulated agency answering record queries."""

    def __init__(self, endpoint: Endpoint, kind: str) -> None:
        self.endpoint = endpoint
        self.kind = kind

    async def run(
        self, *, query: str, params: dict[str, Any], subject: Subject | None
    ) -> list[Record]:
        if self.kind in ("traffic", "social-insurance", "housing-fund") and subject is None:
            raise Unprocessable("this query is about a person", code="subject_required")
        if self.kind == "traffic":
            assert subject is not None
            query_params = {"plate": params["plate"], "owner_id_number": subject.id_number}
            answer = await self.endpoint.call("GET", "/violations", params=query_params)
            if answer.status == 403:
                raise Forbidden(
                    "the provider says this plate is not registered to the resident",
                    code="not_own_records",
                    field="params.plate",
                )
            return records_of(self.endpoint, _ok(self.endpoint, answer), "violations")
        if self.kind in ("social-insurance", "housing-fund"):
            assert subject is not None
            id_number = params.get("id_number") or subject.id_number
            answer = await self.endpoint.call("GET", f"/accounts/{id_number}")
            return records_of(self.endpoint, _ok(self.endpoint, answer), None)
        if self.kind == "environment":
            answer = await self.endpoint.call(
                "GET", "/air-quality", params={"district": params["district"]}
            )
            return records_of(self.endpoint, _ok(self.endpoint, answer), None)
        answer = await self.endpoint.call(
            "GET", "/planned", params={"district": params["district"]}
        )
        return records_of(self.endpoint, _ok(self.endpoint, answer), "outages")


class SimulatorEligibility:
    """The simulated vehicle administration."""

    def __init__(self, endpoint: Endpoint) -> None:
        self.endpoint = endpoint

    async def check(self, *, lottery: str, subject: Subject) -> Eligibility:
        answer = await self.endpoint.call(
            "GET", "/eligibility", params={"id_number": subject.id_number, "lottery": lottery}
        )
        return _parse(self.endpoint, Eligibility, _ok(self.endpoint, answer))


class SimulatorAuthority:
    """The simulated population registry."""

    def __init__(self, endpoint: Endpoint) -> None:
        self.endpoint = endpoint

    async def check(
        self, *, name: str, id_number: str, liveness_token: str | None
    ) -> IdentityCheck:
        body: dict[str, Any] = {"name": name, "id_number": id_number}
        if liveness_token:
            body["liveness_token"] = liveness_token
        answer = await self.endpoint.call("POST", "/checks", json_body=body)
        return _parse(self.endpoint, IdentityCheck, _ok(self.endpoint, answer))
