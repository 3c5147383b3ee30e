"""Electronic receipts: one per completed payment, signed by the hub so that a forged one (an
amount changed, a payment made up) fails verification.

A receipt is not stored: it is what the payment's row says once the biller accepted it, and
its signature is an HMAC-SHA256, under a key derived from the hub's `CITYHUB_SECRET_KEY`, of
the fields a reader checks (number, time, amount, fee, currency, masked account, biller's
reference). The receipt's QR code opens the hub's verification page with those fields and the
signature in its link; the page recomputes the signature and compares what it was shown with
the payment the hub holds. The document itself (HTML, PDF) is drawn by the pages and by
`receipt_pdf`.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import hmac
import json
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

from cityhub.billing import service as payments
from cityhub.billing.enums import PaymentStatus
from cityhub.cities import service as cities
from cityhub.identity import service as identity
from cityhub.platform.errors import NotFound

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from cityhub.cities.models import City
    from cityhub.platform.config import Settings

KEY_PURPOSE = b"cityhub receipts v1"  # the signing key is the secret key's, for this use only
VERIFY_PATH = "/receipts/verify"
SIGNED = ("number", "city", "payment_id", "issued_at", "amount_fen", "fee_fen", "currency",
          "account_masked", "provider_ref")  # fmt: skip


@dataclass(frozen=True)
class Receipt:
    """What a receipt shows; `issued_at` is the biller's acceptance, in UTC."""

    number: str
    city: str
    payment_id: str
    issued_at: dt.datetime
    timezone: str
    biller_zh_hans: str
    biller_zh_hant: str
    biller_en: str
    service: str
    account_masked: str
    holder_masked: str | None
    amount_fen: int
    fee_fen: int
    total_fen: int
    currency: str
    refunded_fen: int
    channel: str
    provider_ref: str | None
    # The channel's name in the hub's languages (the page shows the reader's; not signed).
    channel_names: dict[str, str] = field(default_factory=dict, compare=False)

    @property
    def local_time(self) -> dt.datetime:
        """When the payment was accepted, in the city's time."""
        return self.issued_at.astimezone(ZoneInfo(self.timezone))

    def signed_fields(self) -> dict[str, Any]:
        """The fields the signature covers, as they travel in the verification link."""
        fields = asdict(self)
        fields["issued_at"] = int(self.issued_at.timestamp())
        return {k: fields[k] for k in SIGNED}


@dataclass(frozen=True)
class Verification:
    """What checking a receipt found: valid or not, why, and the receipt as the hub holds it."""

    valid: bool
    reason: str  # valid | forged | malformed | unknown | differs
    receipt: Receipt | None


def mask_account(account: str) -> str:
    """An account with all but its first two and last four characters hidden (`31****5678`);
    a short one keeps its last two only."""
    if len(account) <= 6:
        return "*" * max(len(account) - 2, 1) + account[-2:]
    return account[:2] + "*" * (len(account) - 6) + account[-4:]


def _key(settings: Settings) -> bytes:
    return hmac.new(settings.secret_key.encode(), KEY_PURPOSE, hashlib.sha256).digest()


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _canonical(fields: dict[str, Any]) -> bytes:
    return json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def sign(settings: Settings, receipt: Receipt) -> str:
    """The receipt's token: its signed fields and their HMAC, both base64url, joined by a dot."""
    payload = _canonical(receipt.signed_fields())
    mac = hmac.new(_key(settings), payload, hashlib.sha256).digest()
    return f"{_b64(payload)}.{_b64(mac)}"


def verify_path(settings: Settings, receipt: Receipt) -> str:
    """The path of the hub's page that verifies this receipt (a link on the hub's own pages)."""
    return f"{VERIFY_PATH}?t={quote(sign(settings, receipt))}"


def verify_url(settings: Settings, receipt: Receipt) -> str:
    """The hub's page that verifies this receipt, at the hub's public address: what its QR
    code opens."""
    return settings.base_url + verify_path(settings, receipt)


def read_token(settings: Settings, token: str) -> dict[str, Any] | None:
    """The signed fields of a token whose signature holds; None when forged or malformed."""
    payload_part, _, mac_part = token.partition(".")
    try:
        payload, mac = _unb64(payload_part), _unb64(mac_part)
    except (binascii.Error, ValueError):
        return None
    expected = hmac.new(_key(settings), payload, hashlib.sha256).digest()
    if not hmac.compare_digest(mac, expected):
        return None
    fields = json.loads(payload)
    return fields if isinstance(fields, dict) else None


def _token_fields(token: str) -> dict[str, Any] | None:
    """The fields a token claims, signature unchecked (to tell forged from malformed)."""
    try:
        fields = json.loads(_unb64(token.partition(".")[0]))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        return None
    return fields if isinstance(fields, dict) and set(SIGNED) <= set(fields) else None


async def of_view(*, session: AsyncSession, city: City, view: payments.PaymentView) -> Receipt:
    """The receipt of a completed payment; NotFound for any other (no receipt yet)."""
    p, bill, service = view.payment, view.bill, view.service
    if p.status != PaymentStatus.COMPLETED or p.completed_at is None:
        raise NotFound("this payment has no receipt (not completed)", code="receipt_not_found")
    channel = await identity.get_channel(session=session, channel_id=p.channel_id)
    issued = p.completed_at.replace(microsecond=0)
    issued = issued if issued.tzinfo else issued.replace(tzinfo=dt.UTC)
    hex_id = p.public_id.partition("_")[2] or p.public_id
    return Receipt(
        number=f"RC{issued.astimezone(ZoneInfo(city.timezone)):%Y%m%d}-{hex_id.upper()}",
        city=city.slug,
        payment_id=p.public_id,
        issued_at=issued,
        timezone=city.timezone,
        biller_zh_hans=service.name_zh_hans,
        biller_zh_hant=service.name_zh_hant,
        biller_en=service.name_en,
        service=service.code,
        account_masked=mask_account(bill.account),
        holder_masked=bill.holder,  # as the biller masked it (none if it sent no holder)
        amount_fen=p.amount_fen,
        fee_fen=p.fee_fen,
        total_fen=p.total_fen,
        currency=p.currency,
        refunded_fen=p.refunded_fen,
        channel=channel.name if channel else "",
        channel_names=dict(channel.names) if channel else {},
        provider_ref=p.provider_ref,
    )


async def get_or_raise(
    *, session: AsyncSession, city: City, public_id: str, channel_id: int | None
) -> Receipt:
    """The receipt of a payment of the city (of the channel, when one is given)."""
    view = await payments.get_view_or_raise(
        session=session, city_id=city.id, public_id=public_id, channel_id=channel_id
    )
    return await of_view(session=session, city=city, view=view)


async def verify(*, session: AsyncSession, settings: Settings, token: str) -> Verification:
    """Check a receipt's token: its signature, then that the hub holds that payment (in the
    city the token names) with the same fields."""
    fields = read_token(settings, token[:2000])
    if fields is None:
        return Verification(False, "forged" if _token_fields(token[:2000]) else "malformed", None)
    city = await cities.get_city_by_slug(session=session, slug=str(fields.get("city", ""))[:60])
    if city is None:
        return Verification(False, "unknown", None)
    try:
        view = await payments.get_view_or_raise(
            session=session,
            city_id=city.id,
            public_id=str(fields.get("payment_id", ""))[:40],
            channel_id=None,
        )
        held = await of_view(session=session, city=city, view=view)
    except NotFound:
        return Verification(False, "unknown", None)
    if held.signed_fields() != fields:
        return Verification(False, "differs", held)
    return Verification(True, "valid", held)
