"""What a city admin may write in a service's `connector_config`, checked before it is stored:
resilience overrides within their bounds, a parameter schema whose patterns RE2 runs, a base
URL that is one. A 422 names the field; nothing half-written is kept."""

from __future__ import annotations

import re
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError

from cityhub.connectors.resilience import check_overrides
from cityhub.platform import patterns
from cityhub.platform.errors import Unprocessable
from cityhub.platform.outbound import split_url

SIMULATOR_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,59}$")


def check_config(config: dict[str, Any], *, field: str = "connector_config") -> None:
    """Unprocessable, naming the field, unless the connector_config can be used as written."""
    check_overrides(config.get("resilience"), field=f"{field}.resilience")
    schema = config.get("params_schema")
    if schema is not None:
        where = f"{field}.params_schema"
        if not isinstance(schema, dict):
            raise Unprocessable("params_schema is a JSON Schema object", field=where)
        try:
            Draft202012Validator.check_schema(schema)
        except SchemaError as exc:
            inside = ".".join(str(p) for p in exc.absolute_path)
            raise Unprocessable(
                f"params_schema is not a JSON Schema: {exc.message}"[:400],
                code="invalid_schema",
                field=f"{where}.{inside}" if inside else where,
            ) from None
        patterns.check_schema_patterns(schema, field=where)
    _check_sandbox(config.get("sandbox"), field=f"{field}.sandbox")
    base_url = config.get("base_url")
    if base_url is not None:
        if not isinstance(base_url, str):
            raise Unprocessable("base_url is a URL", code="invalid_url", field=f"{field}.base_url")
        split_url(base_url, field=f"{field}.base_url")


def _check_sandbox(sandbox: Any, *, field: str) -> None:
    """The simulator standing in for the service in the sandbox (`connectors/sandbox.py`)."""
    if sandbox is None:
        return
    if not isinstance(sandbox, dict) or set(sandbox) != {"kind", "provider_id"}:
        raise Unprocessable(
            'sandbox is {"kind": <a simulator kind>, "provider_id": <its provider id>}',
            field=field,
        )
    for key in ("kind", "provider_id"):
        value = sandbox[key]
        if not isinstance(value, str) or not SIMULATOR_ID.match(value):
            raise Unprocessable(f"sandbox.{key} is not a simulator's name", field=f"{field}.{key}")
