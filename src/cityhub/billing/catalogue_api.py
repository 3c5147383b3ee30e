"""Routes of the biller catalogue: the billers a channel may offer, each with its sub-type, the
fields it asks, its amount rule, fee and hours, for the channel to draw its form from."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Path

from cityhub.billing import catalogue
from cityhub.billing.schemas import BillerField, BillerRead
from cityhub.cities.deps import CityDep
from cityhub.identity.deps import ChannelCaller, CurrentCaller
from cityhub.platform.deps import SessionDep
from cityhub.platform.paging import Page, PageDep

if TYPE_CHECKING:
    from cityhub.cities.models import City

router = APIRouter(tags=["payments"])
BillerCode = Annotated[str, Path(max_length=60, description="the biller's service code")]


def stored_fields(fields: Sequence[BillerField] | None) -> tuple[dict[str, Any], ...] | None:
    """Declared fields as the terms store them (labels keyed by language tag)."""
    if not fields:
        return None
    return tuple(f.model_dump(mode="json", by_alias=True) for f in fields)


def _read(biller: catalogue.Biller, city: City) -> BillerRead:
    service, t = biller.service, biller.terms
    low = t.min_fen
    return BillerRead(
        code=service.code,
        names={"zh-Hans": service.name_zh_hans, "zh-Hant": service.name_zh_hant,
               "en": service.name_en},
        provider=service.provider,
        sub_type=t.sub_type,
        fields=[BillerField.model_validate(f.as_dict()) for f in catalogue.fields_of(t)],
        amount_rule=t.amount_rule,
        min_fen=low,
        max_fen=t.max_fen,
        multiple_fen=t.multiple_fen,
        fee_fixed_fen=t.fee_fixed_fen,
        fee_rate_bps=t.fee_rate_bps,
        accept_from=t.accept_from,
        accept_until=t.accept_until,
        timezone=city.timezone,
    )  # fmt: skip


def _channel_of(caller: object) -> int | None:
    return caller.channel.id if isinstance(caller, ChannelCaller) else None


@router.get(
    "/billers",
    operation_id="listBillers",
    summary="List the city's billers",
    response_model=Page[BillerRead],
)
async def list_billers(
    session: SessionDep, caller: CurrentCaller, city: CityDep, page: PageDep
) -> Page[BillerRead]:
    """The city's billers with the fields each asks (a channel sees those granted to it and
    active; staff see all)."""
    found = await catalogue.get_all(
        session=session,
        city_id=city.id,
        channel_id=_channel_of(caller),
        after=page.after,
        limit=page.limit,
    )
    last = found[-1].service.id if found else None
    return page.page([_read(b, city) for b in found], last)


@router.get(
    "/billers/{code}",
    operation_id="getBiller",
    summary="Get a biller",
    response_model=BillerRead,
)
async def get_biller(
    session: SessionDep, caller: CurrentCaller, city: CityDep, code: BillerCode
) -> BillerRead:
    """One biller: its sub-type, the fields a customer fills in, amount rule, fee and hours."""
    biller = await catalogue.get_or_raise(
        session=session, city_id=city.id, channel_id=_channel_of(caller), code=code
    )
    return _read(biller, city)
