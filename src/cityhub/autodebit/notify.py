"""What the resident is told about their auto-debits: before each debit (the notice period
starts then), a bill above the limit, and a debit that failed for good. Each once per debit
(the notice is keyed by it)."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from cityhub.autodebit.models import Agreement, AutoDebit
from cityhub.cities import service as cities
from cityhub.notices.sending import send_to_residents, system_account


async def tell(
    *, session: AsyncSession, agreement: Agreement, debit: AutoDebit, template: str
) -> bool:
    """Send one of the auto-debit notices (`autodebit-scheduled`, `-over-limit`, `-failed`)
    to the agreement's resident; whether it went now (not before)."""
    city = await cities.get_city(session=session, city_id=agreement.city_id)
    service = await cities.get_service(
        session=session, city_id=agreement.city_id, service_id=agreement.service_id
    )
    assert city is not None and service is not None  # foreign keys
    values: dict[str, object] = {
        "service": service.name_zh_hans,
        "account": agreement.account,
        "amount": debit.total_fen,
    }
    if template == "autodebit-scheduled":
        local = debit.debit_at.astimezone(ZoneInfo(city.timezone))
        values["when"] = local.strftime("%Y-%m-%d %H:%M")
    elif template == "autodebit-over-limit":
        values["limit"] = agreement.limit_fen
    notice = await send_to_residents(
        session=session,
        city_id=agreement.city_id,
        account=await system_account(session=session, city_id=agreement.city_id),
        template=template,
        values=values,
        resident_ids=[agreement.resident_id],
        dedupe_key=f"{template}:{debit.public_id}",
        ref=f"bill:{service.code}:{debit.bill_ref}",
        urgent=template != "autodebit-scheduled",
    )
    return notice is not None
