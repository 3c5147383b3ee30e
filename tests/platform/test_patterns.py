"""Staff-written patterns: RE2 runs them in linear time and refuses what it cannot run,
wherever a pattern sits in a schema."""

from __future__ import annotations

from typing import Any

import pytest

from cityhub.platform import patterns
from cityhub.platform.errors import Unprocessable
from tests.platform.deadline import bounded


def test_a_catastrophic_pattern_is_matched_in_linear_time() -> None:
    with bounded(10, "RE2 on a catastrophic pattern"):
        assert not patterns.fullmatch(r"^([0-9]+)+$", "1" * 100_000 + "x")
    assert patterns.fullmatch(r"^([0-9]+)+$", "12345")


@pytest.mark.parametrize(
    ("schema", "field"),
    [
        ({"pattern": r"(a)\1"}, "s.pattern"),
        ({"properties": {"x": {"pattern": "(?=a)"}}}, "s.properties.x.pattern"),
        ({"items": {"anyOf": [{}, {"pattern": "(?!a)"}]}}, "s.items.anyOf.1.pattern"),
        (
            {"$defs": {"d": {"propertyNames": {"pattern": "(?<=a)"}}}},
            "s.$defs.d.propertyNames.pattern",
        ),
        (
            {"properties": {"x": {"patternProperties": {"a": {}}}}},
            "s.properties.x.patternProperties",
        ),
        ({"pattern": "a" * (patterns.MAX_PATTERN_LENGTH + 1)}, "s.pattern"),
    ],
)
def test_a_pattern_re2_cannot_run_is_refused_wherever_it_is(
    schema: dict[str, Any], field: str
) -> None:
    with pytest.raises(Unprocessable) as caught:
        patterns.check_schema_patterns(schema, field="s")
    assert (caught.value.code, caught.value.field) == ("invalid_pattern", field)


def test_the_staff_schema_validator_checks_patterns_with_re2() -> None:
    validator = patterns.StaffSchemaValidator(
        {"type": "object", "properties": {"d": {"type": "string", "pattern": "^([a-z]+)+$"}}}
    )
    with bounded(10, "a schema validated against a catastrophic pattern"):
        errors = list(validator.iter_errors({"d": "a" * 100_000 + "!"}))
    assert [list(e.absolute_path) for e in errors] == [["d"]]
    assert list(validator.iter_errors({"d": "abc"})) == []
