"""Search parameter values as SQL: each repeat ANDed, each comma-separated value ORed."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import Select, false, or_
from sqlalchemy.sql.elements import ColumnElement

from cityhub.appointments.fhir import search
from cityhub.appointments.fhir.resources import DEPARTMENT_SYSTEM, number_of
from cityhub.appointments.models import ClinicSession, Department
from cityhub.platform.errors import BadRequest

# Where each actor type of a Schedule (and so of a Slot's or an Appointment's) lives.
ACTOR_COLUMNS: dict[str, Any] = {
    "Practitioner": ClinicSession.practitioner_id,
    "HealthcareService": ClinicSession.department_id,
    "Location": ClinicSession.service_id,
}


def apply(
    query: Select[Any],
    args: search.Args,
    name: str,
    clause: Callable[[str], ColumnElement[bool]],
) -> Select[Any]:
    """Narrow the query by one parameter: a match of any comma-value, in every repeat."""
    for values in args.get(name):
        query = query.where(or_(*[clause(v) for v in values]) if values else false())
    return query


def department_token(value: str) -> ColumnElement[bool]:
    """`service-type` and `specialty`: a department code (`urn:cityhub:department|code`)."""
    system, code = search.token(value)
    if system not in (None, DEPARTMENT_SYSTEM):
        return false()
    return Department.code == code


def actor(value: str, kind: str | None = None) -> ColumnElement[bool]:
    """A reference to a Practitioner, HealthcareService or Location a session belongs to."""
    typed, fhir_id = search.reference(value, kind)
    if typed is None:
        for name, column in ACTOR_COLUMNS.items():
            if (n := number_of(name, fhir_id)) is not None:
                found: ColumnElement[bool] = column == n  # the id's prefix says its type
                return found
        return false()
    if typed not in ACTOR_COLUMNS:
        return false()
    number = number_of(typed, fhir_id)
    if number is None:
        return false()
    clause: ColumnElement[bool] = ACTOR_COLUMNS[typed] == number
    return clause


def boolean(value: str, name: str) -> bool:
    """A token of a boolean element."""
    if value not in ("true", "false"):
        raise BadRequest(f"{name} is true or false", code="invalid_param", field=name)
    return value == "true"
