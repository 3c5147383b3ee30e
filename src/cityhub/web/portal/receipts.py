"""Receipts on the portal: the receipt of a completed payment on its page (number, time,
verification QR code; its PDF is beside the payment's page, in `bills`), and the hub's public
page that verifies a receipt's QR code.

The receipt itself is billing's (`billing.receipts`): the portal draws it, as the channel API
serves it to other channels.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response

from cityhub.billing import receipts
from cityhub.billing import service as payments
from cityhub.billing.enums import PaymentStatus
from cityhub.platform.config import Settings
from cityhub.platform.deps import SessionDep, SettingsDep
from cityhub.platform.qr import qr_svg
from cityhub.web.portal.visitor import OptionalVisitor, page

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from cityhub.cities.models import City

router = APIRouter(include_in_schema=False)


async def receipt_of(
    session: AsyncSession, settings: Settings, city: City, view: payments.PaymentView
) -> dict[str, Any]:
    """What a payment's page shows of its receipt: the receipt and the QR code of its
    verification link once the biller accepted the payment; nothing before."""
    if view.payment.status != PaymentStatus.COMPLETED:
        return {"receipt": None, "receipt_qr": None, "receipt_link": None}
    receipt = await receipts.of_view(session=session, city=city, view=view)
    link = receipts.verify_url(settings, receipt)
    return {
        "receipt": receipt,
        "receipt_qr": qr_svg(link, title=receipt.number),
        "receipt_link": receipts.verify_path(settings, receipt),  # on this hub: its own address
    }


@router.get(receipts.VERIFY_PATH, response_class=HTMLResponse)
async def verify_page(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    visitor: OptionalVisitor,
    t: Annotated[str, Query(max_length=2000)] = "",
) -> Response:
    """What a receipt's QR code opens: whether the receipt is genuine, and what the hub holds
    of it to compare with the paper. Anyone may look (no sign-in)."""
    found = await receipts.verify(session=session, settings=settings, token=t)
    return page(
        request,
        settings,
        "portal/receipt_verify.html",
        status=200 if found.valid else 400 if found.reason in ("malformed", "forged") else 404,
        visitor=visitor,
        found=found,
    )
