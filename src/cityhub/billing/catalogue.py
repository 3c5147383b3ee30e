"""The biller catalogue: what kind of bill each biller issues, the fields a customer fills in
to look bills up, and how it takes payments, as a channel draws its form from them.

A biller's fields are data on its terms (`BillerTerms.fields`); a biller without any asks for
one `account` field of its `account_pattern`, as every biller did before fields were declared.
The first field is the account the hub keeps with the bill and pays against; the others go to
the biller with it (a plate and an engine number, a meter number and a district).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from cityhub.billing.models import BillerTerms
from cityhub.billing.terms import Terms
from cityhub.cities import service as cities
from cityhub.cities.enums import ServiceKind
from cityhub.platform import patterns
from cityhub.platform.errors import NotFound, Unavailable, Unprocessable

if TYPE_CHECKING:
    from cityhub.cities.models import Service

ACCOUNT_LABELS = {"zh-Hans": "户号", "zh-Hant": "戶號", "en": "Account number"}
MAX_VALUE = 80  # a bill's account column


@dataclass(frozen=True)
class CustomerField:
    """One field a customer fills in to look their bills up."""

    name: str
    labels: Mapping[str, str]
    pattern: str
    example: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """The field as stored and answered."""
        return {
            "name": self.name,
            "labels": dict(self.labels),
            "pattern": self.pattern,
            "example": self.example,
        }


def fields_of(terms: Terms) -> tuple[CustomerField, ...]:
    """The fields a biller asks for: the declared ones, or one `account` field."""
    if terms.fields:
        return tuple(
            CustomerField(
                name=f["name"], labels=f["labels"], pattern=f["pattern"], example=f.get("example")
            )
            for f in terms.fields
        )
    return (CustomerField(name="account", labels=ACCOUNT_LABELS, pattern=terms.account_pattern),)


def check_fields(terms: Terms, values: Mapping[str, str]) -> tuple[str, dict[str, str]]:
    """The account and the other fields' values, each checked against its declared pattern;
    422 naming the first field that is missing, unknown or not in its format."""
    declared = fields_of(terms)
    names = {f.name for f in declared}
    for name in values:
        if name not in names:
            raise Unprocessable(
                f"this biller asks no field {name!r} (it asks {', '.join(sorted(names))})",
                code="unknown_field",
                field=name,
            )
    for f in declared:
        value = values.get(f.name)
        if not value:
            raise Unprocessable(
                f"this biller needs {f.name!r} ({f.labels.get('en', f.name)})",
                code="field_missing",
                field=f.name,
            )
        if len(value) > MAX_VALUE:
            raise Unprocessable(
                f"{f.name} is longer than {MAX_VALUE} characters",
                code="invalid_account" if f.name == "account" else "invalid_field",
                field=f.name,
            )
        _check_one(f, value)
    account, *others = declared
    return values[account.name], {f.name: values[f.name] for f in others}


def _check_one(f: CustomerField, value: str) -> None:
    try:
        matches = patterns.fullmatch(f.pattern, value)
    except patterns.PatternError:  # stored before patterns were checked at write time
        raise Unavailable(
            "this biller's field format cannot be used; the city must set it again",
            code="terms_misconfigured",
        ) from None
    if not matches:
        raise Unprocessable(
            f"{f.name} {value!r} is not in this biller's format ({f.pattern})",
            code="invalid_account" if f.name == "account" else "invalid_field",
            field=f.name,
        )


@dataclass(frozen=True)
class Biller:
    """A biller as the catalogue shows it: its service and its terms in force."""

    service: Service
    terms: Terms


async def _terms_of(session: AsyncSession, city_id: int, ids: Sequence[int]) -> dict[int, Terms]:
    if not ids:
        return {}
    rows = await session.scalars(
        select(BillerTerms).where(BillerTerms.city_id == city_id, BillerTerms.service_id.in_(ids))
    )
    return {row.service_id: Terms.of(row) for row in rows.all()}


async def get_all(
    *,
    session: AsyncSession,
    city_id: int,
    channel_id: int | None,
    after: int | None = None,
    limit: int = 50,
) -> list[Biller]:
    """A city's billers in id order (for a channel: only those granted to it, and active)."""
    services = await cities.get_all_services(
        session=session,
        city_id=city_id,
        channel_id=channel_id,
        kind=ServiceKind.BILL,
        after=after,
        limit=limit,
    )
    found = await _terms_of(session, city_id, [s.id for s in services])
    return [Biller(service=s, terms=found.get(s.id, Terms())) for s in services]


async def get_or_raise(
    *, session: AsyncSession, city_id: int, channel_id: int | None, code: str
) -> Biller:
    """One biller of the city (for a channel: one granted to it), or NotFound/Forbidden."""
    service = await cities.get_service_or_raise(session=session, city_id=city_id, code=code)
    if service.kind != ServiceKind.BILL:  # as `bills.get_bill_service_or_raise` (it uses us)
        raise NotFound(f"service {code!r} is not a biller", code="not_a_bill_service")
    if channel_id is not None:
        await cities.require_service_granted(
            session=session, channel_id=channel_id, service=service
        )
    found = await _terms_of(session, city_id, [service.id])
    return Biller(service=service, terms=found.get(service.id, Terms()))
