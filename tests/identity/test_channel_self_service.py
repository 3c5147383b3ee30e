"""A channel's self-service on itself: its webhook URL (SSRF-checked), its secrets rotated with
an overlap window (both work in it, the old one is revoked at its end, no delivery is lost),
its event types and a test event, and its deep-link templates. Every change is audited."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from cityhub.identity.audit import AuditEntry
from cityhub.identity.models import Channel
from cityhub.platform.clock import Clock
from cityhub.platform.config import Settings
from cityhub.platform.db import Database
from cityhub.webhooks import verify_signature
from tests.client import Api
from tests.helpers import move_past
from tests.identity.factories import SECRET, create_channel
from tests.outbox_helpers import Receiver, drain

OLD_HOOK = "whsec-before-rotation"


def _token_form(client_id: str, secret: str) -> dict[str, str]:
    return {"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret}


async def _audited(db: Database, slug: str) -> list[str]:
    async with db.unit_of_work() as session:
        rows = await session.scalars(
            select(AuditEntry.action).where(AuditEntry.object_id == slug).order_by(AuditEntry.id)
        )
        return list(rows.all())


async def test_the_webhook_url_is_read_and_changed_and_an_internal_one_refused(
    db: Database, api: Api
) -> None:
    login = await create_channel(db)
    channel = await api.as_channel(login.client_id, SECRET)
    assert await channel.get("/v1/channel/webhook") == {
        "url": None,
        "has_secret": False,
        "old_secret_until": None,
    }
    for internal in ("http://169.254.169.254/latest/meta-data", "http://10.1.2.3/hooks"):
        problem = await channel.call(
            "PUT", "/v1/channel/webhook", json={"url": internal}, expect=422
        )
        assert problem["field"] == "webhook_url"
    changed = await channel.call(
        "PUT", "/v1/channel/webhook", json={"url": "http://127.0.0.1:9/hooks"}
    )
    assert changed["url"] == "http://127.0.0.1:9/hooks"
    assert (await channel.get("/v1/channel/webhook"))["url"] == "http://127.0.0.1:9/hooks"
    assert await _audited(db, login.channel.slug) == ["channel.webhook_url"]
    async with db.unit_of_work() as session:
        stored = await session.get(Channel, login.channel.id)
        assert stored is not None and stored.webhook_url == "http://127.0.0.1:9/hooks"


async def test_a_rotated_client_secret_works_beside_the_old_until_the_window_ends(
    db: Database, api: Api, hub_clock: Clock
) -> None:
    login = await create_channel(db)
    channel = await api.as_channel(login.client_id, SECRET)
    rotated = await channel.post(
        "/v1/channel/client-secret/rotations", json={"overlap_seconds": 3600}
    )
    new, until = rotated["secret"], dt.datetime.fromisoformat(rotated["old_secret_until"])
    assert new != SECRET and until > hub_clock.now()
    async with db.unit_of_work() as session:
        stored = await session.get(Channel, login.channel.id)
        assert stored is not None
        assert new not in (stored.client_secret_hash, stored.old_secret_hash)  # hashes only
    await api.post("/v1/oauth/token", data=_token_form(login.client_id, SECRET), expect=200)
    await api.post("/v1/oauth/token", data=_token_form(login.client_id, new), expect=200)

    move_past(hub_clock, until)
    refused = await api.post(
        "/v1/oauth/token", data=_token_form(login.client_id, SECRET), expect=401
    )
    assert refused["code"] == "invalid_client"
    await api.post("/v1/oauth/token", data=_token_form(login.client_id, new), expect=200)
    too_long = {"overlap_seconds": 8 * 86_400}
    fresh = await api.as_channel(login.client_id, new)
    problem = await fresh.post("/v1/channel/client-secret/rotations", json=too_long, expect=422)
    assert problem["field"].endswith("overlap_seconds")
    assert await _audited(db, login.channel.slug) == ["channel.rotate_client_secret"]


async def test_a_second_rotation_in_the_window_keeps_the_first_old_secret(
    db: Database, api: Api
) -> None:
    login = await create_channel(db)
    channel = await api.as_channel(login.client_id, SECRET)
    first = await channel.post("/v1/channel/client-secret/rotations")  # its answer was lost
    second = await channel.post("/v1/channel/client-secret/rotations")
    assert second["old_secret_until"] == first["old_secret_until"]
    await api.post("/v1/oauth/token", data=_token_form(login.client_id, SECRET), expect=200)
    await api.post(
        "/v1/oauth/token", data=_token_form(login.client_id, second["secret"]), expect=200
    )
    await api.post(
        "/v1/oauth/token", data=_token_form(login.client_id, first["secret"]), expect=401
    )


async def test_a_webhook_secret_rotation_signs_with_both_in_the_window_then_the_new_only(
    db: Database, api: Api, settings: Settings, hub_clock: Clock
) -> None:
    with Receiver(secret=OLD_HOOK) as receiver:
        login = await create_channel(db, webhook_url=receiver.url, webhook_secret=OLD_HOOK)
        channel = await api.as_channel(login.client_id, SECRET)
        types = (await channel.get("/v1/channel/event-types"))["items"]
        assert {"payment.completed", "webhook.test", "notices.batch"} <= {t["type"] for t in types}
        rotated = await channel.post(
            "/v1/channel/webhook-secret/rotations", json={"overlap_seconds": 600}
        )
        new = rotated["secret"]
        hook = await channel.get("/v1/channel/webhook")
        assert hook["old_secret_until"] == rotated["old_secret_until"]
        sent = await channel.post("/v1/channel/test-events", expect=202)
        await drain(db, settings)
        [during] = receiver.deliveries
        assert during.event_id == sent["event_id"] and during.signed  # the old secret verifies
        header = during.headers["CityHub-Signature"]
        assert header.count("v1=") == 2
        assert verify_signature(new, during.body, header)  # and so does the new one

        move_past(hub_clock, dt.datetime.fromisoformat(rotated["old_secret_until"]))
        await channel.post("/v1/channel/test-events", expect=202)
        await drain(db, settings)
        after = receiver.deliveries[-1]
        assert after.headers["CityHub-Signature"].count("v1=") == 1
        assert not after.signed  # the old secret was revoked at the window's end
        assert verify_signature(new, after.body, after.headers["CityHub-Signature"])
    log = await channel.get("/v1/webhooks/deliveries")
    assert [d["topic"] for d in log["items"]] == ["webhook.test", "webhook.test"]
    assert await _audited(db, login.channel.slug) == ["channel.rotate_webhook_secret"]


async def test_a_test_event_needs_a_webhook_url(db: Database, api: Api) -> None:
    login = await create_channel(db)
    channel = await api.as_channel(login.client_id, SECRET)
    problem = await channel.post("/v1/channel/test-events", expect=409)
    assert problem["code"] == "no_webhook_url"


async def test_link_templates_are_checked_and_replaced(db: Database, api: Api) -> None:
    login = await create_channel(db)
    channel = await api.as_channel(login.client_id, SECRET)
    assert await channel.get("/v1/channel/links") == {"templates": {}}
    good = {"bill": "superapp://pay?city={city}&service={service}&bill={id}"}
    assert await channel.call("PUT", "/v1/channel/links", json={"templates": good}) == {
        "templates": good
    }
    for kind, template in (
        ("bill", "javascript:alert(1)//"),
        ("bill", "https://app.example/{id.__class__}"),
        ("bill", "https://app.example/{id:>99999}"),
        ("bill", "https://app.example/{resident}"),
        ("spaceship", "https://app.example/{id}"),
    ):
        problem = await channel.call(
            "PUT", "/v1/channel/links", json={"templates": {kind: template}}, expect=422
        )
        assert problem["field"] == f"templates.{kind}", (kind, template)
    assert (await channel.get("/v1/channel/links"))["templates"] == good
    assert await _audited(db, login.channel.slug) == ["channel.link_templates"]
