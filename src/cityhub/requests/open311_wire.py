"""The Open311 GeoReport v2 wire: JSON or XML by the path's extension, errors as the
specification's list of `{code, description}` (the field at fault named with Open311's
names), the language of names, and requests, types and form fields in Open311's shapes."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import Request
from fastapi.responses import Response
from sqlalchemy.ext.asyncio import AsyncSession

from cityhub.platform import uow
from cityhub.platform.db import utcnow
from cityhub.platform.errors import BadRequest, CityHubError, Unprocessable
from cityhub.requests import public, service, xml
from cityhub.requests.models import (
    OPEN_STATUSES,
    Department,
    RequestStatus,
    RequestType,
    ServiceRequest,
)

FORMATS = {"json": "application/json", "xml": "text/xml; charset=utf-8"}
WINDOW = dt.timedelta(days=90)
Handler = Callable[[], Awaitable[tuple[str, Any]]]
# The hub's names of a report's fields, as Open311 calls them.
FIELDS = {"type": "service_code", "lon": "long", "address": "address_string", "photos": "media"}


def language(request: Request) -> str:
    """The language of names: `lang`, else the first of Accept-Language, else zh-Hans."""
    wanted = (
        request.query_params.get("lang") or request.headers.get("accept-language", "")
    ).lower()
    if wanted.startswith("en"):
        return "en"
    if wanted.startswith(("zh-hant", "zh-tw", "zh-hk", "zh-mo")):
        return "zh-Hant"
    return "zh-Hans"


def render(fmt: str, root: str, value: Any, status: int = 200) -> Response:
    """The answer as JSON or as XML under `root`."""
    if fmt == "xml":
        return Response(xml.render(root, value), status_code=status, media_type=FORMATS["xml"])
    body = json.dumps(value, ensure_ascii=False, default=_json_default)
    return Response(body, status_code=status, media_type=FORMATS["json"])


def _json_default(value: Any) -> str:
    if isinstance(value, dt.datetime):
        return value.isoformat()
    raise TypeError(type(value).__name__)


async def answer(session: AsyncSession, fmt: str, handler: Handler) -> Response:
    """Run the handler; a CityHubError becomes the specification's error list, after the
    transaction was rolled back."""
    if fmt not in FORMATS:
        return render("json", "errors", [{"code": 404, "description": "use .json or .xml"}], 404)
    try:
        root, value = await handler()
    except CityHubError as exc:
        await uow.undo(session)
        text = exc.detail or exc.title
        if exc.field:
            head, _, rest = exc.field.partition(".")
            field = FIELDS.get(head, head) + (f".{rest}" if rest else "")
            text = f"{field}: {text}"
        return render(fmt, "errors", [{"code": exc.status, "description": text}], exc.status)
    return render(fmt, root, value)


def service_entry(request_type: RequestType, lang: str) -> dict[str, Any]:
    """A request type as the GET Service List shows it."""
    return {
        "service_code": request_type.code,
        "service_name": request_type.names.get(lang) or request_type.names["en"],
        "description": request_type.descriptions.get(lang) or request_type.descriptions["en"],
        "metadata": bool(request_type.attributes),
        "type": "realtime",
        "keywords": request_type.keywords,
        "group": request_type.group,
    }


def definition(request_type: RequestType, lang: str) -> dict[str, Any]:
    """A request type's attributes as a GET Service Definition answers them."""
    return {
        "service_code": request_type.code,
        "attributes": [
            {
                "variable": True,
                "code": a["code"],
                "datatype": a["datatype"],
                "required": bool(a.get("required")),
                "datatype_description": None,
                "order": a.get("order", 0),
                "description": a["descriptions"].get(lang) or a["descriptions"]["en"],
                "values": [
                    {"key": v["key"], "name": v["names"].get(lang) or v["names"]["en"]}
                    for v in a.get("values", [])
                ],
            }
            for a in request_type.attributes
        ],
    }


