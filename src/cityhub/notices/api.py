"""Routes of notices for city staff (accounts, topics, templates, notices, figures, dead
letters, push rules) and the public tracking and unsubscribe links."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Path, Query
from fastapi.responses import JSONResponse, RedirectResponse, Response

from cityhub.cities.deps import CityDep
from cityhub.identity import audit
from cityhub.identity.deps import (
    CurrentCaller,
    CurrentStaff,
    StaffCaller,
    VaultDep,
    provider_guard,
    require_provider,
    require_staff_role,
)
from cityhub.identity.enums import Role
from cityhub.notices import delivery, inboxes, preferences, sending, service
from cityhub.notices.models import GovAccount, Notice, NoticeSettings, NoticeTemplate
from cityhub.notices.schemas import (
    AccountCreate,
    AccountRead,
    DeliveryRead,
    NoticeCreate,
    NoticeRead,
    NoticeStats,
    OpenRead,
    PreviewCreate,
    PreviewRead,
    SettingsRead,
    SettingsUpdate,
    TemplateCreate,
    TemplateRead,
    TopicCreate,
    TopicRead,
)
from cityhub.platform.deps import SessionDep
from cityhub.platform.idempotency import IdempotencyDep
from cityhub.platform.paging import Page, PageDep

if TYPE_CHECKING:
    from cityhub.cities.models import City

router = APIRouter(prefix="/v1", tags=["notices"])
AccountCode = Annotated[str, Path(max_length=60, description="the account's code")]
Code = Annotated[str, Path(max_length=60)]
ADMINS = (Role.CITY_ADMIN,)
SENDERS = (Role.CITY_ADMIN, Role.PROVIDER_STAFF)


async def _account_read(
    session: SessionDep, city: City, account: GovAccount, *, staff: bool
) -> AccountRead:
    topics = await service.topics_of(session=session, city_id=city.id, account_id=account.id)
    speaks_for = await sending.account_service(session=session, account=account)
    followers = None
    if staff:
        followers = await service.follower_count(
            session=session, city_id=city.id, account_id=account.id
        )
    return AccountRead(
        city=city.slug,
        code=account.code,
        name=account.name,
        agency=account.agency,
        names=account.names,
        agency_names=account.agency_names,
        service=speaks_for.code if speaks_for else None,
        topics=[TopicRead(code=t.code, name=t.name, names=t.names) for t in topics],
        followers=followers,
    )


def _template_read(account: GovAccount, template: NoticeTemplate) -> TemplateRead:
    return TemplateRead.model_validate(
        {
            "account": account.code,
            "code": template.code,
            "placeholders": template.placeholders,
            "texts": template.texts,
        }
    )


def notice_read(city: City, account_code: str, notice: Notice, stats: Any = None) -> NoticeRead:
    """The API shape of a notice."""
    audience = {k: v for k, v in notice.audience.items() if k != "service_id"}
    return NoticeRead.model_validate(
        {
            "id": notice.public_id,
            "city": city.slug,
            "account": account_code,
            "kind": notice.kind,
            "urgent": notice.urgent,
            "template": notice.template,
            "texts": notice.texts,
            "audience": audience,
            "ref": notice.ref,
            "link": notice.link,
            "status": notice.status,
            "created_at": notice.created_at,
            "stats": NoticeStats(**stats) if stats else None,
        }
    )


def _settings_read(city: City, rules: NoticeSettings) -> SettingsRead:
    return SettingsRead(
        city=city.slug,
        timezone=city.timezone,
        quiet_start=service.hhmm(rules.quiet_start),
        quiet_end=service.hhmm(rules.quiet_end),
        daily_cap=rules.daily_cap,
        conversion_days=rules.conversion_days,
    )


# -- accounts, topics, templates -----------------------------------------------------------


@router.get(
    "/cities/{city}/notice-accounts",
    operation_id="listNoticeAccounts",
    summary="List government accounts",
    response_model=Page[AccountRead],
)
async def list_accounts(
    session: SessionDep, caller: CurrentCaller, city: CityDep, page: PageDep
) -> Page[AccountRead]:
    """The city's government accounts and their topics (channels granted the city, staff)."""
    staff = isinstance(caller, StaffCaller)
    if not staff:
        caller.require("notices:read")  # type: ignore[union-attr]
    found = await service.list_accounts(session=session, city_id=city.id)
    return page.slice(
        [await _account_read(session, city, a, staff=staff) for a in found], key=lambda x: x.code
    )


