"""The city's figures: counted by the database, small cells and their complements suppressed,
the parity report, the open-data export; for the city's own staff only."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from typing import Any
from zoneinfo import ZoneInfo

import pyarrow.parquet as pq
from sqlalchemy import select

from cityhub.complaints.models import Complaint, ComplaintStatus, ComplaintType
from cityhub.identity.models import Channel, Resident, Role
from cityhub.platform.clock import Clock
from cityhub.platform.config import Settings
from cityhub.platform.db import Database
from cityhub.platform.scheduler import JobRegistry, Scheduler, load_jobs
from cityhub.subsidies.models import BenefitKind, Campaign, CampaignStatus, Claim, ClaimStatus
from tests.cities.factories import create_city
from tests.client import Api
from tests.helpers import at_local_time
from tests.history.factories import Parents, affairs, parents, people
from tests.identity.factories import PASSWORD, create_channel, create_staff

# Channel A serves 12 people, B 3 (a small cell), C 15.
SIZES = {"a": 12, "b": 3, "c": 15}


async def _city(db: Database, hub_clock: Clock) -> tuple[Parents, dict[str, str]]:
    p = await parents(db)
    slugs = {}
    for name, size in SIZES.items():
        login = await create_channel(db)
        slugs[name] = login.channel.slug
        for resident_id, user_id in await people(db, channel_id=login.channel.id, count=size):
            hub_clock.advance(seconds=1)
            await affairs(
                db,
                p,
                resident_id=resident_id,
                channel_id=login.channel.id,
                channel_slug=login.channel.slug,
                user_id=user_id,
                district="huangpu",
                notice=False,
            )
    return p, slugs


async def _staff(db: Database, api: Api, p: Parents, role: Role = Role.CITY_ADMIN) -> Api:
    member = await create_staff(db, city=p.city, role=role)
    return await api.as_staff(member.username, PASSWORD)


def _table(usage: dict[str, Any], *dims: str) -> list[dict[str, Any]]:
    return next(t["cells"] for t in usage["tables"] if t["dims"] == list(dims))


async def test_usage_is_counted_and_small_cells_suppressed(
    db: Database, api: Api, hub_clock: Clock
) -> None:
    p, slugs = await _city(db, hub_clock)
    staff = await _staff(db, api, p)
    usage = await staff.get(f"/v1/cities/{p.city.slug}/figures/usage")
    assert usage["threshold"] == 10
    [total] = _table(
        usage,
    )
    assert total["people"] == 30 and total["uses"] == 30 * 4 and not total["suppressed"]
    by_channel = {c["key"]["channel"]: c for c in _table(usage, "channel")}
    assert by_channel[slugs["b"]]["suppressed"] and by_channel[slugs["b"]]["people"] is None
    # B alone hidden would be the total minus A and C: A (the smaller) goes with it.
    assert by_channel[slugs["a"]]["suppressed"] and by_channel[slugs["a"]]["uses"] is None
    assert by_channel[slugs["c"]] == {
        "key": {"channel": slugs["c"]},
        "suppressed": False,
        "people": 15,
        "uses": 60,
        "successes": 15 * 3,  # payments completed, bookings booked, applications; requests open
        "fee_fen": 15 * 10,
    }
    by_district = {c["key"]["district"]: c for c in _table(usage, "district")}
    assert by_district["huangpu"]["people"] == 30 and by_district["huangpu"]["uses"] == 30
    for table in usage["tables"]:
        for cell in table["cells"]:
            assert cell["suppressed"] or cell["people"] >= 10


async def test_parity_per_channel_and_service(db: Database, api: Api, hub_clock: Clock) -> None:
    p, slugs = await _city(db, hub_clock)
    staff = await _staff(db, api, p, Role.AUDITOR)
    report = await staff.get(f"/v1/cities/{p.city.slug}/figures/parity")
    rows = {(r["pillar"], r["channel"]): r for r in report["rows"]}
    pay_c = rows[("payments", slugs["c"])]
    assert pay_c["service"] == p.bill_service.code and pay_c["success_rate"] == 1.0
    assert pay_c["fee_fen"] == 150 and pay_c["people"] == 15
    # The factory's payments answered in 200 ms + a few: nearest-rank median and p95.
    assert 200 <= pay_c["median_latency_ms"] <= pay_c["p95_latency_ms"] < 1000
    assert rows[("appointments", slugs["c"])]["median_latency_ms"] is None
    assert rows[("payments", slugs["b"])]["suppressed"]
    assert rows[("payments", slugs["b"])]["success_rate"] is None
    assert "subsidies" not in report["not_recorded"] and "complaints" not in report["not_recorded"]
    assert pay_c["complaints"] == 0 and rows[("payments", slugs["b"])]["complaints"] is None
    assert pay_c["subsidised"] == 0 and pay_c["subsidy_fen"] == 0


async def _complaints(db: Database, p: Parents, channel: str, *about: tuple[Any, bool]) -> None:
    """Complaints filed through the channel: (service, about one of its payments) each."""
    async with db.unit_of_work() as session:
        found = await session.scalar(select(Channel.id).where(Channel.slug == channel))
        for n, (service, payment) in enumerate(about):
            session.add(
                Complaint(
                    city_id=p.city.id, public_id=f"cmp_{channel}_{n}", channel_id=found,
                    type=ComplaintType.WRONG_AMOUNT if payment else ComplaintType.SERVICE,
                    status=ComplaintStatus.ASSIGNED, service_id=service.id,
                    payment_public_id=f"pay_{n}" if payment else None, description="x",
                    due_at=dt.datetime.now(dt.UTC),
                )
            )  # fmt: skip


async def _claims(db: Database, p: Parents, channel: str, *used: tuple[ClaimStatus, int]) -> None:
    """Claims of one campaign used on the channel's payments of the bill: (status, fen) each."""
    now = dt.datetime.now(dt.UTC)
    async with db.unit_of_work() as session:
        found = await session.scalar(select(Channel.id).where(Channel.slug == channel))
        campaign = await session.scalar(select(Campaign).where(Campaign.city_id == p.city.id))
        if campaign is None:
            campaign = Campaign(
                city_id=p.city.id, code="water-relief", name="Water relief", currency="CNY",
                status=CampaignStatus.ACTIVE, budget_fen=100_000, left_fen=100_000,
                benefit_kind=BenefitKind.FIXED, benefit_value=500, starts_at=now,
                ends_at=now + dt.timedelta(days=30), created_by="test",
            )  # fmt: skip
            session.add(campaign)
            await session.flush()
        others = select(Claim.resident_id)  # one claim per person
        residents = (
            await session.scalars(
                select(Resident.id).where(Resident.id.not_in(others)).limit(len(used))
            )
        ).all()
        for n, ((status, fen), resident) in enumerate(zip(used, residents, strict=True)):
            session.add(
                Claim(
                    city_id=p.city.id, public_id=f"clm_{channel}_{n}", campaign_id=campaign.id,
                    resident_id=resident, n=1, channel_id=found, status=status,
                    reserved_fen=fen, used_fen=fen, payment_public_id=f"pay_{channel}_{n}",
                    payment_channel_id=found, payment_service_id=p.bill_service.id,
                    expires_at=now + dt.timedelta(days=7),
                )
            )  # fmt: skip


