"""Sending a text message through the city's SMS gateway, over HTTP.

One adapter for every text the hub sends (sign-in codes, notices). The gateway is told a
deduplication reference with each message, so a retry after a lost answer never sends the
message twice. A gateway that is down, slow or answers 5xx is a retryable `SmsFailed`; a
refusal (4xx: a bad number, a bad key) is final.

Settings: `CITYHUB_SMS_URL` (default: the simulator's gateway), `CITYHUB_SMS_API_KEY`,
`CITYHUB_SMS_TIMEOUT_SECONDS`.
"""

from __future__ import annotations

from dataclasses import dataclass

import httpx
import structlog

from cityhub.identity.pii import mask_phone
from cityhub.platform import jsonbody, sandbox
from cityhub.platform.config import Settings

log = structlog.get_logger("cityhub.connectors.sms")


class SmsFailed(Exception):
    """The gateway did not take the message; `retryable` says whether trying again may help."""

    def __init__(self, detail: str, *, retryable: bool) -> None:
        super().__init__(detail)
        self.detail = detail
        self.retryable = retryable


@dataclass(frozen=True)
class SmsGateway:
    """The configured gateway: `await gateway.send(http, to, text, ref=...)`."""

    url: str
    api_key: str
    timeout: float

    @classmethod
    def from_settings(cls, settings: Settings) -> SmsGateway:
        """The gateway the settings name (the simulator's by default); in test mode always the
        sandbox's simulated gateway: a test credential's code never reaches a real phone."""
        url = settings.sms_url or f"{settings.simulators_url.rstrip('/')}/sms/sim-sms"
        if sandbox.is_test():
            url = f"{settings.sandbox_simulators_url.rstrip('/')}/sms/sim-sms"
        return cls(
            url=url.rstrip("/"), api_key=settings.sms_api_key, timeout=settings.sms_timeout_seconds
        )

    async def send(self, http: httpx.AsyncClient, to: str, text: str, *, ref: str) -> str:
        """Send `text` to the phone number `to`; the gateway's message id. `ref` identifies the
        message: sending the same `ref` again sends nothing more."""
        try:
            response = await http.post(
                f"{self.url}/messages",
                json={"to": to, "text": text, "client_ref": ref},
                headers={"X-Api-Key": self.api_key},
                timeout=self.timeout,
            )
        except httpx.HTTPError as exc:
            raise SmsFailed(f"{type(exc).__name__}: {exc}".rstrip(": "), retryable=True) from None
        if response.status_code >= 500:
            raise SmsFailed(f"the gateway answered {response.status_code}", retryable=True)
        if response.status_code >= 400:
            raise SmsFailed(
                f"the gateway refused the message ({response.status_code}: {response.text[:200]})",
                retryable=False,
            )
        try:
            message_id = str(jsonbody.loads(response.content)["id"])
        except (ValueError, KeyError, TypeError):
            raise SmsFailed("the gateway's answer has no message id", retryable=True) from None
        log.info("sms_sent", to=mask_phone(to), ref=ref, message_id=message_id)
        return message_id