@router.post(
    "/cities/{city}/notice-accounts",
    operation_id="createNoticeAccount",
    summary="Add a government account",
    status_code=201,
    response_model=AccountRead,
)
async def create_account(
    session: SessionDep,
    staff: CurrentStaff,
    city: CityDep,
    account_in: AccountCreate,
    idem: IdempotencyDep,
) -> JSONResponse:
    """Add a government account (city admin)."""
    require_staff_role(staff, city.id, *ADMINS)
    account = await service.create_account(session=session, city_id=city.id, account_in=account_in)
    await audit.append(
        session=session,
        actor=staff.actor,
        action="notice_account.create",
        object_type="notice_account",
        object_id=account.code,
        city_id=city.id,
    )
    return await idem.respond(201, await _account_read(session, city, account, staff=True))


@router.post(
    "/cities/{city}/notice-accounts/{account}/topics",
    operation_id="createNoticeTopic",
    summary="Add a topic to an account",
    status_code=201,
    response_model=TopicRead,
)
async def create_topic(
    session: SessionDep,
    staff: CurrentStaff,
    city: CityDep,
    account: AccountCode,
    topic_in: TopicCreate,
    idem: IdempotencyDep,
) -> JSONResponse:
    """Add a topic to an account (city admin)."""
    require_staff_role(staff, city.id, *ADMINS)
    found = await service.get_account_or_raise(session=session, city_id=city.id, code=account)
    topic = await service.create_topic(session=session, account=found, topic_in=topic_in)
    return await idem.respond(201, TopicRead(code=topic.code, name=topic.name, names=topic.names))


@router.get(
    "/cities/{city}/notice-accounts/{account}/templates",
    operation_id="listNoticeTemplates",
    summary="List an account's templates",
    response_model=Page[TemplateRead],
)
async def list_templates(
    session: SessionDep, staff: CurrentStaff, city: CityDep, account: AccountCode, page: PageDep
) -> Page[TemplateRead]:
    """An account's templates (staff)."""
    found = await service.get_account_or_raise(session=session, city_id=city.id, code=account)
    return page.slice(
        [
            _template_read(found, t)
            for t in await service.list_templates(session=session, account=found)
        ],
        key=lambda x: x.code,
    )


@router.post(
    "/cities/{city}/notice-accounts/{account}/templates",
    operation_id="createNoticeTemplate",
    summary="Add a template",
    status_code=201,
    response_model=TemplateRead,
)
async def create_template(
    session: SessionDep,
    staff: CurrentStaff,
    city: CityDep,
    account: AccountCode,
    template_in: TemplateCreate,
    idem: IdempotencyDep,
) -> JSONResponse:
    """Add a template with typed placeholders (city admin)."""
    require_staff_role(staff, city.id, *SENDERS)
    found = await service.get_account_or_raise(session=session, city_id=city.id, code=account)
    require_provider(
        staff, await sending.account_service(session=session, account=found), city_id=city.id,
        object_type="notice_account", object_id=account, code="account_not_found",
    )  # fmt: skip
    template = await service.create_template(
        session=session, account=found, template_in=template_in
    )
    return await idem.respond(201, _template_read(found, template))


@router.post(
    "/cities/{city}/notice-accounts/{account}/templates/{code}/preview",
    operation_id="previewNoticeTemplate",
    summary="Preview a template",
    response_model=PreviewRead,
)
async def preview_template(
    session: SessionDep,
    staff: CurrentStaff,
    city: CityDep,
    account: AccountCode,
    code: Code,
    preview_in: PreviewCreate,
) -> PreviewRead:
    """The template filled with these values in every language (422 naming a bad value)."""
    found = await service.get_account_or_raise(session=session, city_id=city.id, code=account)
    template = await service.get_template_or_raise(session=session, account=found, code=code)
    return PreviewRead.model_validate({"texts": service.preview(template, preview_in.values)})


# -- notices -------------------------------------------------------------------------------


@router.post(
    "/cities/{city}/notices",
    operation_id="sendNotice",
    summary="Send a notice",
    status_code=201,
    response_model=NoticeRead,
)
async def send_notice(
    session: SessionDep,
    staff: CurrentStaff,
    city: CityDep,
    notice_in: NoticeCreate,
    idem: IdempotencyDep,
) -> JSONResponse:
    """Send a broadcast (followers of an account or topic) or a targeted notice (residents
    with an account at a biller, in a district); delivery happens after the answer."""
    require_staff_role(staff, city.id, *SENDERS)
    notice = await sending.create(
        session=session, city=city, actor=staff.actor, notice_in=notice_in,
        guard=provider_guard(staff, city_id=city.id, object_type="notice_account",
                             code="account_not_found"),
    )  # fmt: skip
    return await idem.respond(201, notice_read(city, notice_in.account, notice))


async def _account_codes(session: SessionDep, city: City) -> dict[int, str]:
    return {a.id: a.code for a in await service.list_accounts(session=session, city_id=city.id)}


