"""Routes of lottery rounds: public rounds, files and score checks; channels' applications;
city admins' create, close, draw and publish."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

from fastapi import APIRouter, Path
from fastapi.responses import JSONResponse, Response

from cityhub.cities import service as cities
from cityhub.cities.deps import CityDep
from cityhub.connectors.deps import HubDep
from cityhub.identity.deps import (
    CurrentChannel,
    CurrentStaff,
    LiveWritesOnly,
    VaultDep,
    require_staff_role,
)
from cityhub.identity.enums import Role
from cityhub.lottery import applications, flows, publish, service
from cityhub.lottery.models import LotteryRound, RoundStatus
from cityhub.lottery.schemas import (
    ApplicationCreate,
    ApplicationRead,
    DrawCreate,
    RoundCreate,
    RoundRead,
    ScoreRead,
)
from cityhub.platform.deps import SessionDep
from cityhub.platform.errors import NotFound
from cityhub.platform.idempotency import IdempotencyDep
from cityhub.platform.paging import Page, PageDep

if TYPE_CHECKING:
    from cityhub.cities.models import City

router = APIRouter(prefix="/v1", tags=["lotteries"], dependencies=[LiveWritesOnly])
CitySlug = Annotated[str, Path(max_length=40, description="the city's slug")]
RoundCode = Annotated[str, Path(max_length=60, description="the round's code")]
UserId = Annotated[str, Path(max_length=128, description="the channel's own id for its user")]
SCOPE = "lotteries:write"
MEDIA = {"json": "application/json", "csv": "text/csv; charset=utf-8"}


async def _read(session: SessionDep, city: City, round_: LotteryRound, *, staff: bool) -> RoundRead:
    """A round as the public sees it (secret and results once published) or as staff do."""
    service_row = await service.service_of(session=session, round_=round_)
    revealed = round_.status == RoundStatus.PUBLISHED or (staff and round_.status in service.DRAWN)
    # What the public file endpoint serves now, whoever asks.
    files = [] if round_.status == RoundStatus.OPEN else list(publish.FILE_NAMES[:2])
    if round_.status == RoundStatus.PUBLISHED:
        files += list(publish.FILE_NAMES[2:])
    return RoundRead(
        city=city.slug,
        code=round_.code,
        service=service_row.code,
        kind=round_.kind,
        title=round_.title,
        titles=round_.titles,
        opens_at=round_.opens_at,
        closes_at=round_.closes_at,
        quota=round_.quota,
        rules=round_.rules,
        status=round_.status,
        phase=service.phase(round_),
        commitment=round_.commitment,
        sealed=round_.sealed_secret is not None,
        applicants_hash=round_.applicants_hash,
        applicant_count=round_.applicant_count,
        excluded_count=round_.excluded_count,
        secret=round_.secret if revealed else None,
        public_value=round_.public_value if revealed else None,
        seed=round_.seed if revealed else None,
        closed_at=round_.closed_at,
        drawn_at=round_.drawn_at,
        published_at=round_.published_at,
        files=files,
    )


# -- public -------------------------------------------------------------------------------


@router.get(
    "/cities/{city}/lotteries",
    operation_id="listLotteryRounds",
    summary="List lottery rounds",
    response_model=Page[RoundRead],
)
async def list_rounds(session: SessionDep, city: CitySlug, page: PageDep) -> Page[RoundRead]:
    """A city's lottery rounds (public: commitments are published from the start)."""
    found_city = await cities.get_city_or_raise(session=session, slug=city)
    found = await service.get_all_rounds(
        session=session, city_id=found_city.id, after=page.after, limit=page.limit
    )
    items = [await _read(session, found_city, r, staff=False) for r in found]
    return page.page(items, found[-1].id if found else None)


@router.get(
    "/cities/{city}/lotteries/{code}",
    operation_id="getLotteryRound",
    summary="Get a lottery round",
    response_model=RoundRead,
)
async def get_round(session: SessionDep, city: CitySlug, code: RoundCode) -> RoundRead:
    """One round (public)."""
    found_city = await cities.get_city_or_raise(session=session, slug=city)
    round_ = await service.get_round_or_raise(session=session, city_id=found_city.id, code=code)
    return await _read(session, found_city, round_, staff=False)


