"""The operator's CLI for cities, categories, services, grants, staff and channels: every
create can run twice (the second changes nothing), every change is audited as the CLI."""

from __future__ import annotations

import json

from sqlalchemy import select

from cityhub.cities.models import City, CityStatus, Grant, Service, ServiceStatus
from cityhub.identity.audit import AuditEntry
from cityhub.identity.models import Channel, ChannelStatus, StaffUser
from cityhub.platform.db import Database
from tests.outbox_helpers import invoke


async def _one(db: Database, model: type, **where: object) -> object:
    async with db.unit_of_work() as session:
        query = select(model).filter_by(**where)
        return (await session.scalars(query)).one()


async def test_a_city_its_catalogue_and_grants_from_the_shell(db: Database) -> None:
    url = db.url
    city = ["cities", "create", "xian", "--name-en", "Xi'an", "--name-zh-hans", "西安"]
    assert (await invoke(url, *city))[0] == 0
    code, said = await invoke(url, *city)
    assert code == 0 and "exists: nothing changed" in said
    assert (await invoke(url, "cities", "activate", "xian"))[0] == 0
    found = await _one(db, City, slug="xian")
    assert isinstance(found, City) and found.status == CityStatus.ACTIVE
    assert (found.name_zh_hans, found.name_zh_hant) == ("西安", "西安")

    service = ["services", "create", "--city", "xian", "gas-bill", "--category", "payments",
               "--kind", "bill", "--provider", "Xi'an Gas", "--connector", "simulator:gas",
               "--config", '{"provider_id": "xian-gas"}']  # fmt: skip
    assert (await invoke(url, *service))[0] == 0
    assert "exists" in (await invoke(url, *service))[1]
    bad = await invoke(url, *service[:4], "water", "--category", "nope", *service[7:])
    assert bad[0] == 1 and "no category 'nope'" in bad[1]
    code, listed = await invoke(url, "services", "list", "--city", "xian", "--json")
    assert code == 0 and [s["code"] for s in json.loads(listed)] == ["gas-bill"]

    code, said = await invoke(url, "channels", "create", "banklink", "BankLink")
    assert code == 0 and json.loads(said)["client_id"] == "ch_banklink"
    code, said = await invoke(url, "channels", "create", "banklink", "BankLink")
    assert code == 0 and "exists" in said and "client_secret" not in said
    grant = ["grants", "create", "--city", "xian", "--channel", "banklink", "--service", "gas-bill"]
    assert "may now offer" in (await invoke(url, *grant))[1]
    assert "already offers" in (await invoke(url, *grant))[1]
    assert (await invoke(url, "grants", "delete", *grant[2:]))[0] == 0
    async with db.unit_of_work() as session:
        assert (await session.scalars(select(Grant))).all() == []

    assert (await invoke(url, "services", "disable", "--city", "xian", "gas-bill"))[0] == 0
    gas = await _one(db, Service, code="gas-bill")
    assert isinstance(gas, Service) and gas.status == ServiceStatus.PAUSED
    assert (await invoke(url, "categories", "disable", "housing"))[0] == 0
    code, listed = await invoke(url, "categories", "list", "--json")
    assert {c["code"]: c["active"] for c in json.loads(listed)}["housing"] is False
    assert (await invoke(url, "cities", "disable", "xian"))[0] == 0

    async with db.unit_of_work() as session:
        actors = set((await session.scalars(select(AuditEntry.actor_id))).all())
        actions = set((await session.scalars(select(AuditEntry.action))).all())
    assert all(a.startswith("cli:") for a in actors)
    assert {"city.create", "city.update", "service.create", "service.update", "channel.create",
            "grant.create", "grant.delete", "category.update"} <= actions  # fmt: skip


async def test_staff_and_channels_from_the_shell(db: Database) -> None:
    url = db.url
    code, said = await invoke(url, "staff", "create", "ops", "--role", "operator",
                              "--temporary-password")  # fmt: skip
    assert code == 0 and "temporary password" in said
    temporary = said.strip().splitlines()[-1]
    assert len(temporary) >= 12
    assert "exists" in (await invoke(url, "staff", "create", "ops", "--role", "operator",
                                     "--temporary-password"))[1]  # fmt: skip
    member = await _one(db, StaffUser, username="ops")
    assert isinstance(member, StaffUser) and member.must_change_password

    code, said = await invoke(url, "staff", "reset-password", "ops")
    assert code == 0 and said.strip().splitlines()[-1] != temporary
    assert (await invoke(url, "staff", "disable", "ops"))[0] == 0
    code, listed = await invoke(url, "staff", "list", "--json")
    assert [(m["username"], m["active"]) for m in json.loads(listed)] == [("ops", False)]
    assert (await invoke(url, "staff", "enable", "ops"))[0] == 0

    assert (await invoke(url, "channels", "create", "pay", "Pay"))[0] == 0
    code, said = await invoke(url, "channels", "update", "pay", "--add-scope", "payments:write")
    assert code == 0 and "catalogue:read payments:write" in said
    refused = await invoke(url, "channels", "update", "pay", "--add-scope", "root")
    assert refused[0] == 1 and "unknown scopes: root" in refused[1]
    assert (await invoke(url, "channels", "disable", "pay"))[0] == 0
    channel = await _one(db, Channel, slug="pay")
    assert isinstance(channel, Channel) and channel.status == ChannelStatus.SUSPENDED
    assert channel.scopes == "catalogue:read payments:write"
