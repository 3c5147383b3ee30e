"""FHIR search as R4 defines it, through plain HTTP: every Slot, Schedule and Appointment
parameter, filtered before the page is cut, paged by `next` links, with `_total` and
`_include`; the directory resources the references point at; the city selector."""

from __future__ import annotations

import datetime as dt
from typing import Any

from cityhub.platform.db import Database
from tests.appointments.factories import appt_world, granted_hospital, tomorrow, verified_users
from tests.appointments.fhir_client import fhir_call, fhir_get, ids, next_link, walk
from tests.client import Api


def _actor(schedule: dict[str, Any], kind: str) -> str:
    return next(a["reference"] for a in schedule["actor"] if a["reference"].startswith(kind))


async def test_slot_search_by_each_parameter_filters_in_the_database(
    api: Api, db: Database
) -> None:
    world = await appt_world(db, api)
    [user] = await verified_users(db, world.login, 1)
    day1, day2 = tomorrow(), tomorrow() + dt.timedelta(days=1)
    first = await world.session(places=3, slots=3, day=day1, department="internal")
    second = await world.session(places=2, slots=2, day=day2, department="surgery")
    await world.book(user, first["slots"][0]["id"])
    busy = first["slots"][0]["id"]
    one = [s["id"] for s in first["slots"]]
    two = [s["id"] for s in second["slots"]]
    url = "/fhir/r4/Slot"

    async def found(**params: Any) -> list[str]:
        return ids(await fhir_get(world.channel, url, params=params))

    assert await found(status="free") == one[1:] + two  # no schedule needed
    assert await found(status="busy") == [busy]
    assert await found(status="free,busy") == one + two
    assert await found(schedule=f"Schedule/{second['id']}") == two
    assert await found(start=f"ge{day2}") == two
    assert await found(start=f"lt{day2}") == one
    assert await found(start=f"eq{day1}") == one
    assert await found(start=f"{day1}") == one
    assert await found(start=f"sa{day1}") == two
    assert await found(start=f"ne{day1}") == two
    assert await found(start=f"{day1.year}") == one + two
    one_start = first["slots"][1]["start"]
    assert await found(start=f"ge{one_start}", status="free") == one[1:] + two
    assert await found(**{"service-type": "surgery"}) == two
    assert await found(specialty="urn:cityhub:department|internal") == one
    assert await found(specialty="urn:other|internal") == []
    schedule = await fhir_get(world.channel, f"/fhir/r4/Schedule/{first['id']}")
    doctor = _actor(schedule, "Practitioner/")
    assert await found(**{"schedule.actor": doctor}) == one
    assert await found(**{"schedule.actor:Practitioner": doctor.split("/")[1]}) == one
    place = _actor(schedule, "Location/")
    assert await found(**{"schedule.actor:Location": place.split("/")[1]}) == one + two
    # Repeats AND, commas OR.
    assert await found(start=[f"ge{day1}", f"lt{day2}"], status="free") == one[1:]
    # The schedules are included once each, marked as included.
    with_schedules = await fhir_get(
        world.channel, url, params={"status": "free", "_include": "Slot:schedule"}
    )
    assert ids(with_schedules) == one[1:] + two
    assert ids(with_schedules, "include") == [first["id"], second["id"]]


async def test_slot_pages_follow_next_links_to_the_end_with_a_real_total(
    api: Api, db: Database
) -> None:
    world = await appt_world(db, api)
    [user] = await verified_users(db, world.login, 1)
    made = await world.session(places=7, slots=7)
    await world.book(user, made["slots"][3]["id"])
    free = [s["id"] for n, s in enumerate(made["slots"]) if n != 3]
    assert await walk(world.channel, "/fhir/r4/Slot", status="free", _count=2) == (free, 3)
    first = await fhir_get(
        world.channel, "/fhir/r4/Slot", params={"status": "free", "_count": 2, "_total": "accurate"}
    )
    assert first["total"] == 6 and len(first["entry"]) == 2
    assert next_link(first) is not None
    # Without `_total` a page that is not the whole result claims no total.
    assert "total" not in await fhir_get(
        world.channel, "/fhir/r4/Slot", params={"status": "free", "_count": 2}
    )
    # `_count=0` answers the count alone.
    counted = await fhir_get(world.channel, "/fhir/r4/Slot", params={"_count": 0})
    assert counted["total"] == 7 and "entry" not in counted


