"""The first-install walkthrough of docs/operations.md, run as written on PostgreSQL: from an
empty server to a channel paying a bill against the simulated water company.

The shell blocks between `<!-- walkthrough -->` and `<!-- /walkthrough -->` are joined into
one bash script; the test only chooses the database name and the ports (the walkthrough's
`${NAME:-default}` values), then checks in the database what the script says it did.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from cityhub.billing.models import Payment, PaymentStatus
from cityhub.cities.models import ServiceCategory
from cityhub.identity.audit import AuditEntry
from cityhub.identity.models import StaffUser
from cityhub.platform.db import Database
from tests.helpers import postgres_admin, postgres_server_url
from tests.outbox_helpers import free_port

DOC = Path(__file__).parent.parent / "docs" / "operations.md"
BLOCK = re.compile(r"^```sh\n(.*?)^```", re.M | re.S)


def walkthrough() -> str:
    """The walkthrough's shell blocks, in order, as one script."""
    text = DOC.read_text(encoding="utf-8")
    start, end = text.index("<!-- walkthrough -->"), text.index("<!-- /walkthrough -->")
    blocks = BLOCK.findall(text[start:end])
    assert len(blocks) >= 6, "the walkthrough lost its shell blocks"
    return "\n".join(blocks)


def ports() -> int:
    """A port for the hub whose simulator (+100) and worker metrics (+200) ports are free too."""
    for _ in range(50):
        port = free_port()
        if port + 200 < 65536 and all(_free(port + n) for n in (100, 200)):
            return port
    raise AssertionError("no free port with free neighbours")


def _free(port: int) -> bool:
    import socket

    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


@pytest.mark.slow
def test_the_doc_walkthrough_reaches_a_paid_bill_on_a_fresh_postgresql(
    db_kind: str, tmp_path: Path
) -> None:
    if db_kind != "postgres":
        pytest.skip("the walkthrough is for PostgreSQL: it runs with --db postgres")
    server = make_url(postgres_server_url())
    name = f"cityhub_walk_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CITYHUB_", "PG"))}
    env.update(
        PATH=f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",
        PGHOST=server.host or "127.0.0.1",
        PGUSER=server.username or "postgres",
        CITYHUB_DB=name,
        CITYHUB_PORT=str(ports()),
        CITYHUB_LOG_LEVEL="WARNING",
    )
    # If a step fails, the script's background processes end with it.
    script = "set -euo pipefail\ntrap 'kill $(jobs -p) 2>/dev/null || true' EXIT\n" + walkthrough()
    log = tmp_path / "walkthrough.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            ["bash", "-c", script],
            cwd=tmp_path,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # the hub, the worker and the simulator go with it
        )
    try:
        process.wait(timeout=600)  # some twenty commands, each a fresh Python process
    finally:
        # The script's own group: whatever it left running (it should leave nothing) ends.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    text = log.read_text(errors="replace")
    try:
        assert process.returncode == 0, text[-6000:]
        assert re.search(r"^paid: pay_\S+ \S+ \d+ fen$", text, re.M), text[-3000:]
        assert "ledger ok" in text and "audit log ok" in text, text[-3000:]
        _check_database(server.set(database=name).render_as_string(False))
    finally:
        _drop(server.render_as_string(False), name)


def _check_database(url: str) -> None:
    import asyncio

    async def check() -> None:
        db = Database(url)
        try:
            async with db.unit_of_work() as session:
                payments = (await session.scalars(select(Payment))).all()
                assert [p.status for p in payments] == [PaymentStatus.COMPLETED]
                categories = await session.scalar(select(func.count()).select_from(ServiceCategory))
                assert categories == 9
                staff = {s.username: s for s in (await session.scalars(select(StaffUser))).all()}
                assert set(staff) == {"admin", "shanghai-admin"}
                assert all(s.must_change_password for s in staff.values())
                actions = set((await session.scalars(select(AuditEntry.action))).all())
                assert {
                    "city.create",
                    "service.create",
                    "channel.create",
                    "grant.create",
                } <= actions
                assert "staff.create" in actions
        finally:
            await db.dispose()

    asyncio.run(check())


def _drop(server: str, name: str) -> None:
    import asyncio

    asyncio.run(postgres_admin(server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
