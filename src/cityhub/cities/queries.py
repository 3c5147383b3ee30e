"""The catalogue's queries, built once per shape and run with their values bound."""

from __future__ import annotations

import functools
from typing import Any

from sqlalchemy import Integer, Select, bindparam, select

from cityhub.cities.models import Grant, Service, ServiceStatus

# What the catalogue answers of a service (`ServiceRead.dump_row`), and its id (the cursor).
CATALOGUE_COLUMNS = (
    Service.id, Service.code, Service.category_code, Service.kind, Service.name_zh_hans,
    Service.name_zh_hant, Service.name_en, Service.provider, Service.status, Service.identity_level,
    Service.provider_names,
)  # fmt: skip


@functools.cache
def _services_query(
    rows: bool, channel: bool, category: bool, kind: bool, after: bool
) -> Select[Any]:
    """The services query of this shape (built once: building one costs more than running
    it), its values bound at execution by `services`."""
    columns = CATALOGUE_COLUMNS if rows else (Service,)
    query = (
        select(*columns)
        .where(Service.city_id == bindparam("city_id"))
        .order_by(Service.id)
        .limit(bindparam("limit", type_=Integer))
    )
    if channel:
        granted = select(Grant.service_id).where(
            Grant.city_id == bindparam("city_id"), Grant.channel_id == bindparam("channel_id")
        )
        query = query.where(Service.id.in_(granted), Service.status == ServiceStatus.ACTIVE)
    if category:
        query = query.where(Service.category_code == bindparam("category"))
    if kind:
        query = query.where(Service.kind == bindparam("kind"))
    if after:
        query = query.where(Service.id > bindparam("after"))
    return query


def services(rows: bool, **filters: Any) -> tuple[Select[Any], dict[str, Any]]:
    """The query for these filters and its values: a filter left None applies not, nor does
    an empty category or kind or a zero cursor."""
    for name in ("category", "kind", "after"):
        filters[name] = filters[name] or None
    params = {name: value for name, value in filters.items() if value is not None}
    shape = (name in params for name in ("channel_id", "category", "kind", "after"))
    return _services_query(rows, *shape), params
