"""The audit log: staff actions land in it, the database refuses edits, tampering is found."""

from __future__ import annotations

import asyncio

import pytest
from click.testing import Result
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError
from typer.testing import CliRunner

from cityhub.cli import app as cli
from cityhub.identity import audit
from cityhub.identity.audit import AuditEntry
from cityhub.identity.models import Role
from cityhub.platform.config import Settings, get_settings
from cityhub.platform.db import Database
from tests.cities.factories import create_category, create_city, create_service
from tests.client import Api
from tests.identity.factories import PASSWORD, create_channel, create_staff


async def _actions(db: Database) -> list[str]:
    async with db.unit_of_work() as session:
        return list(
            (await session.scalars(select(AuditEntry.action).order_by(AuditEntry.id))).all()
        )


async def _some_history(db: Database, api: Api) -> tuple[Api, str]:
    city = await create_city(db)
    service = await create_service(db, city=city)
    login = await create_channel(db)
    admin = await create_staff(db, city=city)
    staff = await api.as_staff(admin.username, PASSWORD)
    grant = await staff.post(
        f"/v1/cities/{city.slug}/grants",
        json={"channel": login.channel.slug, "service": service.code},
    )
    await staff.delete(f"/v1/cities/{city.slug}/grants/{grant['id']}")
    await staff.patch(f"/v1/cities/{city.slug}/services/{service.code}", json={"provider": "X"})
    return staff, city.slug


async def test_staff_actions_are_audited_per_city(db: Database, api: Api) -> None:
    _, slug = await _some_history(db, api)
    assert await _actions(db) == ["staff.sign_in", "grant.create", "grant.delete", "service.update"]
    other = await create_city(db)
    await create_category(db)
    other_admin = await create_staff(db, city=other)
    theirs = await api.as_staff(other_admin.username, PASSWORD)
    gas = {
        "code": "gas",
        "category": "payments",
        "kind": "bill",
        "names": {"zh-Hans": "燃气", "zh-Hant": "燃氣", "en": "Gas"},
        "provider": "Gas Co",
        "connector": "simulator:gas",
    }
    await theirs.post(f"/v1/cities/{other.slug}/services", json=gas)
    auditor = await create_staff(db, city=other, role=Role.AUDITOR)
    watcher = await api.as_staff(auditor.username, PASSWORD)
    seen = (await watcher.get("/v1/audit"))["items"]
    # only their city's chain: not the other city's, not the hub's sign-ins
    assert [(e["action"], e["object_id"], e["chain"]) for e in seen] == [
        ("service.create", "gas", f"city:{other.id}")
    ]
    assert seen[0]["actor_id"] == other_admin.username and seen[0]["seq"] == 1
    assert (await watcher.get(f"/v1/audit?city={slug}"))["items"] == []
    assert (await watcher.get("/v1/audit?action=grant.create"))["items"] == []
    operator = await create_staff(db, role=Role.OPERATOR)
    op = await api.as_staff(operator.username, PASSWORD)
    everything = await op.get(f"/v1/audit?city={slug}")
    assert [e["action"] for e in everything["items"]] == [
        "service.update", "grant.delete", "grant.create",
    ]  # fmt: skip
    sign_ins = await op.get("/v1/audit?action=staff.sign_in&limit=2")
    assert len(sign_ins["items"]) == 2 and sign_ins["next_cursor"]
    rest = await op.get(f"/v1/audit?action=staff.sign_in&cursor={sign_ins['next_cursor']}")
    assert len(sign_ins["items"]) + len(rest["items"]) == 4  # four people signed in


async def test_the_database_refuses_to_change_the_log(db: Database, api: Api) -> None:
    await _some_history(db, api)
    for statement in ("UPDATE audit_log SET action = 'nothing'", "DELETE FROM audit_log"):
        with pytest.raises(DBAPIError, match="append-only"):
            async with db.unit_of_work() as session:
                await session.execute(text(statement))
    assert len(await _actions(db)) == 4


async def _tamper(db: Database, entry_id: int) -> None:
    async with db.unit_of_work() as session:
        if db.is_sqlite:
            await session.execute(text("DROP TRIGGER audit_log_no_update"))
        else:
            await session.execute(
                text("ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only")
            )
        await session.execute(
            text("UPDATE audit_log SET object_id = 'someone-else' WHERE id = :id"), {"id": entry_id}
        )
        if not db.is_sqlite:
            await session.execute(
                text("ALTER TABLE audit_log ENABLE TRIGGER audit_log_append_only")
            )


async def test_verify_names_the_altered_entry(db: Database, api: Api, settings: Settings) -> None:
    await _some_history(db, api)
    async with db.unit_of_work() as session:
        assert all(r.ok for r in await audit.verify(session=session))
        entries = (await session.scalars(select(AuditEntry).order_by(AuditEntry.id))).all()
    target = entries[2]  # grant.delete, in the middle of its city's chain
    ok = await asyncio.to_thread(_cli_audit_verify, settings.url)
    assert ok.exit_code == 0, ok.output
    assert "audit log ok: 4 entries in 2 chains" in ok.output
    await _tamper(db, target.id)
    async with db.unit_of_work() as session:
        reports = await audit.verify(session=session)
    broken = [r for r in reports if not r.ok]
    assert [(r.chain, r.broken_at) for r in broken] == [(target.chain, target.id)]
    assert "altered" in (broken[0].reason or "")
    bad = await asyncio.to_thread(_cli_audit_verify, settings.url)
    assert bad.exit_code == 1, bad.output
    assert f"chain {target.chain}, entry {target.id}" in bad.output


def _cli_audit_verify(url: str) -> Result:
    """`cityhub audit verify` on the test database (run in a thread: it runs its own loop)."""
    get_settings.cache_clear()  # the CLI reads its settings from this environment
    try:
        env = {"CITYHUB_ENV": "test", "CITYHUB_DATABASE_URL": url}
        return CliRunner().invoke(cli, ["audit", "verify"], env=env, catch_exceptions=False)
    finally:
        get_settings.cache_clear()


async def test_a_removed_entry_is_found_where_the_chain_breaks(db: Database, api: Api) -> None:
    await _some_history(db, api)
    async with db.unit_of_work() as session:
        chain = (
            await session.scalars(
                select(AuditEntry).where(AuditEntry.chain != "hub").order_by(AuditEntry.seq)
            )
        ).all()
        if db.is_sqlite:
            await session.execute(text("DROP TRIGGER audit_log_no_delete"))
        else:
            await session.execute(
                text("ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only")
            )
        await session.execute(text("DELETE FROM audit_log WHERE id = :id"), {"id": chain[1].id})
        if not db.is_sqlite:
            await session.execute(
                text("ALTER TABLE audit_log ENABLE TRIGGER audit_log_append_only")
            )
    async with db.unit_of_work() as session:
        reports = {r.chain: r for r in await audit.verify(session=session)}
    assert reports["hub"].ok  # the other chain is untouched
    broken = reports[chain[0].chain]
    assert (broken.broken_at, broken.entries) == (chain[2].id, 2)
    assert "missing" in (broken.reason or "")
