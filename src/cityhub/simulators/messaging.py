"""A simulated SMS gateway: what the hub's SMS adapter talks to in the demo and the tests.

`POST /sms/{provider_id}/messages` sends a message (`{"to", "text", "client_ref"}`, with the
`X-Api-Key` header); the same `client_ref` sent again answers the first message and sends
nothing more, as real gateways do with their deduplication reference. `GET
/sms/{provider_id}/messages?to=...` lists what was sent (newest first), so a demo page or a
test can read the text a phone received. The control API (latency, errors, outages) applies
as for every simulated provider.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass, field
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from cityhub.simulators.billers import error

router = APIRouter(prefix="/sms/{provider_id}", tags=["sms"])
API_KEY = "sim-sms-key"  # the key the simulated gateway expects


@dataclass
class Sms:
    """One message the gateway accepted."""

    id: str
    to: str
    text: str
    client_ref: str
    sent_at: str


@dataclass
class Outbox:
    """Messages by provider, and by deduplication reference."""

    sent: dict[str, list[Sms]] = field(default_factory=dict)
    by_ref: dict[tuple[str, str], Sms] = field(default_factory=dict)


class SmsIn(BaseModel):
    """A message to send."""

    model_config = ConfigDict(extra="forbid")

    to: str = Field(pattern=r"^\+?[0-9]{6,15}$")
    text: str = Field(min_length=1, max_length=1000)
    client_ref: str = Field(min_length=1, max_length=120)


def _outbox(request: Request) -> Outbox:
    state: Outbox = request.app.state.sms
    return state


@router.post("/messages")
async def send(
    request: Request,
    provider_id: str,
    message: SmsIn,
    x_api_key: Annotated[str | None, Header()] = None,
) -> Any:
    """Accept a message, once per `client_ref`."""
    if x_api_key != API_KEY:
        return error(401, "bad_api_key", "the X-Api-Key header is missing or wrong")
    box = _outbox(request)
    known = box.by_ref.get((provider_id, message.client_ref))
    if known is not None:
        return {**asdict(known), "duplicate": True}
    sms = Sms(
        id=f"sms-{sum(len(v) for v in box.sent.values()) + 1}",
        to=message.to,
        text=message.text,
        client_ref=message.client_ref,
        sent_at=dt.datetime.now(dt.UTC).isoformat(),
    )
    box.sent.setdefault(provider_id, []).append(sms)
    box.by_ref[(provider_id, message.client_ref)] = sms
    return {**asdict(sms), "duplicate": False}


@router.get("/messages")
async def sent(
    request: Request,
    provider_id: str,
    to: Annotated[str | None, Query(max_length=16)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> Any:
    """What the gateway sent, newest first (to one number when `to` is given)."""
    messages = [
        asdict(m)
        for m in reversed(_outbox(request).sent.get(provider_id, []))
        if to is None or m.to == to
    ]
    return {"messages": messages[:limit]}
