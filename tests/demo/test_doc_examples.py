"""The examples of the README and docs/ use what the demo world has: its cities, services,
channels, residents' user ids and the simulated billers' accounts, so a newcomer who tries
one on `make demo` gets an answer, not a 404."""

from __future__ import annotations

import re
from pathlib import Path

from cityhub.demo import loader, world
from cityhub.simulators import World

ROOT = Path(__file__).parent.parent.parent
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
CITIES = {c.slug: c for c in world.CITIES}
SERVICES = {c.slug: {s.code: s for s in world.services_of(c)} for c in world.CITIES}
EVERY_SERVICE = {code for codes in SERVICES.values() for code in codes}
USERS = {
    loader.user_id(channel, index)
    for index, used, _ in loader.assignments(loader.DEFAULT_RESIDENTS)
    for channel in used
}
SIM = World(loader.SEED)


def _groups(pattern: str) -> list[tuple[str, tuple[str, ...]]]:
    return [
        (path.name, match.groups())
        for path in DOCS
        for match in re.finditer(pattern, path.read_text(encoding="utf-8"))
    ]


def test_service_paths_name_a_demo_city_and_one_of_its_services() -> None:
    found = _groups(r"/v1/cities/([a-z][a-z0-9-]*)/services/([a-z][a-z0-9-]*)")
    assert found
    wrong = [(f, g) for f, g in found if g[0] not in SERVICES or g[1] not in SERVICES[g[0]]]
    assert wrong == []


def test_service_codes_in_examples_exist_in_the_demo_catalogue() -> None:
    found = _groups(r'"service": "([a-z][a-z0-9-]*)"')
    assert found
    assert [(f, g) for f, g in found if g[0] not in EVERY_SERVICE] == []


def test_user_ids_in_examples_are_demo_residents() -> None:
    found = _groups(r'"user_id": "([^"]+)"|user_id ([a-z]+-u\d{5})')
    ids = [(f, next(x for x in g if x)) for f, g in found]
    assert ids
    assert [(f, i) for f, i in ids if i not in USERS] == []


def test_accounts_in_examples_are_known_to_the_simulated_billers() -> None:
    found = _groups(r'account=(\d{6,})|account="(\d{6,})"|"bill_id": "(\d{6,})-\d{6}"')
    accounts = [(f, next(x for x in g if x)) for f, g in found]
    assert accounts
    providers = [(kind, f"{city}-{kind}") for city in CITIES for kind in ("water", "power", "gas")]
    unknown = [
        (f, a)
        for f, a in accounts
        if not any(SIM.account_holder(kind, provider, a) for kind, provider in providers)
    ]
    assert unknown == []


def test_channels_and_cities_named_in_commands_are_the_demo_worlds() -> None:
    channels = {c.slug for c in world.CHANNELS}
    named = _groups(r"client_id=ch_([a-z]+)")
    assert named and [(f, g) for f, g in named if g[0] not in channels] == []
    cities = _groups(r"--city ([a-z][a-z0-9-]*)")
    assert cities and [(f, g) for f, g in cities if g[0] not in CITIES] == []


def test_the_sandboxs_people_and_accounts_are_the_simulated_worlds() -> None:
    text = (ROOT / "docs" / "sandbox.md").read_text(encoding="utf-8")
    rows = re.findall(
        r"^\| (\S+) \| (\d{17}[\dX]) \| (1\d{10}) \| (\d+) \| (\d+) \| (\d+) \| ([^|]*)\|$",
        text,
        flags=re.MULTILINE,
    )
    assert len(rows) >= 3
    people = {p.id_number: p for p in SIM.people}
    for name, id_number, phone, water, power, gas, plates in rows:
        person = people[id_number]
        assert (person.name, person.phone) == (name, phone)
        for kind, account in (("water", water), ("power", power), ("gas", gas)):
            assert SIM.account_of(kind, f"shanghai-{kind}", person) == account
        assert [p.strip() for p in plates.split(",") if p.strip()] == list(person.plates)
