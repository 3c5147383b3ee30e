"""Run-time control of the simulated providers: latency, error rate, outages, bad answers.

Every provider lives under `/{kind}/{provider_id}/...`. `Gate` (ASGI middleware) counts each
request per provider and applies its settings before the provider's routes see it:

- `down`: answer 503 at once (the provider is stopped);
- `latency_ms`: wait that long first (a slow or hanging provider);
- `error_rate`: answer 500 for that share of requests (drawn from the seed: repeatable);
- `corrupt`: "malformed" answers broken JSON, "oversized" a valid but huge JSON document.

`PUT /_control/providers/{kind}/{provider_id}` changes them, `GET /_control/providers` lists
them with request counters, `POST /_control/reset` restores the starting state.
"""

from __future__ import annotations

import asyncio
import json
import random
from dataclasses import asdict, dataclass
from typing import Any, Literal

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field
from starlette.types import ASGIApp, Receive, Scope, Send

OVERSIZED_BYTES = 3_000_000


@dataclass
class ProviderControl:
    """What one simulated provider is told to do, and how often it was called."""

    latency_ms: int = 0
    error_rate: float = 0.0
    down: bool = False
    corrupt: str | None = None
    requests: int = 0


class ControlIn(BaseModel):
    """A change to a provider's behaviour; fields left out keep their value."""

    model_config = ConfigDict(extra="forbid")

    latency_ms: int | None = Field(default=None, ge=0, le=120_000)
    error_rate: float | None = Field(default=None, ge=0, le=1)
    down: bool | None = None
    corrupt: Literal["malformed", "oversized"] | None = None


class Control:
    """The settings of every provider (made on first request or first change)."""

    def __init__(self, seed: int) -> None:
        self.seed = seed
        self.providers: dict[str, ProviderControl] = {}
        self.rng = random.Random(seed)

    def of(self, name: str) -> ProviderControl:
        """The provider's settings."""
        found = self.providers.get(name)
        if found is None:
            found = self.providers[name] = ProviderControl()
        return found

    def reset(self) -> None:
        """Every provider healthy and its counter at zero."""
        self.providers.clear()
        self.rng = random.Random(self.seed)


def provider_of(path: str) -> str | None:
    """`water/sh-water` for `/water/sh-water/...`; None for the control API."""
    parts = path.strip("/").split("/")
    if len(parts) < 2 or parts[0].startswith("_"):
        return None
    return f"{parts[0]}/{parts[1]}"


class Gate:
    """Applies each provider's control settings to its requests."""

    def __init__(self, app: ASGIApp, control: Control) -> None:
        self.app = app
        self.control = control

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        name = provider_of(scope.get("path", "")) if scope["type"] == "http" else None
        if name is None:
            await self.app(scope, receive, send)
            return
        settings = self.control.of(name)
        settings.requests += 1
        if settings.down:
            await _answer(send, 503, {"error": "unavailable", "message": f"{name} is down"})
            return
        if settings.latency_ms:
            await self._wait(name, settings)
        if settings.error_rate and self.control.rng.random() < settings.error_rate:
            await _answer(send, 500, {"error": "internal", "message": "simulated failure"})
            return
        if settings.corrupt == "malformed":
            await _raw(send, 200, b'{"bills": [{"id": "x", "amount_fen": ')
            return
        if settings.corrupt == "oversized":
            padding = "x" * 1000
            body = json.dumps({"padding": [padding] * (OVERSIZED_BYTES // 1000)}).encode()
            await _raw(send, 200, body)
            return
        await self.app(scope, receive, send)

    async def _wait(self, name: str, settings: ProviderControl) -> None:
        # Wait out the latency, but stop early once it is lifted (or everything is reset), so
        # a provider that "comes back" answers at once, as a restarted one would.
        loop = asyncio.get_running_loop()
        deadline = loop.time() + settings.latency_ms / 1000
        while settings.latency_ms and self.control.providers.get(name) is settings:
            left = deadline - loop.time()
            if left <= 0:
                return
            await asyncio.sleep(min(0.05, left))


async def _answer(send: Send, status: int, body: dict[str, Any]) -> None:
    await _raw(send, status, json.dumps(body).encode())


async def _raw(send: Send, status: int, body: bytes) -> None:
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


router = APIRouter(prefix="/_control", tags=["control"])


def _control(request: Request) -> Control:
    control: Control = request.app.state.control
    return control


@router.get("/providers")
async def list_providers(request: Request) -> dict[str, Any]:
    """Every provider that was called or changed, with its settings and request count."""
    return {name: asdict(c) for name, c in sorted(_control(request).providers.items())}


@router.get("/providers/{kind}/{provider_id}")
async def get_provider(request: Request, kind: str, provider_id: str) -> dict[str, Any]:
    """One provider's settings and request count."""
    return asdict(_control(request).of(f"{kind}/{provider_id}"))


@router.put("/providers/{kind}/{provider_id}")
async def set_provider(
    request: Request, kind: str, provider_id: str, change: ControlIn
) -> dict[str, Any]:
    """Change how a provider behaves (fields left out keep their value)."""
    settings = _control(request).of(f"{kind}/{provider_id}")
    for name, value in change.model_dump(exclude_unset=True).items():
        setattr(settings, name, value)
    return asdict(settings)


@router.post("/reset")
async def reset(request: Request) -> dict[str, str]:
    """Every provider healthy, counters at zero, payments and appointments forgotten."""
    _control(request).reset()
    request.app.state.sim.reset()
    request.app.state.sms.__init__()  # forget every message sent
    return {"status": "reset"}


@router.get("/people")
async def people(request: Request, limit: int = 20) -> list[dict[str, Any]]:
    """Who lives in the simulated world (for the demo and tests)."""
    return [asdict(p) for p in request.app.state.world.people[: max(1, min(limit, 1000))]]
