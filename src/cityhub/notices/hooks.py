"""Notices other pillars cause: bill and appointment reminders, lottery results, conversions.

Each is sent once however often it runs: a transactional notice carries a `dedupe_key` that is
unique in its city (`bill-due:<bill>:<resident>`, `appointment:<booking>:<time>`,
`lottery:<round>:won`), and the outbox runs each handler to completion once.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING
from urllib.parse import quote, urlencode
from zoneinfo import ZoneInfo

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from cityhub.appointments import service as appointments
from cityhub.billing import bills
from cityhub.cities import service as cities
from cityhub.lottery import service as lottery
from cityhub.lottery.enums import ApplicationStatus
from cityhub.notices import service
from cityhub.notices.models import GovAccount, Notice, NoticeRecipient, SavedBillerAccount
from cityhub.notices.sending import send_to_residents, system_account
from cityhub.outbox import HandlerContext, OutboxEvent, registry
from cityhub.platform import texts
from cityhub.platform.config import Settings
from cityhub.platform.db import utcnow

if TYPE_CHECKING:
    from cityhub.cities.models import City


async def remind_bills(
    *,
    session: AsyncSession,
    settings: Settings,
    city: City,
    days: int,
    now: dt.datetime | None = None,
) -> int:
    """Remind each resident who saved the account of every unpaid bill due in `days` days (in
    the city's calendar), once per bill and resident; how many reminders were sent now."""
    today = (now or utcnow()).astimezone(ZoneInfo(city.timezone)).date()
    due = today + dt.timedelta(days=days)
    sent = 0
    for bill, biller in await bills.unpaid_due_on(session=session, city_id=city.id, due=due):
        savers = await session.scalars(
            select(SavedBillerAccount.resident_id).where(
                SavedBillerAccount.city_id == city.id,
                SavedBillerAccount.service_id == biller.id,
                SavedBillerAccount.account == bill.account,
            )
        )
        account = await session.scalar(
            select(GovAccount)
            .where(GovAccount.city_id == city.id, GovAccount.service_id == biller.id)
            .order_by(GovAccount.id)
            .limit(1)
        ) or await system_account(session=session, city_id=city.id)
        query = urlencode({"account": bill.account, "bill": bill.bill_ref})
        link = f"{settings.base_url.rstrip('/')}/c/{city.slug}/pay/{quote(biller.code)}?{query}"
        for resident_id in savers.all():
            notice = await send_to_residents(
                session=session,
                city_id=city.id,
                account=account,
                template="bill-due",
                values={
                    "service": {
                        "zh-Hans": biller.name_zh_hans,
                        "zh-Hant": biller.name_zh_hant,
                        "en": biller.name_en,
                    },  # fmt: skip
                    "account": bill.account,
                    "amount": bill.amount_fen,
                    "due": due.isoformat(),
                },
                resident_ids=[resident_id],
                dedupe_key=f"bill-due:{bill.id}:{resident_id}",
                ref=f"bill:{biller.code}:{bill.bill_ref}",
                link=link,
            )
            sent += notice is not None
    return sent


@registry.on("appointment.reminder", "notices.appointment_reminder")
async def appointment_reminder(ctx: HandlerContext, event: OutboxEvent) -> None:
    """Remind the resident of tomorrow's appointment (once per booking and time), unless the
    booking was cancelled or released since."""
    data = event.payload
    session = ctx.session
    if not await appointments.booking_is_active(session, str(data["booking"])):
        return
    city = await cities.get_city_or_raise(session=session, slug=str(data["city"]))
    starts = dt.datetime.fromisoformat(str(data["starts_at"]))
    if starts.tzinfo is None:
        starts = starts.replace(tzinfo=ZoneInfo(city.timezone))
    local = starts.astimezone(ZoneInfo(city.timezone))
    await send_to_residents(
        session=session,
        city_id=city.id,
        account=await system_account(session=session, city_id=city.id),
        template="appointment-reminder",
        values={
            # in each language where the booking told them (a reminder queued before, one)
            "hospital": data.get("hospital_names") or str(data["hospital"]),
            "department": data.get("department_names") or str(data["department"]),
            "time": local.strftime("%Y-%m-%d %H:%M"),
        },
        resident_ids=[int(data["resident_id"])],
        dedupe_key=f"appointment:{data['booking']}:{local.isoformat()}",
        ref=f"booking:{data['booking']}",
    )


@registry.on("lottery.drawn", "notices.lottery_results")
async def lottery_results(ctx: HandlerContext, event: OutboxEvent) -> None:
    """Tell every drawn applicant of the round whether they won."""
    session = ctx.session
    city = await cities.get_city_or_raise(session=session, slug=str(event.payload["city"]))
    code = str(event.payload["round"])
    drawn = await lottery.outcomes(session=session, city_id=city.id, code=code)
    round_ = await lottery.get_round_or_raise(session=session, city_id=city.id, code=code)
    title = {lang: texts.pick(round_.titles, lang, round_.title) for lang in texts.LANGUAGES}
    account = await system_account(session=session, city_id=city.id)
    for status, template in (
        (ApplicationStatus.WON, "lottery-won"),
        (ApplicationStatus.LOST, "lottery-lost"),
    ):
        await send_to_residents(
            session=session,
            city_id=city.id,
            account=account,
            template=template,
            values={"round": title},
            resident_ids=[r for r, s in drawn if s == status],
            dedupe_key=f"lottery:{code}:{status.value}",
            ref=f"lottery:{code}",
            urgent=False,
        )


@registry.on("payment.completed", "notices.conversion")
async def conversion(ctx: HandlerContext, event: OutboxEvent) -> None:
    """A bill paid after its notice was opened (within the city's window) counts as acted."""
    if event.city_id is None:
        return
    payment = event.payload["payment"]
    ref = f"bill:{payment['service']}:{payment['bill_id']}"
    paid_at = dt.datetime.fromisoformat(str(payment.get("completed_at") or utcnow().isoformat()))
    rules = await service.settings_of(session=ctx.session, city_id=event.city_id)
    since = paid_at - dt.timedelta(days=rules.conversion_days)
    notices = select(Notice.id).where(Notice.city_id == event.city_id, Notice.ref == ref)
    await ctx.session.execute(
        update(NoticeRecipient)
        .where(
            NoticeRecipient.city_id == event.city_id,
            NoticeRecipient.notice_id.in_(notices),
            NoticeRecipient.opened_at.is_not(None),
            NoticeRecipient.opened_at <= paid_at,
            NoticeRecipient.opened_at >= since,
            NoticeRecipient.acted_at.is_(None),
        )
        .values(
            acted_at=paid_at,
            acted_fen=int(payment["amount_fen"]),
            acted_currency=str(payment["currency"]),
        )
    )
