"""Queries and lotteries on the portal.

Queries: the form is drawn from the service's parameter schema (`queries.catalogue.resolve`),
the answer is a table. The portal runs the steps a channel's query runs
(`queries.service.prepare/ask/record`) as the portal channel: a personal query needs a
verified resident and their consent to records being read (asked on the form, recorded as a
`records` consent on the portal channel); public ones need nobody signed in.

Lotteries: a lottery service's rounds with their phase, the resident's application (apply,
withdraw while the window is open, the result once published) and links to the published
verification files, through `lottery.applications` as a channel's application goes.

A provider that does not answer gets the error page "the service is not answering".
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from cityhub.cities import service as cities
from cityhub.cities.enums import ServiceKind
from cityhub.connectors.deps import HubDep
from cityhub.identity import audit, residents
from cityhub.identity.deps import VaultDep
from cityhub.identity.purposes import Purpose
from cityhub.lottery import applications
from cityhub.lottery import flows as lottery_flows
from cityhub.lottery import service as lotteries
from cityhub.lottery.enums import RoundStatus
from cityhub.lottery.publish import FILE_NAMES
from cityhub.lottery.schemas import ApplicationRead
from cityhub.platform import texts
from cityhub.platform.deps import SessionDep, SettingsDep
from cityhub.platform.errors import CityHubError, Forbidden, NotFound
from cityhub.queries import service as queries
from cityhub.queries.catalogue import QueryType, resolve
from cityhub.web import signin
from cityhub.web.pages import PageError, language, redirect
from cityhub.web.portal import answers
from cityhub.web.portal.home import live_city_or_404
from cityhub.web.portal.visitor import (
    SERVICE_PAGES,
    OptionalVisitor,
    SignedInVisitor,
    Visitor,
    check_csrf,
    page,
    session_ended,
    sign_in_url,
    verify_url,
)

if TYPE_CHECKING:
    from cityhub.cities.models import City, Service
    from cityhub.identity.models import Channel
    from cityhub.lottery.models import LotteryRound

router = APIRouter(include_in_schema=False)
CONSENT_PURPOSE = Purpose.RECORDS
LEVEL_CODES = ("verification_required", "identity_level_required")
ROUNDS = 100


def _actor(channel: Channel) -> audit.Actor:
    return audit.Actor(type="channel", id=channel.slug, name=channel.name, names=channel.names)


async def _service(session: SessionDep, city: City, code: str, kind: ServiceKind) -> Service:
    """A service of this kind that the city offers on the portal, or the not-found page."""
    channel = await signin.get_portal_channel_or_raise(session=session)
    try:
        service = await cities.get_service_or_raise(session=session, city_id=city.id, code=code)
        if service.kind != kind:
            raise NotFound("not this kind of service")
        await cities.require_service_granted(
            session=session, channel_id=channel.id, service=service
        )
    except (NotFound, Forbidden):
        raise PageError(404, "service_not_found") from None
    return service


# -- queries -------------------------------------------------------------------------------


def form_fields(query: QueryType, lang: str = "zh-Hans") -> list[dict[str, Any]]:
    """The form's fields, from the query's JSON Schema (text inputs with its constraints),
    labelled in the reader's language (`x-title`, `x-description`)."""
    schema = query.params_schema
    required = set(schema.get("required", []))
    fields = []
    for name, spec in (schema.get("properties") or {}).items():
        fields.append(
            {
                "name": name,
                "title": texts.pick(spec.get("x-title"), lang, spec.get("title") or name),
                "description": texts.pick(spec.get("x-description"), lang, spec.get("description"))
                or None,
                "required": name in required,
                "pattern": spec.get("pattern"),
                "maxlength": spec.get("maxLength") or 200,
                "number": spec.get("type") in ("integer", "number"),
            }
        )
    return fields


def _problem(query: QueryType, exc: CityHubError) -> tuple[str | None, str | None]:
    """The problem to tell and the parameter it is about: a provider's "not this person's"
    (the hub's `not_own_records` about anything but the resident's own identity number) is
    about what they entered, the first parameter when the provider does not say which."""
    own = f"params.{query.subject_param}" if query.subject_param else None
    if exc.code != "not_own_records" or exc.field == own:
        return exc.code, exc.field
    named = exc.field if exc.field and exc.field != "params" else None
    first = next(iter(query.params_schema.get("properties") or {}), None)
    return "owner_mismatch", named or (f"params.{first}" if first else None)


def _field_label(query: QueryType, field: str | None, lang: str) -> str | None:
    """The label of the parameter a problem names (`params.plate` -> 号牌号码)."""
    name = (field or "").removeprefix("params.")
    return next((f["title"] for f in form_fields(query, lang) if f["name"] == name), None)