@router.get(
    "/cities/{city}/notices",
    operation_id="listNotices",
    summary="List notices",
    response_model=Page[NoticeRead],
)
async def list_notices(
    session: SessionDep, staff: CurrentStaff, city: CityDep, page: PageDep
) -> Page[NoticeRead]:
    """The city's notices, newest first (staff)."""
    found = await service.list_notices(
        session=session, city_id=city.id, after=page.after, limit=page.limit
    )
    codes = await _account_codes(session, city)
    items = [notice_read(city, codes.get(n.account_id, ""), n) for n in found]
    return page.page(items, found[-1].id if found else None)


@router.get(
    "/cities/{city}/notices/{notice_id}",
    operation_id="getNotice",
    summary="Get a notice and its figures",
    response_model=NoticeRead,
)
async def get_notice(
    session: SessionDep,
    staff: CurrentStaff,
    city: CityDep,
    notice_id: Annotated[str, Path(max_length=40)],
) -> NoticeRead:
    """One notice with its figures: delivered, opened, acted and the amount paid (staff)."""
    notice = await service.get_notice_or_raise(
        session=session, city_id=city.id, public_id=notice_id
    )
    codes = await _account_codes(session, city)
    figures = await service.stats(session=session, notice=notice)
    return notice_read(city, codes.get(notice.account_id, ""), notice, figures)


@router.get(
    "/cities/{city}/notice-dead-letters",
    operation_id="listNoticeDeadLetters",
    summary="List dead-letter deliveries",
    response_model=Page[DeliveryRead],
)
async def dead_letters(
    session: SessionDep, staff: CurrentStaff, city: CityDep, page: PageDep
) -> Page[DeliveryRead]:
    """Deliveries whose every route failed, newest first (staff)."""
    found = await delivery.dead_letters(
        session=session, city_id=city.id, after=page.after, limit=page.limit
    )
    items = [
        DeliveryRead(
            id=d.id,
            notice=public_id,
            recipient=d.recipient_id,
            route=d.route,
            status=d.status,
            attempts=d.attempts,
            last_error=d.last_error,
            created_at=d.created_at,
        )
        for d, public_id in found
    ]
    return page.page(items, found[-1][0].id if found else None)


@router.get(
    "/cities/{city}/notice-settings",
    operation_id="getNoticeSettings",
    summary="Get notice settings",
    response_model=SettingsRead,
)
async def get_settings_(session: SessionDep, staff: CurrentStaff, city: CityDep) -> SettingsRead:
    """The city's quiet hours, daily cap and conversion window (staff)."""
    return _settings_read(city, await service.settings_of(session=session, city_id=city.id))


@router.patch(
    "/cities/{city}/notice-settings",
    operation_id="updateNoticeSettings",
    summary="Change notice settings",
    response_model=SettingsRead,
)
async def update_settings(
    session: SessionDep, staff: CurrentStaff, city: CityDep, settings_in: SettingsUpdate
) -> SettingsRead:
    """Change the quiet hours (city time), the daily cap or the conversion window."""
    require_staff_role(staff, city.id, *ADMINS)
    rules = await service.update_settings(session=session, city_id=city.id, settings_in=settings_in)
    await audit.append(
        session=session,
        actor=staff.actor,
        action="notice_settings.update",
        object_type="notice_settings",
        object_id=city.slug,
        city_id=city.id,
        details=settings_in.model_dump(exclude_unset=True),
    )
    return _settings_read(city, rules)


# -- public links --------------------------------------------------------------------------

Tracking = Annotated[str, Path(max_length=64, description="the delivery's tracking reference")]


@router.get(
    "/notices/open/{tracking}",
    operation_id="openNotice",
    summary="Record an opening and follow the link",
    response_model=OpenRead,
    responses={303: {"description": "to the notice's link"}},
)
async def open_notice(
    session: SessionDep,
    vault: VaultDep,
    tracking: Tracking,
    follow: Annotated[bool, Query(description="redirect to the notice's link")] = True,
) -> Response:
    """Record that the resident opened the notice (conversion), then go to its link."""
    recipient_id = inboxes.recipient_of_tracking(vault, tracking)
    recipient, notice = await inboxes.mark_opened(session=session, recipient_id=recipient_id)
    if follow and notice.link:
        return RedirectResponse(notice.link, status_code=303)
    assert recipient.opened_at is not None
    read = OpenRead(notice=notice.public_id, opened_at=recipient.opened_at, link=notice.link)
    return JSONResponse(read.model_dump(mode="json"))


@router.get(
    "/notices/unsubscribe/{token}",
    operation_id="unsubscribeFromEmail",
    summary="Stop notices by email",
)
async def unsubscribe(
    session: SessionDep, vault: VaultDep, token: Annotated[str, Path(max_length=64)]
) -> dict[str, str]:
    """The link at the foot of every notice email: no more notices by email."""
    resident_id = preferences.resident_of_unsubscribe(vault, token)
    await preferences.unsubscribe_email(session=session, resident_id=resident_id)
    return {"status": "unsubscribed", "route": "email"}