def attributes(form: Any) -> dict[str, Any]:
    """`attribute[code]=v` and `attribute[code][]=v` fields as {code: value or [values]}."""
    found: dict[str, Any] = {}
    for name, value in form.multi_items():
        if not (isinstance(value, str) and name.startswith("attribute[")):
            continue
        inner = name[len("attribute[") :]
        code, _, rest = inner.partition("]")
        if rest == "[]":
            found.setdefault(code, []).append(value)
        else:
            found[code] = value
    return found


def number(form: Any, name: str) -> float | None:
    """A form field as a number (None when empty; 422 naming it when it is not one)."""
    raw = form.get(name)
    if raw in (None, ""):
        return None
    try:
        return float(raw)
    except ValueError:
        raise Unprocessable(f"{name} must be a number", field=name) from None


def window(start: str | None, end: str | None) -> tuple[dt.datetime, dt.datetime]:
    """The window asked for: at most 90 days, the last 90 unless told otherwise."""

    def parse(value: str, field: str) -> dt.datetime:
        try:
            moment = dt.datetime.fromisoformat(value)
        except ValueError:
            raise BadRequest(f"{value!r} is not a W3C date and time", field=field) from None
        return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)

    until = parse(end, "end_date") if end else utcnow()
    since = parse(start, "start_date") if start else until - WINDOW
    if until - since > WINDOW or until < since:
        raise BadRequest("start_date to end_date spans at most 90 days", field="start_date")
    return since, until


def statuses(status: str | None) -> list[RequestStatus] | None:
    """The hub's statuses that Open311's `open` and `closed` stand for."""
    if not status:
        return None
    wanted = {s.strip() for s in status.split(",")}
    if not wanted <= {"open", "closed"}:
        raise BadRequest("status is open or closed", field="status")
    found: list[RequestStatus] = []
    if "open" in wanted:
        found += OPEN_STATUSES
    if "closed" in wanted:
        found += [RequestStatus.RESOLVED, RequestStatus.CLOSED]
    return found


def open311_status(status: RequestStatus) -> str:
    """A request's status in Open311's two words."""
    return "open" if status in OPEN_STATUSES else "closed"


async def full_requests(
    session: AsyncSession, lang: str, rows: list[ServiceRequest]
) -> list[dict[str, Any]]:
    """A channel's own requests in full."""
    found = []
    for r in rows:
        request_type = await session.get(RequestType, r.type_id)
        department = await session.get(Department, r.department_id)
        assert request_type is not None and department is not None
        notes = [
            e.note
            for e in await service.timeline_of(session=session, request=r, internal=False)
            if e.note
        ]
        found.append(
            {
                "service_request_id": r.public_id,
                "status": open311_status(r.status),
                "status_notes": notes[-1] if notes else None,
                "service_name": request_type.names.get(lang) or request_type.names["en"],
                "service_code": request_type.code,
                "description": r.description,
                "agency_responsible": department.names.get(lang) or department.names["en"],
                "service_notice": None,
                "requested_datetime": r.created_at,
                "updated_datetime": r.updated_at,
                "expected_datetime": r.due_at,
                "address": r.address,
                "address_id": None,
                "zipcode": None,
                "lat": r.lat,
                "long": r.lon,
                "media_url": None,
            }
        )
    return found


def public_requests(rows: list[public.PublicRequest], lang: str) -> list[dict[str, Any]]:
    """Requests as the public view shows them (coarsened, no descriptions)."""
    return [
        {
            "service_request_id": r.id,
            "status": open311_status(r.status),
            "service_name": r.type_names.get(lang) or r.type_names["en"],
            "service_code": r.type,
            "requested_datetime": r.requested_at,
            "updated_datetime": r.updated_at,
            "expected_datetime": r.expected_at,
            "lat": r.lat,
            "long": r.lon,
        }
        for r in rows
    ]
