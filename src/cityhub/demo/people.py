"""The demo's people as a newcomer needs them: who they are, the phone to sign in to the portal
with, the channels' user ids, and their accounts at the city's simulated utilities.

Everything comes from the demo world and the simulators' seeded world, so it is known without
a database; the demo's population registry (the simulator) holds exactly these people. A row
is a plain dict: another source of demo data adds its own keys with one more function in
`COLUMNS`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from cityhub.cities.models import Service
from cityhub.demo import world
from cityhub.demo.loader import SEED, assignments, user_id
from cityhub.simulators import Person, World

UTILITIES = ("water", "power", "gas")
Column = Callable[[Person, world.DemoCity, World], dict[str, Any]]


def _who(person: Person, _city: world.DemoCity, _world: World) -> dict[str, Any]:
    return {
        "name": person.name,
        "phone": person.phone,
        "id_number": person.id_number,
        "plates": list(person.plates),
    }


def _channels(person: Person, _city: world.DemoCity, _world: World) -> dict[str, Any]:
    ((_, used, verified),) = assignments(person.index + 1)[-1:]
    return {"user_ids": [user_id(c, person.index) for c in used], "verified": verified}


def _registry(person: Person, _city: world.DemoCity, sim: World) -> dict[str, Any]:
    # What the demo's population registry holds and a channel's face check would give: a
    # newcomer verifies a demo person with the name, the number and, if asked, this token.
    return {"liveness_token": sim.liveness_token(person)}


def _accounts(person: Person, city: world.DemoCity, sim: World) -> dict[str, Any]:
    return {kind: sim.account_of(kind, f"{city.slug}-{kind}", person) for kind in UTILITIES}


# What a row says, in order; each adds its keys.
COLUMNS: list[Column] = [_who, _channels, _registry, _accounts]


def city_or_raise(slug: str) -> world.DemoCity:
    """The demo city with this slug, or ValueError naming the ones there are."""
    for city in world.CITIES:
        if city.slug == slug:
            return city
    raise ValueError(f"no demo city {slug!r}: {', '.join(c.slug for c in world.CITIES)}")


def rows(city: world.DemoCity, count: int = 10, start: int = 0) -> list[dict[str, Any]]:
    """The demo people `start` to `start + count` as rows for `city`."""
    sim = World(SEED)
    found = []
    for person in sim.people[start : start + count]:
        row: dict[str, Any] = {"index": person.index, "city": city.slug}
        for column in COLUMNS:
            row.update(column(person, city, sim))
        found.append(row)
    return found


def demo_account(service: Service, phone: str | None = None) -> str | None:
    """An account the simulated biller behind `service` knows: the demo person's with this
    phone if there is one, else the first demo person's; None for any other biller."""
    kind = service.connector.removeprefix("simulator:")
    provider = (service.connector_config or {}).get("provider_id")
    if kind not in UTILITIES or not service.connector.startswith("simulator:") or not provider:
        return None
    sim = World(SEED)
    person = next((p for p in sim.people if phone and p.phone == phone), sim.people[0])
    return sim.account_of(kind, str(provider), person)
