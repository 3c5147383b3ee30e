"""The append-only, hash-chained audit log of staff actions and personal-data access.

Each city has its own chain (and the hub one of its own, `hub`), so that chains shard with their
city. An entry's hash covers its content and the previous entry's hash: altering, removing or
reordering any stored entry breaks every hash after it, which `verify` finds.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint, select, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from cityhub.platform.db import Base, BigId, utcnow

GENESIS = "0" * 64
HUB_CHAIN = "hub"

# Every action the log records: a closed set, each named for a clerk in the console's
# languages (templates/console/_labels.html, `audit_action`); `append` refuses any other.
_REQUEST_STEPS = (
    "submitted",
    "triaged",
    "assigned",
    "transferred",
    "held",
    "resumed",
    "note",
    "escalated",
    "resolved",
    "reopened",
    "closed",
    "merged",
    "same_problem",
    "rated",
)
ACTIONS = frozenset({
    "appointments.check_in", "appointments.rules.update", "appointments.session.create",
    "appointments.sessions.upload", "appointments.sync",
    "biller_terms.update", "category.create", "category.update",
    "channel.create", "channel.update", "channel.link_templates", "channel.webhook_url",
    "channel.rotate_client_secret", "channel.rotate_webhook_secret",
    "channel.create_test_credentials",
    "city.create", "city.update", "connector.create",
    "connector_secret.create", "connector_secret.rotate", "connector_secret.delete",
    "complaint.logged", "complaint.assigned", "complaint.resolved", "complaint.escalated",
    "demo.load", "grant.create", "grant.delete", "job.configure",
    "lottery.round.create", "lottery.round.close", "lottery.round.draw", "lottery.round.publish",
    "lottery_application.withdrawn.cross_channel",
    "notice.send", "notice_account.create", "notice_settings.update",
    "payment.refund", "payment.biller_reversal", "personal_data.read",
    "reconciliation.run", "refund_request.create", "refund_request.decide",
    "requests.api_key.issue", "requests.department.create", "requests.department.member",
    "requests.settings", "requests.type.create", "requests.type.update",
    "resident.link_requested", "resident.linked", "resident.verified",
    "service.create", "service.update", "settlement.run",
    "staff.create", "staff.update", "staff.enable", "staff.disable", "staff.password_reset",
    "staff.password_change", "staff.role_add", "staff.role_remove", "staff.provider_refused",
    "staff.sign_in", "subsidy.campaign.created", "subsidy.campaign.stopped",
    *(f"request.{step}" for step in _REQUEST_STEPS),
})  # fmt: skip


class AuditEntry(Base):
    """One audited action. Never updated or deleted (the database refuses both)."""

    __tablename__ = "audit_log"
    __table_args__ = (
        UniqueConstraint("chain", "seq"),
        Index("ix_audit_log_city_at", "city_id", "at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    chain: Mapped[str] = mapped_column(String(40))
    seq: Mapped[int] = mapped_column()
    at: Mapped[dt.datetime] = mapped_column()
    city_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("cities.id"), default=None)
    actor_type: Mapped[str] = mapped_column(String(20))
    actor_id: Mapped[str] = mapped_column(String(80))
    action: Mapped[str] = mapped_column(String(80))
    object_type: Mapped[str] = mapped_column(String(40))
    object_id: Mapped[str] = mapped_column(String(80))
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


@dataclass(frozen=True)
class Actor:
    """Who did something: a staff member, a channel, a provider or the hub itself."""

    type: str
    id: str
    name: str
    # The name's translations (a channel's, a provider's), for the pages that show who it was.
    names: dict[str, str] | None = field(default=None, compare=False)

    @classmethod
    def provider(cls, name: str, names: dict[str, str] | None = None) -> Actor:
        """A provider (named as a service names it), reading data for the hub."""
        return cls(type="provider", id=name[:80], name=name, names=names or None)

    @classmethod
    def system(cls) -> Actor:
        """The hub acting on its own (jobs, the CLI)."""
        return cls(type="system", id="hub", name="CityHub")


def entry_hash(entry: AuditEntry) -> str:
    """The hash of an entry's content chained to the previous entry's hash."""
    content = {
        "chain": entry.chain,
        "seq": entry.seq,
        "at": entry.at.astimezone(dt.UTC).isoformat(timespec="microseconds"),
        "city_id": entry.city_id,
        "actor": [entry.actor_type, entry.actor_id],
        "action": entry.action,
        "object": [entry.object_type, entry.object_id],
        "details": entry.details,
    }
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256((entry.prev_hash + canonical).encode()).hexdigest()


async def append(
    *,
    session: AsyncSession,
    actor: Actor,
    action: str,
    object_type: str,
    object_id: str | int,
    city_id: int | None = None,
    chain: str | None = None,
    details: dict[str, Any] | None = None,
) -> AuditEntry:
    """Add an entry at the end of its chain, in the caller's transaction."""
    if action not in ACTIONS:  # a new action needs its place in ACTIONS and its label
        raise ValueError(f"unknown audit action {action!r}")
    chain = chain or (f"city:{city_id}" if city_id is not None else HUB_CHAIN)
    if session.get_bind().dialect.name == "postgresql":
        # Writers of one chain queue here until the holder commits; other chains go on.
        await session.execute(text("SELECT pg_advisory_xact_lock(hashtext(:c))"), {"c": chain})
    last = (
        await session.execute(
            select(AuditEntry.seq, AuditEntry.hash)
            .where(AuditEntry.chain == chain)
            .order_by(AuditEntry.seq.desc())
            .limit(1)
        )
    ).first()
    entry = AuditEntry(
        chain=chain,
        seq=(last.seq + 1) if last else 1,
        at=utcnow(),
        city_id=city_id,
        actor_type=actor.type,
        actor_id=actor.id,
        action=action,
        object_type=object_type,
        object_id=str(object_id),
        details={"actor_name": actor.name, **(details or {})},
        prev_hash=last.hash if last else GENESIS,
    )
    entry.hash = entry_hash(entry)
    session.add(entry)
    await session.flush()
    return entry


