"""Provider staff are bound to their provider: another provider's objects in the same city do
not exist for them (404), and every such attempt is on the audit log."""

from __future__ import annotations

from sqlalchemy import func, select

from cityhub.appointments.models import ClinicSession
from cityhub.identity.audit import AuditEntry
from cityhub.identity.models import Role
from cityhub.platform.db import Database
from tests.appointments.factories import appt_world, verified_users
from tests.client import Api
from tests.identity.factories import PASSWORD, create_staff


async def _refusals(db: Database) -> list[AuditEntry]:
    async with db.unit_of_work() as session:
        rows = await session.scalars(
            select(AuditEntry).where(AuditEntry.action == "staff.provider_refused")
        )
        return list(rows.all())


async def test_hospital_desk_acts_for_its_own_hospital_only(api: Api, db: Database) -> None:
    world = await appt_world(db, api)
    [user] = await verified_users(db, world.login, 1)
    created = await world.session(places=2)
    booking = await world.book(user, created["slots"][0]["id"])
    other = await create_staff(
        db, city=world.city, role=Role.PROVIDER_STAFF, provider="Another Hospital"
    )
    clerk = await api.as_staff(other.username, PASSWORD)
    body = {
        "service": world.hospital.code, "department": "x", "practitioner": "dr-x",
        "day": created["day"], "period": "afternoon", "fee_fen": 0,
        "slots": [{"start": "14:00", "end": "14:30", "capacity": 1}],
    }  # fmt: skip
    assert (await clerk.post(world.url("/sessions"), json=body, expect=404))["code"] == (
        "service_not_found"
    )
    csv_text = (
        "service,department,department_name,practitioner,practitioner_name,practitioner_title,"
        "day,period,fee_fen,slot_start,slot_end,capacity\n"
        f"{world.hospital.code},x,X,dr-y,Dr Y,,{created['day']},afternoon,0,14:00,14:30,1\n"
    )
    await clerk.post(
        world.url("/sessions.csv"), content=csv_text.encode(),
        headers={"Content-Type": "text/csv"}, expect=404,
    )  # fmt: skip
    cancel = world.url(f"/bookings/{booking['id']}/cancellation")
    await clerk.post(cancel, expect=404)
    checked = await clerk.post(
        world.url("/check-ins"), json={"code": booking["checkin_code"]}, expect=404
    )
    assert checked["code"] == "booking_not_found"
    async with db.unit_of_work() as session:
        assert await session.scalar(select(func.count()).select_from(ClinicSession)) == 1
    assert len(await _refusals(db)) == 4
    # the hospital's own desk may
    mine = await create_staff(
        db, city=world.city, role=Role.PROVIDER_STAFF, provider=world.hospital.provider
    )
    desk = await api.as_staff(mine.username, PASSWORD)
    await desk.post(world.url("/sessions"), json=body)
    await desk.post(cancel, expect=200)
    await clerk.client.aclose()
    await desk.client.aclose()


async def test_a_schedule_row_with_a_surplus_field_is_refused_naming_it(
    api: Api, db: Database
) -> None:
    world = await appt_world(db, api)
    csv_text = (
        "service,department,department_name,practitioner,practitioner_name,practitioner_title,"
        "day,period,fee_fen,slot_start,slot_end,capacity\n"
        f"{world.hospital.code},x,X,dr-y,Dr Y,,2030-01-02,afternoon,0,14:00,14:30,1\n"
        f"{world.hospital.code},x,X,dr-y,Dr Y,,2030-01-02,afternoon,0,14:30,15:00,1,=1+1\n"
    )
    problem = await world.staff.post(
        world.url("/sessions.csv"), content=csv_text.encode(),
        headers={"Content-Type": "text/csv"}, expect=422,
    )  # fmt: skip
    assert (problem["code"], problem["field"]) == ("invalid_csv", "line 3")
    async with db.unit_of_work() as session:
        assert await session.scalar(select(func.count()).select_from(ClinicSession)) == 0
