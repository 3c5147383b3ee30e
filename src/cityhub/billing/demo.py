"""The demo world's billers in the catalogue: each bill service's sub-type and the field its
customers fill in, labelled in the hub's three languages; and their amount rules, the same as
the simulated utilities' own (`simulators.biller_terms`): water the exact amount, power part
payments, gas advance payments."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from typing import TYPE_CHECKING

from sqlalchemy.ext.asyncio import AsyncSession

from cityhub.billing import terms
from cityhub.billing.models import AmountRule, BillerSubType
from cityhub.cities.enums import ServiceKind

if TYPE_CHECKING:
    from cityhub.cities.models import Service

ACCOUNT = r"^\d{6,10}$"  # the simulated utilities' account numbers
# service code: (sub-type, the account field's label in zh-Hans, zh-Hant, en)
BILLERS = {
    "water-bill": (BillerSubType.WATER, "用水户号", "用水戶號", "Water account number"),
    "power-bill": (BillerSubType.ELECTRICITY, "用电户号", "用電戶號", "Electricity account number"),
    "gas-bill": (BillerSubType.GAS, "燃气户号", "燃氣戶號", "Gas account number"),
}
# service code: its amount rule and bounds (as the simulated utility has them)
AMOUNTS = {
    "power-bill": terms.Terms(amount_rule=AmountRule.PARTIAL, min_fen=1_000, multiple_fen=100),
    "gas-bill": terms.Terms(
        amount_rule=AmountRule.ADVANCE, min_fen=1_000, multiple_fen=100, max_fen=500_000
    ),
}


async def load(*, session: AsyncSession, services: Iterable[Service]) -> int:
    """Give the demo's bill services their terms: sub-type and labelled account field; how
    many."""
    count = 0
    for service in services:
        if service.kind != ServiceKind.BILL or service.code not in BILLERS:
            continue
        sub_type, hans, hant, en = BILLERS[service.code]
        field = {
            "name": "account",
            "labels": {"zh-Hans": hans, "zh-Hant": hant, "en": en},
            "pattern": ACCOUNT,
            "example": "3100012345",
        }
        await terms.save(
            session=session,
            city_id=service.city_id,
            service_id=service.id,
            terms=dataclasses.replace(
                AMOUNTS.get(service.code, terms.Terms()),
                account_pattern=ACCOUNT,
                sub_type=sub_type,
                fields=(field,),
            ),
        )
        count += 1
    return count
