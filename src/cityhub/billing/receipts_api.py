"""Routes of receipts: a completed payment's receipt for its channel (or staff), as data and
as a PDF, and the public verification of a receipt's signed link."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import Response

from cityhub.billing import receipt_pdf, receipts
from cityhub.billing.api import PaymentId, payment_view
from cityhub.billing.schemas import ReceiptRead, ReceiptVerificationRead
from cityhub.cities.deps import CityDep
from cityhub.identity.deps import CurrentCaller
from cityhub.platform.config import Settings
from cityhub.platform.deps import SessionDep, SettingsDep

router = APIRouter(tags=["payments"])
BASE = "/v1/cities/{city}/payments/{payment_id}"


@router.get(
    BASE + "/receipt",
    response_model=ReceiptRead,
    operation_id="getReceipt",
    summary="A completed payment's electronic receipt",
)
async def get_receipt(
    session: SessionDep,
    settings: SettingsDep,
    caller: CurrentCaller,
    city: CityDep,
    payment_id: PaymentId,
) -> ReceiptRead:
    """The receipt of a completed payment: its number, time (UTC and the city's), biller,
    masked account, amounts, channel, the biller's reference, and links to its PDF and to the
    hub's verification page (what its QR code opens). 404 `receipt_not_found` before the
    biller accepted the payment."""
    view = await payment_view(session, caller, city, payment_id)
    receipt = await receipts.of_view(session=session, city=city, view=view)
    return receipt_read(receipt, settings)


@router.get(
    BASE + "/receipt.pdf",
    response_class=Response,
    operation_id="getReceiptPdf",
    summary="A completed payment's receipt as a PDF",
    responses={200: {"content": {"application/pdf": {}}}},
)
async def get_receipt_pdf(
    session: SessionDep,
    settings: SettingsDep,
    caller: CurrentCaller,
    city: CityDep,
    payment_id: PaymentId,
) -> Response:
    """The receipt as a one-page PDF with its verification QR code."""
    view = await payment_view(session, caller, city, payment_id)
    receipt = await receipts.of_view(session=session, city=city, view=view)
    return pdf_response(receipt, receipts.verify_url(settings, receipt))


def pdf_response(receipt: receipts.Receipt, verify_url: str) -> Response:
    """The receipt's PDF as a download named after its number."""
    return Response(
        receipt_pdf.render(receipt, verify_url),
        media_type="application/pdf",
        headers={
            "Content-Disposition": f'inline; filename="{receipt.number}.pdf"',
            "Cache-Control": "no-store",
        },
    )


@router.get(
    "/v1/receipts/verification",
    response_model=ReceiptVerificationRead,
    operation_id="verifyReceipt",
    summary="Verify a receipt's signed link",
)
async def verify_receipt(
    session: SessionDep,
    settings: SettingsDep,
    token: Annotated[str, Query(min_length=1, max_length=2000, description="the `t` of its link")],
) -> ReceiptVerificationRead:
    """Whether a receipt is genuine: its signature holds and the hub holds that payment with
    the same fields (`valid`), or why not (`forged`, `malformed`, `unknown`, `differs`).
    Anyone holding a receipt may ask; a genuine one's answer repeats what it says."""
    found = await receipts.verify(session=session, settings=settings, token=token)
    return ReceiptVerificationRead(
        valid=found.valid,
        reason=found.reason,
        receipt=receipt_read(found.receipt, settings) if found.receipt else None,
    )


def pdf_path(receipt: receipts.Receipt) -> str:
    """Where the channel API serves the receipt's PDF."""
    return BASE.format(city=receipt.city, payment_id=receipt.payment_id) + "/receipt.pdf"


def receipt_read(receipt: receipts.Receipt, settings: Settings) -> ReceiptRead:
    """The API shape of a receipt, with its links."""
    return ReceiptRead(
        number=receipt.number,
        payment_id=receipt.payment_id,
        city=receipt.city,
        issued_at=receipt.issued_at,
        issued_at_local=f"{receipt.local_time:%Y-%m-%d %H:%M:%S}",
        timezone=receipt.timezone,
        biller=receipt.service,
        biller_name={
            "zh-Hans": receipt.biller_zh_hans,
            "zh-Hant": receipt.biller_zh_hant,
            "en": receipt.biller_en,
        },
        account_masked=receipt.account_masked,
        holder_masked=receipt.holder_masked,
        amount_fen=receipt.amount_fen,
        fee_fen=receipt.fee_fen,
        total_fen=receipt.total_fen,
        currency=receipt.currency,
        refunded_fen=receipt.refunded_fen,
        channel=receipt.channel,
        provider_ref=receipt.provider_ref,
        verify_url=receipts.verify_url(settings, receipt),
        pdf_url=settings.base_url + pdf_path(receipt),
    )
