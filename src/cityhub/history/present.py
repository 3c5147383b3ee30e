"""The history's items as a channel or the portal shows them, and the export of the person's
own data (JSON and CSV), for the API and the portal alike."""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from cityhub.cities import service as cities
from cityhub.history import service as history
from cityhub.history.schemas import HistoryItemRead, ResidentExport
from cityhub.identity import residents
from cityhub.identity import service as identity
from cityhub.identity.enums import IdentityLevel
from cityhub.identity.pii import Vault
from cityhub.identity.schemas import DataAccessRead, ResidentRead
from cityhub.platform import csvsafe, timeline
from cityhub.platform.clock import utcnow

# Where the calling channel reads its own object through the domain's API.
OWN_DETAIL = {
    "payment": "/v1/cities/{city}/payments/{ref}",
    "booking": "/v1/cities/{city}/appointments/bookings/{ref}",
    "request": "/v1/cities/{city}/requests/{ref}",
}
MAX_EXPORT = 10_000
CSV_COLUMNS = (
    "at",
    "kind",
    "city",
    "service",
    "channel",
    "own",
    "title",
    "status",
    "amount_fen",
    "currency",
    "ref",
)


class Names:
    """City slugs, service codes and channel slugs, each looked up once per answer."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        self.cities: dict[int, str | None] = {}
        self.services: dict[tuple[int, int], str | None] = {}
        self.channels: dict[int, str | None] = {}

    async def city(self, city_id: int | None) -> str | None:
        if city_id is None:
            return None
        if city_id not in self.cities:
            self.cities[city_id] = await cities.get_city_slug(session=self.session, city_id=city_id)
        return self.cities[city_id]

    async def service(self, city_id: int | None, service_id: int | None) -> str | None:
        if city_id is None or service_id is None:
            return None
        key = (city_id, service_id)
        if key not in self.services:
            found = await cities.get_service(
                session=self.session, city_id=city_id, service_id=service_id
            )
            self.services[key] = found.code if found else None
        return self.services[key]

    async def channel(self, channel_id: int | None) -> str | None:
        if channel_id is None:
            return None
        if channel_id not in self.channels:
            self.channels[channel_id] = await identity.get_channel_slug(
                session=self.session, channel_id=channel_id
            )
        return self.channels[channel_id]


async def items(
    *,
    names: Names,
    vault: Vault,
    scope: history.Scope,
    entries: list[timeline.Entry],
    link: Callable[[str], str],
) -> list[HistoryItemRead]:
    """The entries as the viewer sees them: another channel's items without its ids."""
    shown = []
    for entry in entries:
        own = entry.channel_id in (None, scope.viewer_channel_id)
        city = await names.city(entry.city_id)
        token = history.item_id(vault, entry)
        detail = OWN_DETAIL.get(entry.kind) if own and entry.ref else None
        shown.append(
            HistoryItemRead(
                id=token,
                kind=entry.kind,
                at=entry.at,
                city=city,
                service=await names.service(entry.city_id, entry.service_id),
                channel=await names.channel(entry.channel_id),
                own=own and entry.channel_id is not None,
                title=entry.title,
                status=entry.status,
                amount_fen=entry.amount_fen,
                currency=entry.currency,
                ref=entry.ref if own else None,
                link=detail.format(city=city, ref=entry.ref) if detail and city else link(token),
                details=entry.details,
            )
        )
    return shown


async def everything(
    *, session: AsyncSession, scope: history.Scope
) -> tuple[list[timeline.Entry], bool]:
    """The whole history for an export (at most `MAX_EXPORT` items) and whether it was cut."""
    found: list[timeline.Entry] = []
    before = None
    while len(found) < MAX_EXPORT:
        chunk, before = await history.page(
            session=session, scope=scope, before=before, limit=min(500, MAX_EXPORT - len(found))
        )
        found += chunk
        if before is None:
            return found, False
    return found, True


def to_csv(shown: list[HistoryItemRead]) -> str:
    """The items as a CSV file (no cell a spreadsheet would run as a formula)."""
    out = io.StringIO()
    writer = csvsafe.writer(out)
    writer.writerow(CSV_COLUMNS)
    for item in shown:
        row: dict[str, Any] = item.model_dump(mode="json")
        writer.writerow([row[c] for c in CSV_COLUMNS])
    return out.getvalue()


async def build_export(
    *,
    session: AsyncSession,
    vault: Vault,
    found: residents.ChannelResident,
    scope: history.Scope,
    link_base: str | None = None,
) -> ResidentExport:
    """The export of the person's own data as the viewer of `scope` may give it."""
    entries, truncated = await everything(session=session, scope=scope)
    base = link_base or f"/v1/residents/{found.link.channel_user_id}/history/items/"
    shown = await items(
        names=Names(session),
        vault=vault,
        scope=scope,
        entries=entries,
        link=lambda token: base + token,
    )
    accesses = await residents.list_access(
        session=session, resident_id=found.resident.id, before_id=None, limit=1000
    )
    resident = found.resident
    profile = ResidentRead(
        user_id=found.link.channel_user_id,
        verified=resident.level != IdentityLevel.NONE,
        identity_level=resident.level,
        name=residents.display_name(vault, resident),
        phone=resident.phone_masked,
        id_number=resident.id_number_masked,
        created_at=found.link.created_at,
    )
    return ResidentExport(
        exported_at=utcnow(),
        resident=profile,
        items=shown,
        truncated=truncated,
        data_access=[DataAccessRead.of(a) for a in accesses],
    )
