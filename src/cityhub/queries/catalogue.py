"""The kinds of information query the hub knows, and how a query service declares its own.

A query service is a catalogue service of kind `query` whose connector_config names the query:

    {"provider_id": "sh-traffic", "query": "traffic_violations"}

and may replace the parameters' JSON Schema (`params_schema`), or declare a query the hub does
not know, for a provider connected by a declarative file:

    {"definition": "pudong-permits", "query": "permits", "personal": true,
     "params_schema": {"type": "object", "properties": {...}}, "mask": {"holder": "name"}}
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError

from cityhub.platform import patterns
from cityhub.platform.errors import Unavailable, Unprocessable
from cityhub.queries.fields import AnswerField, fields_of, t

if TYPE_CHECKING:
    from cityhub.cities.models import Service

# `x-title` and `x-description`: the parameter's label and hint in the hub's languages (the
# plain `title` and `description` are what a reader sees when their language is missing).
ID_NUMBER = {
    "type": "string",
    "pattern": "^[0-9]{17}[0-9Xx]$",
    "title": "Identity number",
    "description": "your own 18-character identity number (leave out: the verified one)",
    "x-title": t("身份证号码", "身分證號碼", "Identity number"),
    "x-description": t(
        "本人的18位身份证号码(不填:用已核验的号码)",
        "本人的18位身分證號碼(不填:用已核驗的號碼)",
        "your own 18-character identity number (leave out: the verified one)",
    ),
}
DISTRICT = {
    "type": "string",
    "minLength": 1,
    "maxLength": 40,
    "title": "District",
    "x-title": t("区", "區", "District"),
    "x-description": t("例如:浦东新区", "例如:浦東新區", "e.g. Pudong"),
}
PLATE = {
    "type": "string",
    "pattern": "^[\u4e00-\u9fff][A-Z][A-HJ-NP-Z0-9]{5,6}$",
    "title": "Plate number",
    "description": "a plate registered to you, e.g. 沪A12345",
    "x-title": t("号牌号码", "號牌號碼", "Plate number"),
    "x-description": t("登记在您名下的号牌,例如 沪A12345", "登記在您名下的號牌,例如 滬A12345",
                       "a plate registered to you, its province's character first"),
}  # fmt: skip
MASKS = {"id_number": "id_number", "owner_id_number": "id_number", "name": "name"}
MASKS |= {"owner_name": "name", "holder": "name", "phone": "phone"}


def _object(required: list[str], **properties: dict[str, Any]) -> dict[str, Any]:
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "properties": properties,
        "required": required,
        "additionalProperties": False,
    }


@dataclass(frozen=True)
class QueryType:
    """What a query asks for, whether it is about the resident, and what to mask."""

    name: str
    personal: bool
    params_schema: dict[str, Any]
    subject_param: str | None = None  # a parameter that may only be the resident's own id
    mask: dict[str, str] = field(default_factory=dict)
    fields: tuple[AnswerField, ...] = ()  # what its records hold, for people (fields.py)


QUERY_TYPES = {
    q.name: q
    for q in (
        QueryType("traffic_violations", True, _object(["plate"], plate=PLATE)),
        QueryType(
            "social_insurance", True, _object([], id_number=ID_NUMBER), subject_param="id_number"
        ),
        QueryType(
            "housing_fund", True, _object([], id_number=ID_NUMBER), subject_param="id_number"
        ),
        QueryType("air_quality", False, _object(["district"], district=DISTRICT)),
        QueryType("planned_outages", False, _object(["district"], district=DISTRICT)),
    )
}


def _misconfigured(service: Service, why: str) -> Unavailable:
    return Unavailable(
        f"query service {service.code!r} is misconfigured: {why}", code="query_misconfigured"
    )


def resolve(service: Service) -> QueryType:
    """The query a service answers, with the city's own schema and masks applied."""
    config = service.connector_config
    name = config.get("query")
    if not isinstance(name, str):
        raise _misconfigured(service, "connector_config.query is not set")
    known = QUERY_TYPES.get(name)
    schema = config.get("params_schema") or (known.params_schema if known else None)
    if not isinstance(schema, dict):
        raise _misconfigured(service, f"{name!r} is not a known query and has no params_schema")
    try:
        Draft202012Validator.check_schema(schema)
        patterns.check_schema_patterns(schema, field="params_schema")
    except SchemaError as exc:
        raise _misconfigured(
            service, f"params_schema is not a JSON Schema: {exc.message}"
        ) from None
    except Unprocessable as exc:  # stored before patterns were checked at write time
        raise _misconfigured(service, f"{exc.field}: {exc.detail}") from None
    # A known personal query stays personal whatever the configuration says: a typo must not
    # turn everyone's balances into public data.
    personal = known.personal if known else config.get("personal", True) is not False
    mask = {**(known.mask if known else {}), **(config.get("mask") or {})}
    return QueryType(
        name=name,
        personal=personal,
        params_schema=schema,
        subject_param=config.get("subject_param", known.subject_param if known else None),
        mask=mask,
        fields=fields_of(name, config, service.code),
    )
