"""Declarative connector descriptions: validation against the published JSON Schema, request
templates, and the mapping of a provider's answer to our fields.
"""

from __future__ import annotations

import json
import re
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import quote

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError
from jsonschema.protocols import Validator

from cityhub.connectors.resilience import check_overrides
from cityhub.connectors.transport import malformed
from cityhub.platform.errors import Unprocessable

SCHEMA_PATH = Path(__file__).with_name("connector.schema.json")
REQUIRED_OPERATIONS = {"biller": ("bills",), "eligibility": ("eligibility",), "records": ()}
_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
_MISSING = object()


@lru_cache
def schema() -> dict[str, Any]:
    """The published JSON Schema of connector descriptions."""
    loaded: dict[str, Any] = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    return loaded


@lru_cache
def _validator() -> Draft202012Validator:
    return Draft202012Validator(schema())


def error_field(error: ValidationError) -> str:
    """The dotted name of the value a JSON Schema error is about (a missing property's own
    name for `required`, the extra one for `additionalProperties`)."""
    path = [str(p) for p in error.absolute_path]
    if error.validator == "required" and isinstance(error.instance, dict):
        wanted = error.validator_value if isinstance(error.validator_value, list) else []
        path += [n for n in wanted if n not in error.instance][:1]
    elif error.validator == "additionalProperties" and isinstance(error.instance, dict):
        schema = error.schema if isinstance(error.schema, dict) else {}
        allowed = set(schema.get("properties", {}))
        extra = sorted(k for k in error.instance if k not in allowed)
        path += extra[:1]
    return ".".join(path) or "body"


def first_error(validator: Validator, instance: Any) -> ValidationError | None:
    """The most relevant error, the same one every time (deepest path first)."""
    errors = sorted(
        validator.iter_errors(instance), key=lambda e: (-len(e.absolute_path), str(e.path))
    )
    if not errors:
        return None
    error: ValidationError = errors[0]
    if error.validator == "oneOf" and error.context:
        # Name the branch the author meant: the one whose `type` const they wrote.
        error = min(error.context, key=lambda e: (e.validator == "const", -len(e.path)))
    return error


def validate(definition: Any) -> dict[str, Any]:
    """The description if valid; Unprocessable naming the field otherwise."""
    error = first_error(_validator(), definition)
    if error is not None:
        field = error_field(error)
        raise Unprocessable(
            f"{field}: {error.message}"[:400], code="invalid_connector", field=field
        )
    assert isinstance(definition, dict)
    operations = definition["operations"]
    for needed in REQUIRED_OPERATIONS[definition["kind"]]:
        if needed not in operations:
            raise Unprocessable(
                f"a {definition['kind']} connector needs the operation {needed!r}",
                code="invalid_connector",
                field=f"operations.{needed}",
            )
    check_overrides(definition.get("resilience"), field="resilience")
    test = definition.get("test")
    if test and test["operation"] not in operations:
        raise Unprocessable(
            f"test.operation {test['operation']!r} is not one of the operations",
            code="invalid_connector",
            field="test.operation",
        )
    return definition


def fill(template: Any, params: dict[str, Any], *, url: bool = False) -> Any:
    """The template with `{name}` placeholders filled from params (URL-quoted in paths)."""
    if isinstance(template, str):
        whole = _PLACEHOLDER.fullmatch(template)
        if whole and not url:
            return _param(params, whole.group(1))

        def one(match: re.Match[str]) -> str:
            value = str(_param(params, match.group(1)))
            return quote(value, safe="") if url else value

        return _PLACEHOLDER.sub(one, template)
    if isinstance(template, dict):
        return {k: fill(v, params) for k, v in template.items()}
    if isinstance(template, list):
        return [fill(v, params) for v in template]
    return template


def _param(params: dict[str, Any], name: str) -> Any:
    if name not in params:
        raise Unprocessable(
            f"the operation needs the parameter {name!r}", code="missing_parameter", field=name
        )
    return params[name]


def dig(data: Any, path: str) -> Any:
    """The value at a dotted path (`result.items.0.amount`); `_MISSING` when absent."""
    if not path:
        return data
    for part in path.split("."):
        if isinstance(data, dict) and part in data:
            data = data[part]
        elif isinstance(data, list) and part.isdigit() and int(part) < len(data):
            data = data[int(part)]
        else:
            return _MISSING
    return data


def yuan_to_fen(value: Any, *, provider: str, field: str) -> int:
    """An amount in yuan ("12.34", 12.34) as integer fen; a fraction of a fen is malformed."""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise malformed(provider, f"{field} is not an amount")
    try:
        fen = Decimal(str(value)) * 100
    except InvalidOperation:
        raise malformed(provider, f"{field} is not an amount") from None
    if fen != fen.to_integral_value():
        raise malformed(provider, f"{field} has a fraction of a fen")
    return int(fen)


def map_answer(body: Any, response: dict[str, Any], *, provider: str) -> Any:
    """Our view of an answer: a list of mapped items when `items` is set, else one item."""
    items_path = response.get("items")
    fields: dict[str, Any] = response.get("fields") or {}
    if items_path is None:
        return _map_item(body, fields, provider)
    items = dig(body, items_path)
    if not isinstance(items, list):
        raise malformed(provider, f"{items_path or 'the answer'} is not a list")
    return [_map_item(item, fields, provider) for item in items]


def _map_item(item: Any, fields: dict[str, Any], provider: str) -> dict[str, Any]:
    if not isinstance(item, dict):
        raise malformed(provider, "an item is not an object")
    if not fields:
        return item
    mapped: dict[str, Any] = {}
    for ours, spec in fields.items():
        spec = {"path": spec} if isinstance(spec, str) else spec
        value = dig(item, spec["path"])
        if value is _MISSING:
            if "default" in spec:
                mapped[ours] = spec["default"]
            continue  # the model that reads it says whether it was required
        if spec.get("unit") == "yuan" and value is not None:
            value = yuan_to_fen(value, provider=provider, field=spec["path"])
        if "values" in spec:
            if not isinstance(value, str | int | bool) or str(value) not in spec["values"]:
                raise malformed(provider, f"{spec['path']} has an unknown value {value!r}")
            value = spec["values"][str(value)]
        mapped[ours] = value
    return mapped
