"""Managing channels: the operator registers them and changes their scopes and status; a scope
taken away or a suspension works at once, even on tokens issued before."""

from __future__ import annotations

from cityhub.identity.models import Role
from cityhub.platform.db import Database
from tests.cities.factories import create_city, create_grant, create_service
from tests.client import Api
from tests.identity.factories import PASSWORD, SECRET, create_channel, create_staff


async def test_a_channel_registered_over_the_api_signs_in_with_the_secret_answered_once(
    db: Database, api: Api
) -> None:
    operator = await create_staff(db, role=Role.OPERATOR)
    chief = await api.as_staff(operator.username, PASSWORD)
    body = {"slug": "banklink", "name": "BankLink", "scopes": ["catalogue:read"]}
    made = await chief.post("/v1/channels", json=body, headers={"Idempotency-Key": "c1"})
    assert made["client_id"] == "ch_banklink" and made["scopes"] == ["catalogue:read"]
    assert await chief.post("/v1/channels", json=body, headers={"Idempotency-Key": "c1"}) == made
    again = await chief.post("/v1/channels", json=body, expect=409)
    assert again["code"] == "channel_exists"
    await api.as_channel("ch_banklink", made["client_secret"])
    listed = await chief.get("/v1/channels/banklink")
    assert "client_secret" not in listed and listed["status"] == "active"
    unknown = await chief.post(
        "/v1/channels", json={**body, "slug": "other", "scopes": ["everything"]}, expect=422
    )
    assert (unknown["code"], unknown["field"]) == ("unknown_scope", "scopes")


async def test_scopes_and_status_changed_by_the_operator_apply_to_live_tokens(
    db: Database, api: Api
) -> None:
    city = await create_city(db)
    login = await create_channel(db, scopes=("catalogue:read", "payments:write"))
    await create_grant(db, channel=login.channel, service=await create_service(db, city=city))
    operator = await create_staff(db, role=Role.OPERATOR)
    chief = await api.as_staff(operator.username, PASSWORD)
    channel = await api.as_channel(login.client_id, SECRET)
    services = f"/v1/cities/{city.slug}/services"
    await channel.get(services)

    changed = await chief.patch(
        f"/v1/channels/{login.channel.slug}", json={"scopes": ["payments:write"]}
    )
    assert changed["scopes"] == ["payments:write"]
    refused = await channel.get(services, expect=403)
    assert refused["code"] == "insufficient_scope"

    await chief.patch(
        f"/v1/channels/{login.channel.slug}",
        json={"scopes": ["catalogue:read", "payments:write"], "status": "suspended"},
    )
    assert (await channel.get(services, expect=401))["code"] == "invalid_token"
    await api.post(
        "/v1/oauth/token",
        data={"grant_type": "client_credentials", "client_id": login.client_id,
              "client_secret": SECRET},
        expect=401,
    )  # fmt: skip
    await chief.patch(f"/v1/channels/{login.channel.slug}", json={"status": "active"})
    await (await api.as_channel(login.client_id, SECRET)).get(services)


async def test_only_the_operator_changes_a_channel(db: Database, api: Api) -> None:
    city = await create_city(db)
    login = await create_channel(db)
    admin = await create_staff(db, city=city)
    boss = await api.as_staff(admin.username, PASSWORD)
    refused = await boss.patch(
        f"/v1/channels/{login.channel.slug}", json={"status": "suspended"}, expect=403
    )
    assert refused["code"] == "role_required"
    await boss.post(
        "/v1/channels", json={"slug": "x1", "name": "X", "scopes": ["catalogue:read"]}, expect=403
    )
    assert (await boss.get(f"/v1/channels/{login.channel.slug}"))["status"] == "active"