async def test_parity_shows_the_subsidies_applied_per_channel_and_service(
    db: Database, api: Api, hub_clock: Clock
) -> None:
    p, slugs = await _city(db, hub_clock)
    # Two standing on C's payments; one given back by a refund (no longer used) is not counted.
    await _claims(db, p, slugs["c"], (ClaimStatus.USED, 500), (ClaimStatus.USED, 300),
                  (ClaimStatus.EXPIRED, 500))  # fmt: skip
    await _claims(db, p, slugs["b"], (ClaimStatus.USED, 500))
    staff = await _staff(db, api, p, Role.AUDITOR)
    report = await staff.get(f"/v1/cities/{p.city.slug}/figures/parity")
    rows = {(r["pillar"], r["channel"]): r for r in report["rows"]}
    assert rows[("payments", slugs["c"])]["subsidised"] == 2
    assert rows[("payments", slugs["c"])]["subsidy_fen"] == 800
    assert rows[("payments", slugs["b"])]["subsidised"] is None  # suppressed: too few people
    assert rows[("appointments", slugs["c"])]["subsidised"] == 0


async def test_parity_counts_complaints_per_channel_and_service(
    db: Database, api: Api, hub_clock: Clock
) -> None:
    p, slugs = await _city(db, hub_clock)
    bill, hospital = p.bill_service, p.hospital
    await _complaints(db, p, slugs["c"], (bill, True), (bill, True), (bill, False),
                      (hospital, False))  # fmt: skip
    await _complaints(db, p, slugs["a"], (hospital, False))
    await _complaints(db, p, slugs["b"], (bill, True))
    staff = await _staff(db, api, p, Role.AUDITOR)
    report = await staff.get(f"/v1/cities/{p.city.slug}/figures/parity")
    rows = {(r["pillar"], r["channel"]): r for r in report["rows"]}
    # About a bill's payments or the bill itself: payments; about the hospital: appointments.
    assert rows[("payments", slugs["c"])]["complaints"] == 3
    assert rows[("appointments", slugs["c"])]["complaints"] == 1
    # A and B are suppressed (B too small, A its complement): no count shows for them.
    assert rows[("appointments", slugs["a"])]["suppressed"]
    assert rows[("appointments", slugs["a"])]["complaints"] is None
    assert rows[("payments", slugs["b"])]["complaints"] is None
    assert rows[("lottery", slugs["c"])]["complaints"] == 0


