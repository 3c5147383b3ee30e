"""The catalogue's categories: shared by every city, managed by the operator."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from cityhub.cities.models import ServiceCategory
from cityhub.cities.schemas import CategoryCreate, CategoryUpdate
from cityhub.identity import audit
from cityhub.platform.errors import Conflict, NotFound, Unprocessable


async def get_all(
    *, session: AsyncSession, include_disabled: bool = False
) -> list[ServiceCategory]:
    """The categories in display order (the disabled ones only when asked)."""
    query = select(ServiceCategory).order_by(ServiceCategory.position, ServiceCategory.code)
    if not include_disabled:
        query = query.where(ServiceCategory.active.is_(True))
    return list((await session.scalars(query)).all())


async def get_or_raise(*, session: AsyncSession, code: str) -> ServiceCategory:
    """The category with this code, or NotFound."""
    found = await session.get(ServiceCategory, code)
    if found is None:
        raise NotFound(f"no category {code!r}", code="category_not_found", field="category")
    return found


async def require_usable(*, session: AsyncSession, code: str) -> None:
    """Unprocessable unless a new or changed service may be put in this category."""
    found = await session.get(ServiceCategory, code)
    if found is None:
        raise Unprocessable(f"no category {code!r}", code="unknown_category", field="category")
    if not found.active:
        raise Unprocessable(
            f"category {code!r} is disabled", code="category_disabled", field="category"
        )


async def create(
    *, session: AsyncSession, actor: audit.Actor, category_in: CategoryCreate
) -> ServiceCategory:
    """A new category of the catalogue."""
    if await session.get(ServiceCategory, category_in.code) is not None:
        raise Conflict(
            f"category {category_in.code!r} exists", code="category_exists", field="code"
        )
    category = ServiceCategory(
        code=category_in.code,
        position=category_in.position,
        active=True,
        **category_in.names.columns(),
    )
    session.add(category)
    await session.flush()
    await audit.append(
        session=session,
        actor=actor,
        action="category.create",
        object_type="category",
        object_id=category.code,
    )
    return category


async def update(
    *,
    session: AsyncSession,
    actor: audit.Actor,
    category: ServiceCategory,
    category_in: CategoryUpdate,
) -> ServiceCategory:
    """Apply the fields that were set (`active: false` disables the category)."""
    changes: dict[str, Any] = category_in.model_dump(exclude_unset=True, exclude={"names"})
    if category_in.names is not None:
        changes.update(category_in.names.columns())
    for name, value in changes.items():
        setattr(category, name, value)
    await session.flush()
    await audit.append(
        session=session,
        actor=actor,
        action="category.update",
        object_type="category",
        object_id=category.code,
        details={"changes": sorted(changes)},
    )
    return category
