"""The audit log: staff actions land in it, the database refuses edits, tampering is found."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError

from cityhub.config import Settings
from cityhub.db import Database
from cityhub.identity import audit
from cityhub.identity.audit import AuditEntry
from cityhub.identity.models import Role
from tests.cities.factories import create_city, create_service
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
    auditor = await create_staff(db, city=other, role=Role.AUDITOR)
    theirs = await api.as_staff(auditor.username, PASSWORD)
    seen = await theirs.get("/v1/audit")
    assert [e["action"] for e in seen["items"]] == []  # nothing of the other city
    await theirs.get(f"/v1/audit?city={slug}")
    assert (await theirs.get(f"/v1/audit?city={slug}"))["items"] == []
    operator = await create_staff(db, role=Role.OPERATOR)
    op = await api.as_staff(operator.username, PASSWORD)
    everything = await op.get(f"/v1/audit?city={slug}")
    assert [e["action"] for e in everything["items"]][0] == "service.update"  # newest first


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
    env = {**os.environ, "CITYHUB_ENV": "test", "CITYHUB_DATABASE_URL": settings.url}
    command = [sys.executable, "-m", "cityhub", "audit", "verify"]
    ok = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "audit log ok" in ok.stdout
    await _tamper(db, target.id)
    async with db.unit_of_work() as session:
        reports = await audit.verify(session=session)
    broken = [r for r in reports if not r.ok]
    assert [(r.chain, r.broken_at) for r in broken] == [(target.chain, target.id)]
    assert "altered" in (broken[0].reason or "")
    bad = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)
    assert bad.returncode == 1
    assert f"entry {target.id}" in bad.stdout
