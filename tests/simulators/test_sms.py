"""The SMS adapter against the simulated gateway, over real HTTP."""

from __future__ import annotations

import httpx
import pytest

from cityhub.connectors.sms import SmsFailed, SmsGateway
from cityhub.platform.config import Settings
from tests.simulators.fixtures import Sim


def _gateway(sim: Sim, **overrides: object) -> SmsGateway:
    settings = Settings(env="test", simulator_url=sim.url, sms_timeout_seconds=1.0)
    for name, value in overrides.items():
        setattr(settings, name, value)
    return SmsGateway.from_settings(settings)


async def test_a_message_reaches_the_phone_once_per_reference(sim: Sim) -> None:
    gateway = _gateway(sim)
    async with httpx.AsyncClient(trust_env=False) as http:
        first = await gateway.send(http, "13800138000", "Your code is 123456", ref="otp-1")
        again = await gateway.send(http, "13800138000", "Your code is 123456", ref="otp-1")
        other = await gateway.send(http, "13800138000", "Water outage tomorrow", ref="n-9")
    assert first == again != other
    inbox = sim.control.get("/sms/sim-sms/messages", params={"to": "13800138000"}).json()
    assert [m["text"] for m in inbox["messages"]] == [
        "Water outage tomorrow",
        "Your code is 123456",
    ]


async def test_a_gateway_that_is_down_is_a_retryable_failure(sim: Sim) -> None:
    sim.set("sms/sim-sms", down=True)
    async with httpx.AsyncClient(trust_env=False) as http:
        with pytest.raises(SmsFailed) as failed:
            await _gateway(sim).send(http, "13800138000", "hello", ref="r1")
    assert failed.value.retryable


async def test_a_refusal_is_final(sim: Sim) -> None:
    async with httpx.AsyncClient(trust_env=False) as http:
        with pytest.raises(SmsFailed) as wrong_key:
            await _gateway(sim, sms_api_key="not-the-key").send(http, "13800138000", "x", ref="r")
        with pytest.raises(SmsFailed) as bad_number:
            await _gateway(sim).send(http, "not a phone", "x", ref="r2")
    assert not wrong_key.value.retryable and "401" in wrong_key.value.detail
    assert not bad_number.value.retryable and "422" in bad_number.value.detail
