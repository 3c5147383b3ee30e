"""A receipt as a PDF document (ReportLab): one A5 page, labels in Chinese and English, the
QR code that opens the hub's verification page. The Chinese text uses a CID font that every
PDF reader carries (STSong-Light), so no font file is shipped or embedded."""

from __future__ import annotations

import io
from functools import cache

from reportlab.lib.pagesizes import A5
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.pdfgen.canvas import Canvas

from cityhub.billing.receipts import Receipt
from cityhub.platform.qr import qr_code

FONT = "STSong-Light"
MARGIN = 36.0  # points: half an inch
QR_SIZE = 120.0


@cache
def _font() -> str:
    pdfmetrics.registerFont(UnicodeCIDFont(FONT))
    return FONT


def yuan(fen: int, currency: str) -> str:
    """`¥12.34` (or `12.34 USD` for another currency)."""
    text = f"{'-' if fen < 0 else ''}{abs(fen) // 100}.{abs(fen) % 100:02d}"
    return f"¥{text}" if currency == "CNY" else f"{text} {currency}"


def rows(receipt: Receipt) -> list[tuple[str, str]]:
    """The receipt's lines: a bilingual label and its value."""
    found = [
        ("回执编号 Receipt number", receipt.number),
        ("缴费时间 Paid at", f"{receipt.local_time:%Y-%m-%d %H:%M:%S} ({receipt.timezone})"),
        ("收费单位 Biller", f"{receipt.biller_zh_hans} {receipt.biller_en}"),
        ("户号 Account", receipt.account_masked),
    ]
    if receipt.holder_masked:
        found.append(("户名 Account holder", receipt.holder_masked))
    found += [
        ("金额 Amount", yuan(receipt.amount_fen, receipt.currency)),
        ("手续费 Fee", yuan(receipt.fee_fen, receipt.currency)),
        ("合计 Total", yuan(receipt.total_fen, receipt.currency)),
        ("支付渠道 Channel", receipt.channel),
        ("收费单位流水号 Biller reference", receipt.provider_ref or "-"),
        ("缴费单号 Payment number", receipt.payment_id),
    ]
    if receipt.refunded_fen:
        found.append(("已退款 Refunded", yuan(receipt.refunded_fen, receipt.currency)))
    return found


def render(receipt: Receipt, verify_url: str) -> bytes:
    """The receipt as the bytes of a PDF file."""
    font = _font()
    out = io.BytesIO()
    width, height = A5
    pdf = Canvas(out, pagesize=A5, pageCompression=1)
    pdf.setTitle(f"Receipt {receipt.number}")
    pdf.setAuthor("CityHub")
    y = height - MARGIN - 16
    pdf.setFont(font, 16)
    pdf.drawString(MARGIN, y, "电子回执 Electronic receipt")
    y -= 28
    for label, value in rows(receipt):
        pdf.setFont(font, 8)
        pdf.drawString(MARGIN, y, label)
        pdf.setFont(font, 10)
        pdf.drawString(MARGIN, y - 12, value[:70])
        y -= 28
    _qr(pdf, verify_url, (width - QR_SIZE) / 2, MARGIN + 18)
    pdf.setFont(font, 8)
    pdf.drawCentredString(
        width / 2, MARGIN, "扫码在 CityHub 核验本回执 Scan to verify this receipt"
    )
    pdf.showPage()
    pdf.save()
    return out.getvalue()


def _qr(pdf: Canvas, data: str, x: float, y: float) -> None:
    """The QR code of `data`, drawn as squares in a `QR_SIZE` box with its lower left at x, y."""
    matrix = qr_code(data).matrix
    cell = QR_SIZE / len(matrix)
    pdf.setFillColorRGB(0, 0, 0)
    for r, line in enumerate(matrix):
        for c, dark in enumerate(line):
            if dark:
                pdf.rect(x + c * cell, y + QR_SIZE - (r + 1) * cell, cell, cell, stroke=0, fill=1)