async def test_open_data_in_csv_and_parquet(db: Database, api: Api, hub_clock: Clock) -> None:
    p, slugs = await _city(db, hub_clock)
    staff = await _staff(db, api, p)
    base = f"/v1/cities/{p.city.slug}/figures/open-data"
    text = await staff.get(base)
    rows = list(csv.DictReader(io.StringIO(text)))
    small = [r for r in rows if r["table"] == "channel" and r["channel"] == slugs["b"]]
    assert small == [{**small[0], "people": "", "uses": "", "suppressed": "true"}]
    assert all(r["suppressed"] == "true" or int(r["people"]) >= 10 for r in rows)
    await staff.get(base, params={"format": "parquet"})
    table = pq.read_table(io.BytesIO(staff.last.content)).to_pylist()
    assert len(table) == len(rows)
    assert {r["table"] for r in table} >= {
        "total",
        "channel",
        "day+pillar+service+channel+district",
    }
    dictionary = await staff.get(f"{base}/dictionary")
    assert [c["name"] for c in dictionary["columns"]] == list(rows[0])
    assert dictionary["method"]["threshold_people"] == 10


async def test_only_the_citys_staff_see_its_figures(
    db: Database, api: Api, hub_clock: Clock
) -> None:
    p, _ = await _city(db, hub_clock)
    url = f"/v1/cities/{p.city.slug}/figures/usage"
    await api.get(url, expect=401)
    elsewhere = await create_city(db)
    other = await create_staff(db, city=elsewhere)
    outsider = await api.as_staff(other.username, PASSWORD)
    await outsider.get(url, expect=404)
    provider = await _staff(db, api, p, Role.PROVIDER_STAFF)
    refused = await provider.get(url, expect=403)
    assert refused["code"] == "role_required"
    login = await create_channel(db)
    channel = await api.as_channel(login.client_id, login.secret)
    await channel.get(url, expect=401)  # a channel is no staff member


async def test_the_nightly_job_writes_the_open_data_files(
    db: Database, api: Api, hub_clock: Clock, settings: Settings
) -> None:
    p, slugs = await _city(db, hub_clock)
    jobs = JobRegistry()
    jobs.jobs["export-open-data"] = load_jobs().jobs["export-open-data"]
    due = at_local_time(hub_clock, "Asia/Shanghai", 3)  # after the 02:30 run
    await Scheduler(db, settings, jobs=jobs, clock=lambda: due).run_due()
    out = settings.data / "open-data" / p.city.slug
    day = (due.astimezone(ZoneInfo("Asia/Shanghai")).date() - dt.timedelta(days=1)).isoformat()
    rows = list(csv.DictReader(io.StringIO((out / f"figures-{day}.csv").read_text())))
    parquet = pq.read_table(out / f"figures-{day}.parquet").to_pylist()
    assert len(rows) == len(parquet) > 0
    assert [r for r in parquet if r["table"] == "total"][0]["people"] == 30
    assert json.loads((out / "dictionary.json").read_text())["method"]["threshold_people"] == 10
    assert not any(r["channel"] == slugs["b"] and r["people"] for r in rows)
