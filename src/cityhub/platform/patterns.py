"""Regular expressions that staff write (a biller's account format, a query's parameter
patterns) run with RE2, a linear-time engine.

Python's `re` backtracks: a pattern such as `^([0-9]+)+$` takes exponential time on an input
that almost matches, and a look-up running it on the event loop stalls every city's requests.
RE2 matches in time linear in the input whatever the pattern, and refuses what only a
backtracking engine can do (back-references, look-around), which is refused at write time with
a 422 naming the field. Patterns the hub's own code writes keep using `re`.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import lru_cache
from typing import Any

import re2
from jsonschema import Draft202012Validator, validators
from jsonschema.exceptions import ValidationError
from jsonschema.protocols import Validator

from cityhub.platform.errors import Unprocessable

MAX_PATTERN_LENGTH = 1000
_OPTIONS = re2.Options()
_OPTIONS.log_errors = False  # a refused pattern is the writer's mistake, not a log line
# Keywords whose value is a subschema, a list of them, or a name -> subschema map.
_ONE = (
    "additionalProperties",
    "items",
    "contains",
    "not",
    "if",
    "then",
    "else",
    "propertyNames",
    "unevaluatedItems",
    "unevaluatedProperties",
    "additionalItems",
)
_MANY = ("allOf", "anyOf", "oneOf", "prefixItems")
_NAMED = ("properties", "$defs", "definitions", "dependentSchemas")


class PatternError(ValueError):
    """A pattern RE2 cannot run; the message says why."""


def _reason(exc: Exception) -> str:
    raw = exc.args[0] if exc.args else exc
    return raw.decode(errors="replace") if isinstance(raw, bytes) else str(raw)


@lru_cache(maxsize=1024)
def compile_pattern(pattern: str) -> re2._Regexp[str]:
    """The compiled pattern (cached), or PatternError saying why RE2 refuses it."""
    if len(pattern) > MAX_PATTERN_LENGTH:
        raise PatternError(f"a pattern is at most {MAX_PATTERN_LENGTH} characters")
    try:
        return re2.compile(pattern, _OPTIONS)
    except re2.error as exc:
        raise PatternError(
            f"not a pattern this hub runs ({_reason(exc)}); back-references and look-around "
            "are not supported"
        ) from None


def check_pattern(pattern: str, *, field: str) -> str:
    """The pattern if RE2 runs it; Unprocessable naming `field` otherwise."""
    try:
        compile_pattern(pattern)
    except PatternError as exc:
        raise Unprocessable(str(exc), code="invalid_pattern", field=field) from None
    return pattern


def fullmatch(pattern: str, text: str) -> bool:
    """Whether the whole text matches (in linear time)."""
    return compile_pattern(pattern).fullmatch(text) is not None


def _subschemas(schema: dict[str, Any], path: str) -> Iterator[tuple[Any, str]]:
    for key in _ONE:
        if key in schema:
            yield schema[key], f"{path}.{key}"
    for key in _MANY:
        if isinstance(schema.get(key), list):
            yield from ((s, f"{path}.{key}.{i}") for i, s in enumerate(schema[key]))
    for key in _NAMED:
        if isinstance(schema.get(key), dict):
            yield from ((s, f"{path}.{key}.{n}") for n, s in schema[key].items())


def check_schema_patterns(schema: Any, *, field: str) -> None:
    """Unprocessable, naming the place, if a JSON Schema holds a pattern RE2 cannot run, or
    `patternProperties` (whose names the validator would match with a backtracking engine)."""
    if not isinstance(schema, dict):
        return
    if "patternProperties" in schema:
        raise Unprocessable(
            "patternProperties is not supported: name the properties",
            code="invalid_pattern",
            field=f"{field}.patternProperties",
        )
    if isinstance(schema.get("pattern"), str):
        check_pattern(schema["pattern"], field=f"{field}.pattern")
    for sub, path in _subschemas(schema, field):
        check_schema_patterns(sub, field=path)


def _re2_pattern(
    validator: Any, pattern: str, instance: Any, schema: dict[str, Any]
) -> Iterator[ValidationError]:
    if not validator.is_type(instance, "string"):
        return
    try:
        found = compile_pattern(pattern).search(instance)
    except PatternError as exc:
        yield ValidationError(f"the schema's pattern cannot be used: {exc}")
        return
    if found is None:
        yield ValidationError(f"{instance!r} does not match {pattern!r}")


# Draft 2020-12 with `pattern` checked by RE2: the validator of schemas staff write.
StaffSchemaValidator: type[Validator] = validators.extend(  # type: ignore[no-untyped-call]
    Draft202012Validator, {"pattern": _re2_pattern}
)