async def test_schedule_search_by_actor_active_service_specialty_and_date(
    api: Api, db: Database
) -> None:
    world = await appt_world(db, api)
    day1, day2 = tomorrow(), tomorrow() + dt.timedelta(days=1)
    a = await world.session(day=day1, department="internal", practitioner="internal-1")
    b = await world.session(day=day2, department="surgery", practitioner="surgery-1")
    url = "/fhir/r4/Schedule"

    async def found(**params: Any) -> list[str]:
        return ids(await fhir_get(world.channel, url, params=params))

    assert await found() == [a["id"], b["id"]]
    schedule = await fhir_get(world.channel, f"{url}/{a['id']}")
    assert await found(actor=_actor(schedule, "Practitioner/")) == [a["id"]]
    assert await found(actor=_actor(schedule, "HealthcareService/")) == [a["id"]]
    assert await found(actor=_actor(schedule, "Location/")) == [a["id"], b["id"]]
    assert await found(active="true") == [a["id"], b["id"]]
    assert await found(active="false") == []
    assert await found(**{"service-type": "surgery"}) == [b["id"]]
    assert await found(specialty="internal") == [a["id"]]
    assert await found(date=f"{day2}") == [b["id"]]
    assert await found(date=f"ge{day1}") == [a["id"], b["id"]]
    assert await found(date=f"lt{day2}") == [a["id"]]
    assert await walk(world.channel, url, _count=1) == ([a["id"], b["id"]], 2)
    paged = await fhir_get(world.channel, url, params={"_count": 1, "_total": "accurate"})
    assert paged["total"] == 2
    included = await fhir_get(
        world.channel, url, params={"_id": a["id"], "_include": "Schedule:actor"}
    )
    kinds = sorted(
        e["resource"]["resourceType"] for e in included["entry"] if e["search"]["mode"] == "include"
    )
    assert kinds == ["HealthcareService", "Location", "Practitioner"]
    only = await fhir_get(
        world.channel, url, params={"_id": a["id"], "_include": "Schedule:actor:Practitioner"}
    )
    assert [e["resource"]["resourceType"] for e in only["entry"]] == ["Schedule", "Practitioner"]


async def test_directory_resources_are_readable_with_ids_unique_across_hospitals(
    api: Api, db: Database
) -> None:
    world = await appt_world(db, api)
    other = await granted_hospital(world)
    [user] = await verified_users(db, world.login, 1)
    here = await world.session(practitioner="internal-1")
    there = await other.session(practitioner="internal-1", service=other.hospital.code)
    mine = await fhir_get(world.channel, f"/fhir/r4/Schedule/{here['id']}")
    theirs = await fhir_get(world.channel, f"/fhir/r4/Schedule/{there['id']}")
    assert _actor(mine, "Practitioner/") != _actor(theirs, "Practitioner/")
    doctor = _actor(mine, "Practitioner/")
    practitioner = await fhir_get(world.channel, f"/fhir/r4/{doctor}")
    assert practitioner["identifier"][0]["value"] == "internal-1"
    assert practitioner["name"][0]["text"] == "Dr Wang"
    role = await fhir_get(world.channel, f"/fhir/r4/PractitionerRole/prr-{doctor.split('-')[1]}")
    assert role["practitioner"]["reference"] == doctor
    for reference in (
        role["organization"]["reference"],
        role["location"][0]["reference"],
        role["healthcareService"][0]["reference"],
    ):
        read = await fhir_get(world.channel, f"/fhir/r4/{reference}")
        assert f"{read['resourceType']}/{read['id']}" == reference
    patient = await fhir_get(world.channel, f"/fhir/r4/Patient/{user}")
    assert patient["id"] == user and patient["identifier"][0]["value"].count("*") > 0
    # Another channel reads none of it; nor does anyone read an unknown id.
    stranger = await appt_world(db, api)
    for path in (doctor, role["organization"]["reference"], f"Patient/{user}", "Practitioner/pr-x"):
        await fhir_get(stranger.channel, f"/fhir/r4/{path}", expect=404)


