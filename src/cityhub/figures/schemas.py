"""The figures' API shapes."""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, Field

from cityhub.figures.parity import NOT_RECORDED, ParityRow
from cityhub.figures.service import Published


class CellRead(BaseModel):
    key: dict[str, str | int | None] = Field(description="the cell's value of each dimension")
    suppressed: bool
    people: int | None = Field(description="distinct people; none when suppressed")
    uses: int | None
    successes: int | None
    fee_fen: int | None


class TableRead(BaseModel):
    dims: list[str]
    cells: list[CellRead]


class UsageRead(BaseModel):
    city: str
    generated_at: dt.datetime
    threshold: int = Field(description="cells of fewer distinct people are suppressed")
    tables: list[TableRead]

    @classmethod
    def of(cls, published: Published) -> UsageRead:
        tables = []
        for table in published.tables:
            cells = []
            for key, cell in table.cells.items():
                hide = cell.suppressed
                cells.append(
                    CellRead(
                        key=dict(zip(table.dims, key, strict=True)),
                        suppressed=hide,
                        people=None if hide else cell.people,
                        uses=None if hide else cell.uses,
                        successes=None if hide else cell.successes,
                        fee_fen=None if hide else cell.fee_fen,
                    )
                )
            tables.append(TableRead(dims=list(table.dims), cells=cells))
        return cls(
            city=published.city,
            generated_at=published.generated_at,
            threshold=published.threshold,
            tables=tables,
        )


class ParityRowRead(BaseModel):
    pillar: str
    service: str | None
    channel: str | None
    suppressed: bool
    people: int | None
    uses: int | None
    success_rate: float | None = Field(description="successes / uses")
    median_latency_ms: float | None
    p95_latency_ms: float | None
    fee_fen: int | None
    complaints: int | None = Field(
        description="complaints filed through the channel about the service (about its "
        "payments, in the payments pillar); none when suppressed"
    )
    subsidised: int | None = Field(
        description="payments through the channel that a subsidy campaign's claim lowered "
        "(still standing: a refunded one gave its benefit back); none when suppressed"
    )
    subsidy_fen: int | None = Field(
        description="what those subsidies took off the payments, in fen; none when suppressed"
    )


class ParityRead(BaseModel):
    city: str
    threshold: int
    rows: list[ParityRowRead]
    not_recorded: dict[str, str] = Field(
        default_factory=lambda: dict(NOT_RECORDED),
        description="what the report cannot show, and why",
    )

    @classmethod
    def of(cls, city: str, threshold: int, rows: list[ParityRow]) -> ParityRead:
        return cls(city=city, threshold=threshold, rows=[ParityRowRead(**vars(r)) for r in rows])
