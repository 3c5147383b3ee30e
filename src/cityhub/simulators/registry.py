"""The simulated population registry: whether a name and an identity number belong to one
person of the simulated world, and whether a liveness (face-check) token is that person's.

It answers only yes or no: it never tells who holds a number, so asking it leaks nothing a
caller did not already know.
"""

from __future__ import annotations

import secrets
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, Field

from cityhub.simulators.world import World

router = APIRouter(tags=["population registry"])


class CheckIn(BaseModel):
    name: str = Field(min_length=1, max_length=60)
    id_number: str = Field(min_length=15, max_length=18)
    liveness_token: str | None = Field(default=None, max_length=80)


@router.post("/population-registry/{provider_id}/checks")
async def check(request: Request, provider_id: str, check_in: CheckIn) -> Any:
    """Do the name and the number belong together? And is the token this person's?"""
    world: World = request.app.state.world
    person = world.by_id.get(check_in.id_number.upper())
    match = person is not None and person.name == check_in.name.strip()
    liveness = "not_checked"
    if check_in.liveness_token is not None:
        good = (
            match
            and person is not None
            and secrets.compare_digest(world.liveness_token(person), check_in.liveness_token)
        )
        liveness = "passed" if good else "failed"
    return {"match": match, "liveness": liveness}


@router.get("/population-registry/{provider_id}/people")
async def people(
    request: Request, provider_id: str, limit: Annotated[int, Query(ge=1, le=100)] = 10
) -> Any:
    """The demo's people as the registry holds them, for a newcomer to verify with (a real
    registry has no such list: this is the simulator's demo aid)."""
    world: World = request.app.state.world
    return {
        "people": [
            {
                "name": p.name,
                "id_number": p.id_number,
                "phone": p.phone,
                "liveness_token": world.liveness_token(p),
            }
            for p in world.people[:limit]
        ]
    }
