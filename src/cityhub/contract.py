"""What the API's description adds to FastAPI's: who calls (the identity domain's caller
dependencies and scopes), examples of the main requests and answers, the schema names chosen
for models that share one, and the webhooks a channel receives. `platform.openapi` applies it;
`openapi.json` at the root of the repository is the result (`cityhub openapi` writes it).

FHIR R4 and Open311 are left out of it (app.py includes them with `include_in_schema=False`):
their own standards describe them (a CapabilityStatement at /fhir/r4/metadata, Open311
discovery), and their errors are theirs (OperationOutcome, Open311 errors), not problems."""

from __future__ import annotations

from typing import Any

from cityhub.identity import deps as identity_deps
from cityhub.identity.security import SCOPES
from cityhub.platform.openapi import Callers, Contract
from cityhub.requests.schemas import ReportCreate
from cityhub.webhooks.catalogue import webhooks

_PAYMENT = {
    "id": "pay_8f3k2m",
    "city": "shanghai",
    "service": "water",
    "account": "0012345678",
    "bill_id": "B202611-0012345678",
    "period": "2026-11",
    "user_id": "u-1001",
    "amount_fen": 8650,
    "fee_fen": 0,
    "total_fen": 8650,
    "currency": "CNY",
    "status": "quoted",
    "quote_expires_at": "2026-12-01T08:15:00Z",
    "channel_txn_id": None,
    "provider_ref": None,
    "refunded_fen": 0,
    "failure_code": None,
    "failure_detail": None,
    "created_at": "2026-12-01T08:00:00Z",
    "confirmed_at": None,
    "completed_at": None,
    "failed_at": None,
}

EXAMPLES: dict[str, list[Any]] = {
    "TokenRead": [
        {
            "access_token": "eyJhbGciOiJIUzI1NiJ9...",
            "token_type": "Bearer",
            "expires_in": 900,
            "scope": "catalogue:read payments:write",
        }
    ],
    "CityRead": [
        {
            "slug": "shanghai",
            "names": {"zh-Hans": "上海", "zh-Hant": "上海", "en": "Shanghai"},
            "timezone": "Asia/Shanghai",
            "currency": "CNY",
            "status": "active",
        }
    ],
    "BillsRead": [
        {
            "service": "water",
            "account": "0012345678",
            "amount_rule": "exact",
            "fee_fixed_fen": 0,
            "fee_rate_bps": 0,
            "bills": [
                {
                    "bill_id": "B202611-0012345678",
                    "account": "0012345678",
                    "period": "2026-11",
                    "amount_fen": 8650,
                    "currency": "CNY",
                    "due_date": "2026-12-15",
                    "status": "unpaid",
                    "min_fen": 8650,
                    "max_fen": 8650,
                    "paid_fen": 0,
                    "remaining_fen": 8650,
                }
            ],
        },
        {
            "service": "power",
            "account": "0012345678",
            "amount_rule": "partial",
            "fee_fixed_fen": 0,
            "fee_rate_bps": 0,
            "bills": [
                {
                    "bill_id": "E202611-0012345678",
                    "account": "0012345678",
                    "period": "2026-11",
                    "amount_fen": 23480,
                    "currency": "CNY",
                    "due_date": "2026-12-20",
                    "status": "partially_paid",
                    "min_fen": 1000,
                    "max_fen": 23480,
                    "paid_fen": 10000,
                    "remaining_fen": 13480,
                }
            ],
        },
    ],
    "PaymentCreate": [
        {
            "service": "water",
            "bill_id": "B202611-0012345678",
            "amount_fen": 8650,
            "currency": "CNY",
            "user_id": "u-1001",
        }
    ],
    "PaymentConfirm": [
        {"channel_txn_id": "wx-20261201-000123", "amount_fen": 8650, "currency": "CNY"}
    ],
    "PaymentRead": [_PAYMENT],
    "ResidentCreate": [{"user_id": "u-1001", "phone": "13800138000"}],
}

# Models of one name in two domains (FastAPI would name them by module).
RENAMES = {
    "cityhub__billing__schemas__AccountRead": "LedgerAccountRead",
    "cityhub__notices__schemas__AccountRead": "NoticeAccountRead",
    "cityhub__notices__schemas__DeliveryRead": "NoticeDeliveryRead",
    "cityhub__webhooks__api__DeliveryRead": "WebhookDeliveryRead",
    "cityhub__notices__schemas__Texts": "NoticeTexts",
    "cityhub__requests__schemas__Texts": "RequestTexts",
}


def contract() -> Contract:
    """The hub's additions to its OpenAPI description."""
    callers = Callers(
        channel=identity_deps.current_channel,
        staff=identity_deps.current_staff,
        either=identity_deps.current_caller,
        scopes=dict(SCOPES),
        token_url="/v1/oauth/token",
        session_cookie=identity_deps.SESSION_COOKIE,
    )
    events, schemas = webhooks()
    return Contract(
        callers=callers,
        examples=EXAMPLES,
        webhooks=events,
        schemas=schemas,
        models=[ReportCreate],  # the report's JSON body, read by hand beside multipart
        renames=RENAMES,
    )
