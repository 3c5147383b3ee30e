"""Routes of subsidies: the city's admins create, watch, settle and stop campaigns; a channel
reads them, claims for its verified users and lists a user's claims."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query
from fastapi.responses import JSONResponse

from cityhub.cities.deps import CityDep
from cityhub.connectors.deps import HubDep
from cityhub.identity import residents
from cityhub.identity.deps import (
    ChannelCaller,
    CurrentCaller,
    CurrentChannel,
    CurrentStaff,
    StaffCaller,
    VaultDep,
    require_staff_role,
)
from cityhub.identity.enums import Role
from cityhub.platform.deps import SessionDep
from cityhub.platform.idempotency import IdempotencyDep
from cityhub.platform.paging import Page, PageDep
from cityhub.subsidies import claims, flows, service
from cityhub.subsidies.schemas import (
    CampaignCreate,
    CampaignFigures,
    CampaignRead,
    ClaimCreate,
    ClaimRead,
    SettlementLine,
)

router = APIRouter(prefix="/v1/cities/{city}", tags=["subsidies"])
SCOPE = "payments:write"
CampaignCode = Annotated[str, Path(max_length=60, description="the campaign's code")]
WATCHERS = (Role.CITY_ADMIN, Role.AUDITOR)


def _caller_may_read(caller: object, city_id: int) -> None:
    if isinstance(caller, ChannelCaller):
        caller.require(SCOPE)
    else:
        assert isinstance(caller, StaffCaller)
        require_staff_role(caller, city_id, *WATCHERS)


@router.post(
    "/subsidies",
    status_code=201,
    response_model=CampaignRead,
    operation_id="createSubsidyCampaign",
    summary="Create a subsidy campaign",
)
async def create_campaign(
    session: SessionDep,
    staff: CurrentStaff,
    city: CityDep,
    campaign_in: CampaignCreate,
    idem: IdempotencyDep,
) -> JSONResponse:
    """A campaign with its budget, benefit, limits, channels' quotas and window (city admin)."""
    require_staff_role(staff, city.id, Role.CITY_ADMIN)
    row = await service.create(
        session=session, city_id=city.id, actor=staff.actor, campaign_in=campaign_in
    )
    return await idem.respond(
        201, await service.read(session=session, city_slug=city.slug, row=row)
    )


@router.get(
    "/subsidies",
    response_model=Page[CampaignRead],
    operation_id="listSubsidyCampaigns",
    summary="List subsidy campaigns",
)
async def list_campaigns(
    session: SessionDep, caller: CurrentCaller, city: CityDep, page: PageDep
) -> Page[CampaignRead]:
    """The city's campaigns, newest first (a channel, city admin or auditor)."""
    _caller_may_read(caller, city.id)
    rows = await service.get_all(
        session=session, city_id=city.id, after=page.after, limit=page.limit
    )
    items = [await service.read(session=session, city_slug=city.slug, row=r) for r in rows]
    return page.page(items, rows[-1].id if rows else None)


@router.get(
    "/subsidies/{campaign}",
    response_model=CampaignRead,
    operation_id="getSubsidyCampaign",
    summary="Get a subsidy campaign",
)
async def get_campaign(
    session: SessionDep, caller: CurrentCaller, city: CityDep, campaign: CampaignCode
) -> CampaignRead:
    """One campaign with what is left of its budget and of each channel's quota."""
    _caller_may_read(caller, city.id)
    row = await service.get_or_raise(session=session, city_id=city.id, code=campaign)
    return await service.read(session=session, city_slug=city.slug, row=row)


@router.post(
    "/subsidies/{campaign}/stop",
    response_model=CampaignRead,
    operation_id="stopSubsidyCampaign",
    summary="Stop a subsidy campaign",
)
async def stop_campaign(
    session: SessionDep, staff: CurrentStaff, city: CityDep, campaign: CampaignCode,
    idem: IdempotencyDep,
) -> JSONResponse:  # fmt: skip
    """No more claims or uses; unused claims expire now and go back to the budget (again: no
    change). City admin."""
    require_staff_role(staff, city.id, Role.CITY_ADMIN)
    row = await service.stop(session=session, city_id=city.id, code=campaign, actor=staff.actor)
    return await idem.respond(
        200, await service.read(session=session, city_slug=city.slug, row=row)
    )


@router.get(
    "/subsidies/{campaign}/figures",
    response_model=CampaignFigures,
    operation_id="getSubsidyFigures",
    summary="Watch a subsidy campaign",
)
async def campaign_figures(
    session: SessionDep, staff: CurrentStaff, city: CityDep, campaign: CampaignCode
) -> CampaignFigures:
    """Claimed, used and left, in all and by channel (city admin or auditor)."""
    require_staff_role(staff, city.id, *WATCHERS)
    row = await service.get_or_raise(session=session, city_id=city.id, code=campaign)
    return await service.figures(session=session, row=row)


@router.get(
    "/subsidies/{campaign}/settlement",
    response_model=Page[SettlementLine],
    operation_id="listSubsidySettlement",
    summary="Settlement lines of a subsidy campaign",
)
async def campaign_settlement(
    session: SessionDep, staff: CurrentStaff, city: CityDep, campaign: CampaignCode
) -> Page[SettlementLine]:
    """One line per channel: the subsidies it applied to payments still standing (all of
    them on one page)."""
    require_staff_role(staff, city.id, *WATCHERS)
    row = await service.get_or_raise(session=session, city_id=city.id, code=campaign)
    return Page[SettlementLine](items=await service.settlement(session=session, row=row))


@router.post(
    "/subsidies/{campaign}/claims",
    status_code=201,
    response_model=ClaimRead,
    operation_id="claimSubsidy",
    summary="Claim a subsidy for a user",
)
async def claim(
    session: SessionDep,
    vault: VaultDep,
    hub: HubDep,
    caller: CurrentChannel,
    city: CityDep,
    campaign: CampaignCode,
    claim_in: ClaimCreate,
    idem: IdempotencyDep,
) -> JSONResponse:
    """Reserve the benefit for the channel's verified user: once per person however many
    channels they use (409 `subsidy_already_claimed`), never beyond the budget or the
    channel's quota (409 `subsidy_budget_exhausted`). Use it with `subsidy_claim` when
    quoting a payment; unused, it expires and goes back to the budget."""
    caller.require(SCOPE)
    made, row = await flows.claim(
        session=session, vault=vault, hub=hub, actor=caller.actor, city=city, code=campaign,
        channel_id=caller.channel.id, user_id=claim_in.user_id,
    )  # fmt: skip
    return await idem.respond(201, claims.read(made, row))


@router.get(
    "/subsidy-claims",
    response_model=Page[ClaimRead],
    operation_id="listSubsidyClaims",
    summary="List a user's subsidy claims",
)
async def list_claims(
    session: SessionDep,
    caller: CurrentChannel,
    city: CityDep,
    page: PageDep,
    user_id: Annotated[str, Query(min_length=1, max_length=128)],
) -> Page[ClaimRead]:
    """The person's claims in the city, through whichever channel they were made."""
    caller.require(SCOPE)
    found = await residents.get_for_channel_or_raise(
        session=session, channel_id=caller.channel.id, user_id=user_id
    )
    rows = await claims.get_all_of(
        session=session, city_id=city.id, resident_id=found.resident.id, after=page.after,
        limit=page.limit,
    )  # fmt: skip
    return page.page([claims.read(c, k) for c, k in rows], rows[-1][0].id if rows else None)
