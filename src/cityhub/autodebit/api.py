"""Routes of auto-debit: a channel makes agreements for its users, lists, pauses, resumes and
cancels them (for itself, or for a user whose agreement another channel debits), and answers
the hub's requests to debit: a confirmation (the payment's own) or a failure."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query
from fastapi.responses import JSONResponse

from cityhub.autodebit import runs, service
from cityhub.autodebit.models import AutoDebitAgreementStatus
from cityhub.autodebit.schemas import (
    AutoDebitAgreementAction,
    AutoDebitAgreementCreate,
    AutoDebitAgreementRead,
    AutoDebitConfirmed,
    AutoDebitFailure,
    AutoDebitRead,
)
from cityhub.billing.schemas import PaymentConfirm
from cityhub.cities.deps import CityDep
from cityhub.identity import residents
from cityhub.identity.deps import CurrentChannel
from cityhub.platform.deps import SessionDep
from cityhub.platform.errors import BadRequest
from cityhub.platform.idempotency import IdempotencyDep
from cityhub.platform.openapi import route_meta
from cityhub.platform.paging import Page, PageDep

router = APIRouter(prefix="/v1/cities/{city}", tags=["auto-debit"])
SCOPE = "payments:write"
AgreementId = Annotated[str, Path(max_length=40, description="the agreement's id, ada_...")]
DebitId = Annotated[str, Path(max_length=40, description="the auto-debit's id, adb_...")]
UserQuery = Annotated[
    str | None,
    Query(
        min_length=1,
        max_length=128,
        description="a user of this channel: their agreements on every channel where they are "
        "linked (without it: the agreements this channel debits)",
    ),
]


def _require_key(idem: IdempotencyDep) -> None:
    if idem.key is None:
        raise BadRequest(
            "send an Idempotency-Key header: a retry must not act twice",
            code="idempotency_key_required",
            field="Idempotency-Key",
        )


@router.post(
    "/auto-debit-agreements",
    status_code=201,
    response_model=AutoDebitAgreementRead,
    operation_id="createAutoDebitAgreement",
    summary="Make an auto-debit agreement for a user",
    openapi_extra=route_meta(idempotency_required=True),
)
async def create_agreement(
    session: SessionDep,
    caller: CurrentChannel,
    city: CityDep,
    agreement_in: AutoDebitAgreementCreate,
    idem: IdempotencyDep,
) -> JSONResponse:
    """The user lets this channel pay the account's bills, each up to `limit_fen` (what the
    channel charges, fee included). The hub records the user's consent for exactly this
    agreement; each new bill is told to the user, then requested after the notice period."""
    caller.require(SCOPE)
    _require_key(idem)
    row = await service.create(
        session=session, city=city, channel=caller.channel, agreement_in=agreement_in
    )
    read = await service.read_one(session=session, agreement=row, channel_id=caller.channel.id)
    return await idem.respond(201, read)


@router.get(
    "/auto-debit-agreements",
    response_model=Page[AutoDebitAgreementRead],
    operation_id="listAutoDebitAgreements",
    summary="List auto-debit agreements",
)
async def list_agreements(
    session: SessionDep,
    caller: CurrentChannel,
    city: CityDep,
    page: PageDep,
    user_id: UserQuery = None,
) -> Page[AutoDebitAgreementRead]:
    """The agreements this channel debits, or (`user_id`) a user's agreements on every channel
    where they are linked, newest first."""
    caller.require(SCOPE)
    if user_id is None:
        rows = await service.get_all(
            session=session,
            city_id=city.id,
            channel_id=caller.channel.id,
            after=page.after,
            limit=page.limit,
        )
    else:
        found = await residents.get_for_channel_or_raise(
            session=session, channel_id=caller.channel.id, user_id=user_id
        )
        rows = await service.get_all(
            session=session,
            city_id=city.id,
            resident_id=found.resident.id,
            after=page.after,
            limit=page.limit,
        )
    items = await service.reads(session=session, agreements=rows, channel_id=caller.channel.id)
    return page.page(items, rows[-1].id if rows else None)


@router.get(
    "/auto-debit-agreements/{agreement_id}",
    response_model=AutoDebitAgreementRead,
    operation_id="getAutoDebitAgreement",
    summary="Get an auto-debit agreement",
)
async def get_agreement(
    session: SessionDep,
    caller: CurrentChannel,
    city: CityDep,
    agreement_id: AgreementId,
    user_id: UserQuery = None,
) -> AutoDebitAgreementRead:
    """One agreement this channel debits, or of the user (`user_id`) on another channel."""
    caller.require(SCOPE)
    row = await service.get_or_raise(session=session, city_id=city.id, public_id=agreement_id)
    await service.reach_or_raise(
        session=session, agreement=row, channel=caller.channel, user_id=user_id
    )
    return await service.read_one(session=session, agreement=row, channel_id=caller.channel.id)


async def _change(
    session: SessionDep,
    caller: CurrentChannel,
    city: CityDep,
    agreement_id: str,
    action: AutoDebitAgreementAction,
    to: AutoDebitAgreementStatus,
) -> AutoDebitAgreementRead:
    caller.require(SCOPE)
    row = await service.get_or_raise(session=session, city_id=city.id, public_id=agreement_id)
    actor = await service.reach_or_raise(
        session=session, agreement=row, channel=caller.channel, user_id=action.user_id
    )
    row = await service.change(session=session, agreement=row, to=to, actor=actor)
    return await service.read_one(session=session, agreement=row, channel_id=caller.channel.id)


@router.post(
    "/auto-debit-agreements/{agreement_id}/pause",
    response_model=AutoDebitAgreementRead,
    operation_id="pauseAutoDebitAgreement",
    summary="Pause an auto-debit agreement",
)
async def pause(
    session: SessionDep,
    caller: CurrentChannel,
    city: CityDep,
    agreement_id: AgreementId,
    action: AutoDebitAgreementAction,
) -> AutoDebitAgreementRead:
    """No debit is requested while paused (bills already planned wait); again: as it is."""
    return await _change(
        session, caller, city, agreement_id, action, AutoDebitAgreementStatus.PAUSED
    )


@router.post(
    "/auto-debit-agreements/{agreement_id}/resume",
    response_model=AutoDebitAgreementRead,
    operation_id="resumeAutoDebitAgreement",
    summary="Resume a paused auto-debit agreement",
)
async def resume(
    session: SessionDep,
    caller: CurrentChannel,
    city: CityDep,
    agreement_id: AgreementId,
    action: AutoDebitAgreementAction,
) -> AutoDebitAgreementRead:
    """Debits go on; a cancelled agreement is 409."""
    return await _change(
        session, caller, city, agreement_id, action, AutoDebitAgreementStatus.ACTIVE
    )


@router.post(
    "/auto-debit-agreements/{agreement_id}/cancel",
    response_model=AutoDebitAgreementRead,
    operation_id="cancelAutoDebitAgreement",
    summary="Cancel an auto-debit agreement",
)
async def cancel(
    session: SessionDep,
    caller: CurrentChannel,
    city: CityDep,
    agreement_id: AgreementId,
    action: AutoDebitAgreementAction,
) -> AutoDebitAgreementRead:
    """For good: its open debits stop, their quotes expire, its consent is withdrawn, and it
    never debits again (a confirmation after this is 409)."""
    return await _change(
        session, caller, city, agreement_id, action, AutoDebitAgreementStatus.CANCELLED
    )


@router.get(
    "/auto-debit-agreements/{agreement_id}/debits",
    response_model=Page[AutoDebitRead],
    operation_id="listAutoDebits",
    summary="List an agreement's auto-debits",
)
async def list_debits(
    session: SessionDep,
    caller: CurrentChannel,
    city: CityDep,
    agreement_id: AgreementId,
    page: PageDep,
    user_id: UserQuery = None,
) -> Page[AutoDebitRead]:
    """One auto-debit per bill, newest first."""
    caller.require(SCOPE)
    row = await service.get_or_raise(session=session, city_id=city.id, public_id=agreement_id)
    await service.reach_or_raise(
        session=session, agreement=row, channel=caller.channel, user_id=user_id
    )
    rows = await runs.get_all(
        session=session, city_id=city.id, agreement_id=row.id, after=page.after, limit=page.limit
    )
    items = [runs.read(d, row.public_id) for d in rows]
    return page.page(items, rows[-1].id if rows else None)


@router.post(
    "/auto-debits/{debit_id}/confirmation",
    response_model=AutoDebitConfirmed,
    operation_id="confirmAutoDebit",
    summary="Confirm an auto-debit the channel charged",
    openapi_extra=route_meta(idempotency_required=True),
)
async def confirm(
    session: SessionDep,
    caller: CurrentChannel,
    city: CityDep,
    debit_id: DebitId,
    confirm_in: PaymentConfirm,
    idem: IdempotencyDep,
) -> JSONResponse:
    """The channel charged its user the requested payment's `total_fen`: the payment is
    confirmed as any other. 409 `autodebit_agreement_not_active` if the agreement was paused or
    cancelled since (refund the user)."""
    caller.require(SCOPE)
    _require_key(idem)
    debit, agreement, view = await runs.confirm(
        session=session,
        city=city,
        channel_id=caller.channel.id,
        public_id=debit_id,
        confirm_in=confirm_in,
    )
    answer = AutoDebitConfirmed(
        auto_debit=runs.read(debit, agreement.public_id), payment=view.read()
    )
    return await idem.respond(200, answer)


@router.post(
    "/auto-debits/{debit_id}/failure",
    response_model=AutoDebitRead,
    operation_id="reportAutoDebitFailure",
    summary="Report that an auto-debit could not be charged",
)
async def report_failure(
    session: SessionDep,
    caller: CurrentChannel,
    city: CityDep,
    debit_id: DebitId,
    failure_in: AutoDebitFailure,
    idem: IdempotencyDep,
) -> JSONResponse:
    """The channel could not charge its user (`code`, e.g. `no_funds`): the hub asks again
    later, a bounded number of times, then reports the auto-debit failed."""
    caller.require(SCOPE)
    debit, agreement = await runs.get_or_raise(
        session=session, city_id=city.id, public_id=debit_id, channel_id=caller.channel.id
    )
    debit = await runs.fail_attempt(
        session=session, debit=debit, code=failure_in.code, detail=failure_in.detail
    )
    return await idem.respond(200, runs.read(debit, agreement.public_id))