def _params(query: QueryType, form: dict[str, str]) -> dict[str, Any]:
    """The filled-in parameters (empty ones left out), numbers as numbers when they parse."""
    params: dict[str, Any] = {}
    for field in form_fields(query):
        raw = form.get("p_" + field["name"], "").strip()
        if not raw:
            continue
        if field["number"]:
            try:
                params[field["name"]] = int(raw) if raw.lstrip("-").isdigit() else float(raw)
                continue
            except ValueError:
                pass
        params[field["name"]] = raw
    return params


async def _has_consent(session: SessionDep, visitor: Visitor | None) -> bool:
    if visitor is None:
        return False
    channel = await signin.get_portal_channel_or_raise(session=session)
    found = await residents.active_consent(
        session=session,
        resident_id=visitor.resident.id,
        channel_id=channel.id,
        scope=queries.CONSENT_SCOPE,
    )
    return found is not None


def _query_page(
    request: Request,
    settings: SettingsDep,
    visitor: Visitor | None,
    city: City,
    service: Service,
    query: QueryType,
    *,
    status: int = 200,
    **context: Any,
) -> HTMLResponse:
    context.setdefault("form", {})
    context.setdefault("error", None)
    context.setdefault("error_field", None)
    context.setdefault("answer", None)
    context.setdefault("consented", False)
    answer = context.get("answer")
    lang = language(request)
    if answer is not None:
        context["cards"] = answers.cards(
            answer.records, query.fields, lang=lang, tz=city.timezone, currency=city.currency
        )
    return page(
        request,
        settings,
        "portal/query.html",
        status=status,
        visitor=visitor,
        city=city,
        service=service,
        query=query,
        fields=form_fields(query, lang),
        **context,
    )


@router.get("/c/{slug}/query/{code}", response_class=HTMLResponse)
async def query_form(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    visitor: OptionalVisitor,
    slug: str,
    code: str,
) -> Response:
    """The query's form; a personal one first needs a signed-in, verified resident."""
    city = await live_city_or_404(session, slug)
    service = await _service(session, city, code[:60], ServiceKind.QUERY)
    query = resolve(service)
    here = f"/c/{city.slug}/query/{service.code}"
    if query.personal and visitor is None:
        return redirect(sign_in_url(here, expired=session_ended(request)))
    if query.personal and visitor is not None and not visitor.reaches(service.required_level):
        return redirect(verify_url(here, city.slug))
    consented = await _has_consent(session, visitor)
    return _query_page(request, settings, visitor, city, service, query, consented=consented)


@router.post("/c/{slug}/query/{code}", response_class=HTMLResponse)
async def run_query(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    vault: VaultDep,
    hub: HubDep,
    visitor: OptionalVisitor,
    slug: str,
    code: str,
) -> Response:
    """Run the query as the portal channel; the answer as a table under the form."""
    form = await check_csrf(request)
    city = await live_city_or_404(session, slug)
    service = await _service(session, city, code[:60], ServiceKind.QUERY)
    query = resolve(service)
    channel = await signin.get_portal_channel_or_raise(session=session)
    if query.personal:
        if visitor is None:
            back = f"/c/{city.slug}/query/{service.code}"
            return redirect(sign_in_url(back, expired=session_ended(request)))
        if not await _has_consent(session, visitor):
            if form.get("consent") != "yes":
                return _query_page(
                    request, settings, visitor, city, service, query,
                    status=422, form=form, error="consent_required",
                )  # fmt: skip
            await residents.give_consent(
                session=session,
                resident_id=visitor.resident.id,
                channel_id=channel.id,
                scope=queries.CONSENT_SCOPE,
                purpose=CONSENT_PURPOSE,
            )
    try:
        _prepared, answer = await queries.run(
            session=session,
            vault=vault,
            hub=hub,
            city=city,
            channel_id=channel.id,
            code=service.code,
            user_id=visitor.user_id if (visitor and query.personal) else None,
            params=_params(query, form),
            actor=_actor(channel),
        )
    except CityHubError as exc:  # said on the form, still filled in
        if isinstance(exc, Forbidden) and exc.code in LEVEL_CODES:
            return redirect(verify_url(f"/c/{city.slug}/query/{service.code}", city.slug))
        problem, about = _problem(query, exc)
        return _query_page(
            request, settings, visitor, city, service, query,
            status=exc.status, form=form, error=problem,
            error_field=_field_label(query, about, language(request)),
            consented=True,
        )  # fmt: skip
    return _query_page(
        request, settings, visitor, city, service, query,
        form=form, answer=answer, consented=True,
    )  # fmt: skip


# -- lotteries -----------------------------------------------------------------------------


def published_files(round_: LotteryRound) -> list[str]:
    """The verification files the public file endpoint serves for the round now."""
    if round_.status == RoundStatus.OPEN:
        return []
    return list(FILE_NAMES if round_.status == RoundStatus.PUBLISHED else FILE_NAMES[:2])