@router.get(
    "/cities/{city}/lotteries/{code}/files/{name}",
    operation_id="getLotteryFile",
    summary="Get a published lottery file",
    responses={200: {"content": {"application/json": {}, "text/csv": {}}}},
)
async def get_file(
    session: SessionDep,
    city: CitySlug,
    code: RoundCode,
    name: Annotated[str, Path(max_length=40, description=", ".join(publish.FILE_NAMES))],
) -> Response:
    """A published file (public): the applicant list once closed, the results once published."""
    found_city = await cities.get_city_or_raise(session=session, slug=city)
    round_ = await service.get_round_or_raise(session=session, city_id=found_city.id, code=code)
    if name not in publish.FILE_NAMES:
        raise NotFound(f"no file {name!r}; files: {', '.join(publish.FILE_NAMES)}", field="name")
    listing, results = await service.publication(
        session=session, city=found_city, round_=round_, drawn_visible=False
    )
    try:
        text = publish.render(name, listing, results)
    except KeyError:
        raise NotFound(
            f"{name} is not published yet (the round is {service.phase(round_)})",
            code="file_not_published",
            field="name",
        ) from None
    filename = f"{found_city.slug}-{round_.code}-{name}"
    return Response(
        text,
        media_type=MEDIA[name.rsplit(".", 1)[1]],
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


@router.get(
    "/cities/{city}/lotteries/{code}/scores/{application_id}",
    operation_id="getLotteryScore",
    summary="Get an application's score",
    response_model=ScoreRead,
)
async def get_score(
    session: SessionDep,
    city: CitySlug,
    code: RoundCode,
    application_id: Annotated[str, Path(max_length=64)],
) -> ScoreRead:
    """One application's tickets and scores, recomputed from the published seed (public)."""
    found_city = await cities.get_city_or_raise(session=session, slug=city)
    return await applications.score_of(
        session=session, city=found_city, code=code, application_id=application_id
    )


# -- channels -----------------------------------------------------------------------------


@router.post(
    "/cities/{city}/lotteries/{code}/applications",
    operation_id="applyToLottery",
    summary="Apply for a lottery",
    status_code=201,
    response_model=ApplicationRead,
)
async def apply(
    session: SessionDep,
    vault: VaultDep,
    hub: HubDep,
    caller: CurrentChannel,
    city: CitySlug,
    code: RoundCode,
    app_in: ApplicationCreate,
    idem: IdempotencyDep,
) -> JSONResponse:
    """Apply for the channel's verified user; eligibility is asked of the provider."""
    caller.require(SCOPE)
    found_city = await cities.get_city_or_raise(session=session, slug=city)
    app, round_ = await flows.apply(
        session=session,
        vault=vault,
        hub=hub,
        actor=caller.actor,
        city=found_city,
        code=code,
        channel_id=caller.channel.id,
        user_id=app_in.user_id,
    )
    read = ApplicationRead.of(app, round_, found_city.slug, app_in.user_id)
    return await idem.respond(201, read)


@router.get(
    "/cities/{city}/lotteries/{code}/applications/{user_id}",
    operation_id="getLotteryApplication",
    summary="Get a user's application",
    response_model=ApplicationRead,
)
async def get_application(
    session: SessionDep, caller: CurrentChannel, city: CitySlug, code: RoundCode, user_id: UserId
) -> ApplicationRead:
    """The user's application: its status, and its result once published."""
    caller.require(SCOPE)
    found_city = await cities.get_city_or_raise(session=session, slug=city)
    app, round_ = await applications.get_for_user_or_raise(
        session=session, city=found_city, code=code, channel_id=caller.channel.id, user_id=user_id
    )
    return ApplicationRead.of(app, round_, found_city.slug, user_id)


@router.delete(
    "/cities/{city}/lotteries/{code}/applications/{user_id}",
    operation_id="withdrawLotteryApplication",
    summary="Withdraw an application",
    response_model=ApplicationRead,
)
async def withdraw(
    session: SessionDep, caller: CurrentChannel, city: CitySlug, code: RoundCode, user_id: UserId
) -> ApplicationRead:
    """Withdraw the user's application, until the window closes."""
    caller.require(SCOPE)
    found_city = await cities.get_city_or_raise(session=session, slug=city)
    app, round_ = await applications.withdraw(
        session=session, city=found_city, code=code, channel=caller.channel, user_id=user_id
    )
    return ApplicationRead.of(app, round_, found_city.slug, user_id)


# -- city admins --------------------------------------------------------------------------

ADMINS = (Role.CITY_ADMIN,)


@router.post(
    "/cities/{city}/lotteries",
    operation_id="createLotteryRound",
    summary="Create a lottery round",
    status_code=201,
    response_model=RoundRead,
)
async def create_round(
    session: SessionDep,
    vault: VaultDep,
    staff: CurrentStaff,
    city: CityDep,
    round_in: RoundCreate,
    idem: IdempotencyDep,
) -> JSONResponse:
    """Create a round and publish its commitment (city admin)."""
    require_staff_role(staff, city.id, *ADMINS)
    round_ = await service.create_round(
        session=session, vault=vault, actor=staff.actor, city=city, round_in=round_in
    )
    return await idem.respond(201, await _read(session, city, round_, staff=True))


@router.post(
    "/cities/{city}/lotteries/{code}/close",
    operation_id="closeLotteryRound",
    summary="Close a lottery round",
    response_model=RoundRead,
)
async def close_round(
    session: SessionDep,
    vault: VaultDep,
    hub: HubDep,
    staff: CurrentStaff,
    city: CityDep,
    code: RoundCode,
) -> RoundRead:
    """Close a round whose window is over: re-check eligibility, publish the list's hash."""
    require_staff_role(staff, city.id, *ADMINS)
    round_ = await flows.close(
        session=session, vault=vault, hub=hub, actor=staff.actor, city=city, code=code
    )
    return await _read(session, city, round_, staff=True)


@router.post(
    "/cities/{city}/lotteries/{code}/draw",
    operation_id="drawLotteryRound",
    summary="Draw a lottery round",
    response_model=RoundRead,
)
async def draw_round(
    session: SessionDep,
    vault: VaultDep,
    staff: CurrentStaff,
    city: CityDep,
    code: RoundCode,
    draw_in: DrawCreate,
) -> RoundRead:
    """Draw: reveal the secret (or unseal the hub's) and enter the public value."""
    require_staff_role(staff, city.id, *ADMINS)
    round_ = await service.draw_round(
        session=session, vault=vault, actor=staff.actor, city=city, code=code, draw_in=draw_in
    )
    return await _read(session, city, round_, staff=True)


@router.post(
    "/cities/{city}/lotteries/{code}/publish",
    operation_id="publishLotteryRound",
    summary="Publish a round's results",
    response_model=RoundRead,
)
async def publish_round(
    session: SessionDep, staff: CurrentStaff, city: CityDep, code: RoundCode
) -> RoundRead:
    """Make the results public: the files, residents' results and score checks."""
    require_staff_role(staff, city.id, *ADMINS)
    round_ = await service.publish_round(session=session, actor=staff.actor, city=city, code=code)
    return await _read(session, city, round_, staff=True)
