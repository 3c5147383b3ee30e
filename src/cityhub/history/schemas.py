"""The history's API shapes."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import BaseModel, Field

from cityhub.identity.schemas import DataAccessRead, ResidentRead

Kind = Literal["application", "booking", "consent", "notice", "payment", "query", "request"]


class HistoryItemRead(BaseModel):
    id: str = Field(description="opaque: the item's id in this history (for its detail)")
    kind: Kind
    at: dt.datetime
    city: str | None = Field(description="the city's slug (none: not a city's, a consent)")
    service: str | None = Field(description="the service's code, where there is one")
    channel: str | None = Field(
        description="the channel it was done through (none: the hub's own, a notice)"
    )
    own: bool = Field(description="done through the calling channel")
    title: str
    status: str | None
    amount_fen: int | None = Field(description="what the person paid, in fen")
    currency: str | None
    ref: str | None = Field(
        description="the object's id as the calling channel knows it (payment, booking, "
        "request...); none for another channel's item: its ids stay with it"
    )
    link: str = Field(description="where its detail is read")
    details: dict[str, Any]


class ResidentExport(BaseModel):
    """Everything the hub keeps of the person that a channel may show them (PIPL art. 45)."""

    exported_at: dt.datetime
    resident: ResidentRead
    items: list[HistoryItemRead]
    truncated: bool = Field(description="true if the history had more items than one export")
    data_access: list[DataAccessRead]