async def test_appointment_search_by_patient_status_date_actor_and_slot(
    api: Api, db: Database
) -> None:
    world = await appt_world(db, api)
    [ann, bob] = await verified_users(db, world.login, 2)
    day1, day2 = tomorrow(), tomorrow() + dt.timedelta(days=1)
    first = await world.session(places=2, slots=2, day=day1, department="internal")
    second = await world.session(places=1, slots=1, day=day2, department="surgery")
    a1 = (await world.book(ann, first["slots"][0]["id"]))["id"]
    b1 = (await world.book(bob, first["slots"][1]["id"]))["id"]
    a2 = (await world.book(ann, second["slots"][0]["id"]))["id"]
    await fhir_call(
        world.channel, "PATCH", f"/fhir/r4/Appointment/{b1}", json={"status": "cancelled"}
    )
    url = "/fhir/r4/Appointment"

    async def found(**params: Any) -> list[str]:
        return ids(await fhir_get(world.channel, url, params=params))

    assert await found() == [a1, b1, a2]
    assert await found(patient=f"Patient/{ann}") == [a1, a2]
    assert await found(status="booked") == [a1, a2]
    assert await found(status="cancelled") == [b1]
    assert await found(date=f"{day2}") == [a2]
    assert await found(date=f"lt{day2}") == [a1, b1]
    assert await found(actor=f"Patient/{bob}") == [b1]
    schedule = await fhir_get(world.channel, f"/fhir/r4/Schedule/{second['id']}")
    assert await found(actor=_actor(schedule, "Practitioner/")) == [a2]
    assert await found(slot=f"Slot/{first['slots'][0]['id']}") == [a1]
    assert await walk(world.channel, url, _count=2, patient=f"Patient/{ann}") == ([a1, a2], 1)
    assert await walk(world.channel, url, _count=1) == ([a1, b1, a2], 3)
    # Another channel's bookings do not exist for it.
    stranger = await appt_world(db, api)
    assert ids(await fhir_get(stranger.channel, url)) == []


async def test_a_city_selector_narrows_a_channel_granted_several_cities(
    api: Api, db: Database
) -> None:
    world = await appt_world(db, api)
    elsewhere = await granted_hospital(world, new_city=True)
    here = await world.session()
    there = await elsewhere.session(service=elsewhere.hospital.code)
    both = await fhir_get(world.channel, "/fhir/r4/Schedule")
    assert ids(both) == [here["id"], there["id"]]
    city_base = f"/fhir/r4/cities/{elsewhere.city.slug}"
    narrowed = await fhir_get(world.channel, f"{city_base}/Schedule")
    assert ids(narrowed) == [there["id"]]
    assert narrowed["entry"][0]["fullUrl"].endswith(f"{city_base}/Schedule/{there['id']}")
    assert ids(await fhir_get(world.channel, f"{city_base}/Slot", params={"status": "free"})) == [
        s["id"] for s in there["slots"]
    ]
    await fhir_get(world.channel, f"{city_base}/Schedule/{here['id']}", expect=404)
    metadata = await fhir_get(world.channel, f"{city_base}/metadata")
    assert metadata["implementation"]["url"].endswith(city_base)
    stranger = await appt_world(db, api)
    await fhir_get(stranger.channel, f"{city_base}/Schedule", expect=403)
    await fhir_get(world.channel, "/fhir/r4/cities/nowhere/Schedule", expect=404)