@dataclass(frozen=True)
class ChainReport:
    """The outcome of checking one chain."""

    chain: str
    entries: int
    broken_at: int | None = None  # the id of the first entry that does not verify
    reason: str | None = None

    @property
    def ok(self) -> bool:
        """Whether every entry of the chain verified."""
        return self.broken_at is None


async def _entries(session: AsyncSession, chain: str) -> AsyncIterator[AuditEntry]:
    stream = await session.stream_scalars(
        select(AuditEntry).where(AuditEntry.chain == chain).order_by(AuditEntry.seq)
    )
    async for entry in stream:
        yield entry


async def verify(*, session: AsyncSession) -> list[ChainReport]:
    """Check every chain from its start; each report names the first broken entry, if any."""
    chains = (await session.scalars(select(AuditEntry.chain).distinct())).all()
    reports = []
    for chain in sorted(chains):
        prev, count, report = GENESIS, 0, None
        async for entry in _entries(session, chain):
            count += 1
            if entry.seq != count:
                reason = f"sequence jumps from {count - 1} to {entry.seq} (an entry is missing)"
            elif entry.prev_hash != prev:
                reason = "does not follow the previous entry's hash"
            elif entry_hash(entry) != entry.hash:
                reason = "content does not match its hash (the entry was altered)"
            else:
                prev = entry.hash
                continue
            report = ChainReport(chain=chain, entries=count, broken_at=entry.id, reason=reason)
            break
        reports.append(report or ChainReport(chain=chain, entries=count))
    return reports


async def list_entries(
    *,
    session: AsyncSession,
    city_ids: list[int] | None,
    action: str | None = None,
    actor_id: str | None = None,
    before_id: int | None = None,
    limit: int = 50,
) -> list[AuditEntry]:
    """Entries newest first, for the cities given (None: every city and the hub chain)."""
    query = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit)
    if city_ids is not None:
        query = query.where(AuditEntry.city_id.in_(city_ids))
    if action:
        query = query.where(AuditEntry.action == action)
    if actor_id:
        query = query.where(AuditEntry.actor_id == actor_id)
    if before_id:
        query = query.where(AuditEntry.id < before_id)
    return list((await session.scalars(query)).all())
