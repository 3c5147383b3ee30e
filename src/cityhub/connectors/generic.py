"""The generic HTTP connector: a provider described by a declarative file, no code.

One class serves the three kinds a description can have: a biller (operations `bills`, `pay`,
`reverse`, `statement`), an agency answering record queries (one operation per query name) and
an eligibility check (operation `eligibility`). Parameters each operation can use:

- bills: `account`;
- pay: `payment_id`, `account`, `bill_id`, `amount_fen`, `amount_yuan` ("12.34"), `currency`;
- reverse: `payment_id`, `reason`;  statement: `day` (YYYY-MM-DD);
- a query: its validated parameters, and `id_number` of the resident for personal queries;
- eligibility: `lottery`, `id_number`.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from cityhub.connectors.definitions import fill, map_answer
from cityhub.connectors.endpoint import Endpoint
from cityhub.connectors.transport import malformed
from cityhub.connectors.types import (
    Bill,
    Eligibility,
    PaymentOrder,
    PaymentReceipt,
    Record,
    Reversal,
    Statement,
    Subject,
)
from cityhub.platform.errors import Unavailable

M = TypeVar("M", bound=BaseModel)


def idempotent(operation: dict[str, Any]) -> bool:
    """Whether an operation of a description may be retried (GET unless it says otherwise)."""
    return bool(operation.get("idempotent", operation.get("method") == "GET"))


class GenericConnector:
    """A provider as its description says to call it."""

    def __init__(self, endpoint: Endpoint, definition: dict[str, Any]) -> None:
        self.endpoint = endpoint
        self.definition = definition
        self.operations: dict[str, dict[str, Any]] = definition["operations"]

    def idempotent(self, operation: str) -> bool:
        """Whether the operation may be retried (GET unless the description says otherwise)."""
        return idempotent(self.operations.get(operation, {}))

    async def call(self, operation: str, params: dict[str, Any]) -> Any:
        """Run one operation with these parameters; our view of the answer."""
        spec = self.operations.get(operation)
        if spec is None:
            raise Unavailable(
                f"the connector {self.definition['name']} has no operation {operation!r}",
                code="operation_not_supported",
            )
        query = {k: fill(v, params) for k, v in (spec.get("query") or {}).items()}
        body = fill(spec["body"], params) if "body" in spec else None
        headers = {
            # A resolved secret is sent as it is: never a template to fill.
            k: v["value"] if isinstance(v, dict) else str(fill(v, params))
            for k, v in (spec.get("headers") or {}).items()
        }
        answer = await self.endpoint.call(
            spec["method"],
            fill(spec["path"], params, url=True),
            params=query or None,
            json_body=body,
            headers=headers,
        )
        if answer.status >= 400:
            raise self.endpoint.refusal(answer, spec.get("errors"))
        return map_answer(answer.body, spec.get("response") or {}, provider=self.endpoint.provider)

    def _model(self, model: type[M], data: Any) -> M:
        try:
            return model.model_validate(data)
        except ValidationError as exc:
            error = exc.errors()[0]
            where = ".".join(str(p) for p in error["loc"])
            raise malformed(self.endpoint.provider, f"{where}: {error['msg']}") from None

    # -- biller ------------------------------------------------------------------------------

    async def bills(self, *, account: str, fields: dict[str, str] | None = None) -> list[Bill]:
        rows = await self.call("bills", {**(fields or {}), "account": account})
        if not isinstance(rows, list):
            raise malformed(self.endpoint.provider, "bills must map to a list (set items)")
        return [self._model(Bill, {"account": account, **row}) for row in rows]

    async def pay(self, *, order: PaymentOrder) -> PaymentReceipt:
        params = {**order.model_dump(), "amount_yuan": str(Decimal(order.amount_fen) / 100)}
        found = await self.call("pay", params)
        return self._model(PaymentReceipt, {"payment_id": order.payment_id, **found})

    async def reverse(self, *, payment_id: str, reason: str) -> Reversal:
        found = await self.call("reverse", {"payment_id": payment_id, "reason": reason})
        return self._model(Reversal, {"payment_id": payment_id, **found})

    async def statement(self, *, day: dt.date) -> Statement:
        lines = await self.call("statement", {"day": day.isoformat()})
        return self._model(Statement, {"day": day, "lines": lines})

    # -- records and eligibility -------------------------------------------------------------

    async def run(
        self, *, query: str, params: dict[str, Any], subject: Subject | None
    ) -> list[Record]:
        values = {**params, **({"id_number": subject.id_number} if subject else {})}
        found = await self.call(query, values)
        return found if isinstance(found, list) else [found]

    async def check(self, *, lottery: str, subject: Subject) -> Eligibility:
        found = await self.call("eligibility", {"lottery": lottery, "id_number": subject.id_number})
        return self._model(Eligibility, found)
