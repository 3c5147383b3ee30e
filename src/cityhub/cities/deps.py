"""The request edge of the cities domain: the city in the path, as the caller may see it."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Path

from cityhub.cities import service as cities
from cityhub.cities.models import City
from cityhub.identity.deps import CurrentCaller, StaffCaller
from cityhub.platform.deps import SessionDep
from cityhub.platform.errors import NotFound


async def city_for_caller(
    session: SessionDep,
    caller: CurrentCaller,
    city: Annotated[str, Path(description="the city's slug", max_length=40)],
) -> City:
    """The city in the path as the caller may see it: a channel needs a grant there (else
    403); staff need a role there (else 404, as if it did not exist)."""
    found = await cities.get_city_by_slug(session=session, slug=city)
    if isinstance(caller, StaffCaller):
        if found is None or not caller.in_city(found.id):
            raise NotFound(f"no city {city!r}", code="city_not_found")
        return found
    if found is None:
        raise NotFound(f"no city {city!r}", code="city_not_found")
    caller.require("catalogue:read")
    await cities.require_city_granted(session=session, channel_id=caller.channel.id, city=found)
    return found


CityDep = Annotated[City, Depends(city_for_caller)]
