"""History and figures factories: a city with one service of each pillar, and a person's
affairs written straight into each domain's tables (the flows that make them are tested in
their own domains)."""

from __future__ import annotations

import datetime as dt
import itertools
from dataclasses import dataclass

from sqlalchemy import update

from cityhub.appointments.models import (
    Booking,
    BookingStatus,
    ClinicSession,
    Department,
    Period,
    Practitioner,
    Slot,
)
from cityhub.billing.models import Bill, Payment, PaymentStatus
from cityhub.cities.models import City, Service, ServiceKind
from cityhub.identity.models import ChannelUser, DataAccess, LinkProof, Resident
from cityhub.lottery.models import (
    ApplicationStatus,
    LotteryApplication,
    LotteryRound,
    RoundStatus,
)
from cityhub.notices.models import GovAccount, Notice, NoticeRecipient
from cityhub.platform.clock import utcnow
from cityhub.platform.db import Database
from cityhub.requests.models import Department as RequestDepartment
from cityhub.requests.models import RequestStatus, RequestType, ServiceRequest
from tests.cities.factories import create_city, create_service

_seq = itertools.count(1)


@dataclass
class Parents:
    """One city's parents of every kind of affair."""

    city: City
    bill_service: Service
    hospital: Service
    lottery: Service
    bill_id: int
    department_id: int
    session_id: int
    slot_id: int
    request_department_id: int
    request_type_id: int
    notice_id: int


async def parents(db: Database, *, city: City | None = None) -> Parents:
    """A city (new unless given) with a bill service, a hospital, a lottery, a request type
    and a notice."""
    city = city or await create_city(db)
    bills = await create_service(db, city=city, kind=ServiceKind.BILL)
    hospital = await create_service(db, city=city, kind=ServiceKind.APPOINTMENT, category="medical")
    lottery = await create_service(db, city=city, kind=ServiceKind.LOTTERY, category="lottery")
    n = next(_seq)
    now = utcnow()
    async with db.unit_of_work() as session:
        bill = Bill(
            city_id=city.id,
            service_id=bills.id,
            account=f"A{n}",
            bill_ref=f"B{n}",
            period="2026-11",
            amount_fen=1000,
            currency="CNY",
            status="unpaid",
        )
        dept = Department(city_id=city.id, service_id=hospital.id, code=f"d{n}", name="Cardiology")
        session.add_all([bill, dept])
        await session.flush()
        doctor = Practitioner(
            city_id=city.id, service_id=hospital.id, department_id=dept.id, code=f"p{n}", name="Dr"
        )
        session.add(doctor)
        await session.flush()
        clinic = ClinicSession(
            city_id=city.id,
            public_id=f"S{n}",
            service_id=hospital.id,
            department_id=dept.id,
            practitioner_id=doctor.id,
            day=now.date(),
            period=Period.MORNING,
            currency="CNY",
            source="api",
        )
        session.add(clinic)
        await session.flush()
        slot = Slot(
            city_id=city.id,
            public_id=f"SL{n}",
            session_id=clinic.id,
            starts_at=now,
            ends_at=now + dt.timedelta(minutes=30),
            capacity=100,
        )
        rdept = RequestDepartment(city_id=city.id, code=f"rd{n}", names={"en": "Roads"})
        account = GovAccount(city_id=city.id, code=f"g{n}", name="Water", agency="Water Co")
        session.add_all([slot, rdept, account])
        await session.flush()
        rtype = RequestType(
            city_id=city.id,
            code=f"pothole{n}",
            group="roads",
            names={"en": "Pothole"},
            descriptions={"en": "A hole"},
            department_id=rdept.id,
            sla_hours=24,
            attributes=[],
        )
        notice = Notice(
            city_id=city.id,
            public_id=f"N{n}",
            account_id=account.id,
            kind="broadcast",
            template="t",
            texts={"en": {"title": "Water off", "body": "Tomorrow"}},
            created_by="test",
        )
        session.add_all([rtype, notice])
        await session.flush()
        return Parents(
            city=city,
            bill_service=bills,
            hospital=hospital,
            lottery=lottery,
            bill_id=bill.id,
            department_id=dept.id,
            session_id=clinic.id,
            slot_id=slot.id,
            request_department_id=rdept.id,
            request_type_id=rtype.id,
            notice_id=notice.id,
        )


