"""Route of a channel's test credentials (rules in sandbox.py)."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, Field

from cityhub.identity import sandbox
from cityhub.identity.deps import CurrentChannel, VaultDep
from cityhub.platform.deps import SessionDep

router = APIRouter(prefix="/v1/channel", tags=["channel self-service"])


class TestCredentialsRead(BaseModel):
    slug: str = Field(description="the test channel's own slug")
    client_id: str = Field(description="the test client id (`test_<slug>`)")
    client_secret: str = Field(description="shown this once, never again")
    webhook_secret: str = Field(description="signs the sandbox's webhooks; shown this once")
    webhook_url: str | None = Field(description="the live channel's, until changed")
    mode: str = Field(description="always `test`")
    scopes: list[str]


@router.post(
    "/test-credentials",
    status_code=201,
    response_model=TestCredentialsRead,
    operation_id="createTestCredentials",
    summary="Get sandbox (test) credentials",
)
async def create_test_credentials(
    session: SessionDep, caller: CurrentChannel, vault: VaultDep
) -> TestCredentialsRead:
    """Test credentials of the calling live channel: their tokens carry `mode: test`, every
    answer to them says `CityHub-Mode: test`, their calls reach only the sandbox's simulators
    and what they create is kept apart from live data (docs/sandbox.md). Once per channel;
    no `Idempotency-Key`: the hub keeps no copy of the secrets."""
    twin, secret, hook_secret = await sandbox.create(
        session=session, vault=vault, channel=caller.channel
    )
    return TestCredentialsRead(
        slug=twin.slug,
        client_id=twin.client_id,
        client_secret=secret,
        webhook_secret=hook_secret,
        webhook_url=twin.webhook_url,
        mode=twin.mode,
        scopes=twin.scopes.split(),
    )