async def _rounds(session: SessionDep, city: City, service: Service) -> list[LotteryRound]:
    found = await lotteries.get_all_rounds(
        session=session, city_id=city.id, after=None, limit=ROUNDS
    )
    return [r for r in found if r.service_id == service.id]


async def _mine(
    session: SessionDep, city: City, visitor: Visitor | None, round_: LotteryRound
) -> ApplicationRead | None:
    if visitor is None:
        return None
    channel = await signin.get_portal_channel_or_raise(session=session)
    try:
        app, found = await applications.get_for_user_or_raise(
            session=session,
            city=city,
            code=round_.code,
            channel_id=channel.id,
            user_id=visitor.user_id,
        )
    except NotFound:
        return None
    return ApplicationRead.of(app, found, city.slug, visitor.user_id)


def _reasons(exc: CityHubError, lang: str) -> list[str]:
    """The provider's reasons in the reader's language, where it gave them so."""
    reasons = exc.extra.get("reasons") or [exc.detail]
    translated = exc.extra.get("reason_texts") or []
    return [
        texts.pick(translated[n] if n < len(translated) else None, lang, reason)
        for n, reason in enumerate(reasons)
    ]


@router.get("/c/{slug}/lottery/{code}", response_class=HTMLResponse)
async def lottery_page(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    visitor: OptionalVisitor,
    slug: str,
    code: str,
) -> Response:
    """The service's rounds: phase, the resident's application and result, the files."""
    city = await live_city_or_404(session, slug)
    service = await _service(session, city, code[:60], ServiceKind.LOTTERY)
    rounds = [
        (r, lotteries.phase(r), await _mine(session, city, visitor, r), published_files(r))
        for r in await _rounds(session, city, service)
    ]
    return page(
        request,
        settings,
        "portal/lottery.html",
        visitor=visitor,
        city=city,
        service=service,
        rounds=rounds,
        error=None,
        reasons=None,
    )


@router.post("/c/{slug}/lottery/{code}/{round_code}/apply", response_class=HTMLResponse)
async def apply(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    vault: VaultDep,
    hub: HubDep,
    visitor: SignedInVisitor,
    slug: str,
    code: str,
    round_code: str,
) -> Response:
    """Apply (the provider checks eligibility); a lottery is real-name: verify first."""
    await check_csrf(request)
    city = await live_city_or_404(session, slug)
    service = await _service(session, city, code[:60], ServiceKind.LOTTERY)
    back = f"/c/{city.slug}/lottery/{service.code}"
    if not visitor.reaches(service.required_level):
        return redirect(verify_url(back, city.slug))
    channel = await signin.get_portal_channel_or_raise(session=session)
    round_ = await lotteries.get_round_or_raise(
        session=session, city_id=city.id, code=round_code[:60]
    )
    if round_.service_id != service.id:
        raise PageError(404, "round_not_found")
    try:
        await lottery_flows.apply(
            session=session,
            vault=vault,
            hub=hub,
            actor=_actor(channel),
            city=city,
            code=round_.code,
            channel_id=channel.id,
            user_id=visitor.user_id,
        )
    except CityHubError as exc:  # said on the round's page: not eligible, closed, applied
        rounds = [
            (r, lotteries.phase(r), await _mine(session, city, visitor, r), published_files(r))
            for r in await _rounds(session, city, service)
        ]
        return page(
            request,
            settings,
            "portal/lottery.html",
            status=exc.status,
            visitor=visitor,
            city=city,
            service=service,
            rounds=rounds,
            error=exc.code,
            reasons=_reasons(exc, language(request)) if exc.code == "not_eligible" else None,
        )
    return redirect(back)


@router.post("/c/{slug}/lottery/{code}/{round_code}/withdraw", response_class=HTMLResponse)
async def withdraw(
    request: Request,
    session: SessionDep,
    visitor: SignedInVisitor,
    slug: str,
    code: str,
    round_code: str,
) -> Response:
    """Withdraw the resident's application while the window is open."""
    await check_csrf(request)
    city = await live_city_or_404(session, slug)
    service = await _service(session, city, code[:60], ServiceKind.LOTTERY)
    channel = await signin.get_portal_channel_or_raise(session=session)
    round_ = await lotteries.get_round_or_raise(
        session=session, city_id=city.id, code=round_code[:60]
    )
    if round_.service_id != service.id:
        raise PageError(404, "round_not_found")
    await applications.withdraw(
        session=session, city=city, code=round_.code, channel=channel, user_id=visitor.user_id
    )
    return redirect(f"/c/{city.slug}/lottery/{service.code}")


SERVICE_PAGES["query"] = "/c/{slug}/query/{code}"
SERVICE_PAGES["lottery"] = "/c/{slug}/lottery/{code}"