async def affairs(
    db: Database,
    p: Parents,
    *,
    resident_id: int,
    channel_id: int,
    channel_slug: str,
    user_id: str,
    district: str | None = None,
    notice: bool = True,
) -> dict[str, str]:
    """One payment, booking, query, application and request of the person through the channel
    (and the notice in their inbox): each kind's public id, as the history shows it."""
    n = next(_seq)
    now = utcnow()
    async with db.unit_of_work() as session:
        rnd = LotteryRound(
            city_id=p.city.id,
            code=f"r{n}",
            service_id=p.lottery.id,
            kind="car-plate",
            title="Plates",
            opens_at=now,
            closes_at=now + dt.timedelta(days=1),
            quota=1,
            status=RoundStatus.OPEN,
            commitment="0" * 64,
        )
        session.add(rnd)
        await session.flush()
        payment = Payment(
            city_id=p.city.id,
            public_id=f"P{n}",
            channel_id=channel_id,
            service_id=p.bill_service.id,
            bill_id=p.bill_id,
            user_id=user_id,
            amount_fen=1000,
            fee_fen=10,
            total_fen=1010,
            currency="CNY",
            status=PaymentStatus.COMPLETED,
            quote_expires_at=now,
            confirmed_at=now,
            completed_at=now + dt.timedelta(milliseconds=200 + n),
        )
        booking = Booking(
            city_id=p.city.id,
            public_id=f"BK{n}",
            session_id=p.session_id,
            slot_id=p.slot_id,
            department_id=p.department_id,
            day=now.date(),
            channel_id=channel_id,
            user_id=user_id,
            resident_id=resident_id,
            patient_hash=f"h{n}",
            status=BookingStatus.BOOKED,
            checkin_code=f"C{n}",
            booked_at=now,
        )
        application = LotteryApplication(
            city_id=p.city.id,
            round_id=rnd.id,
            service_id=p.lottery.id,
            application_id=f"L{n}",
            resident_id=resident_id,
            channel_id=channel_id,
            status=ApplicationStatus.APPLIED,
        )
        request = ServiceRequest(
            city_id=p.city.id,
            public_id=f"R{n}",
            type_id=p.request_type_id,
            department_id=p.request_department_id,
            status=RequestStatus.SUBMITTED,
            description="hole",
            district=district,
            channel_id=channel_id,
            resident_id=resident_id,
            triage_due_at=now,
            due_at=now,
        )
        query = DataAccess(
            resident_id=resident_id,
            city_id=p.city.id,
            actor_type="channel",
            actor_id=channel_slug,
            actor_name=channel_slug,
            purpose=f"query traffic-{n}: 1 record(s) shown to the resident",
            fields="plate",
        )
        session.add_all([payment, booking, application, request, query])
        if notice:
            session.add(
                NoticeRecipient(city_id=p.city.id, notice_id=p.notice_id, resident_id=resident_id)
            )
    return {
        "payment": f"P{n}",
        "booking": f"BK{n}",
        "application": f"L{n}",
        "request": f"R{n}",
        "query": f"traffic-{n}",
    }


async def link(db: Database, *, channel_id: int, user_id: str, to_resident: int) -> None:
    """Link the channel's user to the person as a proven link would (a code to their phone)."""
    async with db.unit_of_work() as session:
        await session.execute(
            update(ChannelUser)
            .where(ChannelUser.channel_id == channel_id, ChannelUser.channel_user_id == user_id)
            .values(resident_id=to_resident, link_proof=LinkProof.SMS_CODE)
        )


async def people(db: Database, *, channel_id: int, count: int) -> list[tuple[int, str]]:
    """`count` residents, each the channel's own user: (resident id, user id)."""
    made = []
    async with db.unit_of_work() as session:
        for _ in range(count):
            resident = Resident()
            session.add(resident)
            await session.flush()
            user_id = f"u{next(_seq)}"
            session.add(
                ChannelUser(channel_id=channel_id, channel_user_id=user_id, resident_id=resident.id)
            )
            made.append((resident.id, user_id))
    return made
