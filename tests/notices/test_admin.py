"""Staff side: tenancy, targeted audiences, idempotent sends, clear refusals, the CLI."""

from __future__ import annotations

import json

from tests.cities.factories import create_city
from tests.identity.factories import PASSWORD, create_staff
from tests.notices.factories import NoticeWorld, inbox_rows, key
from tests.outbox_helpers import invoke


async def test_staff_of_another_city_see_nothing_of_this_one(world: NoticeWorld) -> None:
    elsewhere = await create_city(world.db)
    member = await create_staff(world.db, city=elsewhere)
    other = await world.api.as_staff(member.username, PASSWORD)
    for path in ("/notice-accounts", "/notices", "/notice-settings", "/notice-dead-letters"):
        found = await other.get(world.url(path), expect=404)
        assert found["code"] == "city_not_found"
    notice = await world.send()
    await other.get(world.url(f"/notices/{notice['id']}"), expect=404)
    await other.post(
        f"/v1/cities/{elsewhere.slug}/notices",
        json={"account": "water-co", "template": "outage", "values": {}},
        headers=key(),
        expect=404,
    )


async def test_a_targeted_notice_reaches_customers_of_the_biller_in_the_district(
    world: NoticeWorld,
) -> None:
    for user, district in (("ada", "pudong"), ("ben", "xuhui"), ("cy", None)):
        await world.resident(user)
        if district:
            await world.channel.post(
                f"/v1/residents/{user}/biller-accounts",
                json={
                    "city": world.city.slug,
                    "service": "water",
                    "account": f"W-{user}",
                    "district": district,
                },
                headers=key(),
            )
    notice = await world.send(kind="targeted", audience={"service": "water", "district": "pudong"})
    assert notice["audience"] == {"service": "water", "district": "pudong"}
    await world.drain()
    assert len((await world.inbox("ada"))["items"]) == 1
    assert (await world.inbox("ben"))["items"] == [] and (await world.inbox("cy"))["items"] == []


async def test_the_same_key_sends_once_and_bad_input_is_refused(world: NoticeWorld) -> None:
    headers = key()
    body = {"account": "water-co", "template": "outage", "values": {"district": "A", "hours": 1}}
    first = await world.staff.post(world.url("/notices"), json=body, headers=headers)
    again = await world.staff.post(world.url("/notices"), json=body, headers=headers)
    assert first["id"] == again["id"]
    assert len((await world.staff.get(world.url("/notices")))["items"]) == 1

    refusals = [
        ({**body, "kind": "targeted"}, 422, "validation_failed"),
        ({**body, "city_id": 1}, 422, "validation_failed"),
        ({**body, "account": "nobody"}, 404, "account_not_found"),
        ({**body, "template": "nothing"}, 404, "template_not_found"),
        ({**body, "topic": "no-such-topic"}, 404, "topic_not_found"),
        ({**body, "ref": "not a ref"}, 422, "validation_failed"),
    ]
    for refused_body, status, code in refusals:
        refused = await world.staff.post(
            world.url("/notices"), json=refused_body, headers=key(), expect=status
        )
        assert refused["code"] == code, refused
    assert len((await world.staff.get(world.url("/notices")))["items"]) == 1
    taken = await world.staff.post(
        world.url("/notice-accounts"),
        json={"code": "water-co", "name": "Again", "agency": "Water"},
        headers=key(),
        expect=409,
    )
    assert taken["code"] == "account_exists"


async def test_the_cli_shows_a_notices_figures_and_dead_letters(world: NoticeWorld) -> None:
    await world.resident("hal")
    await world.follow("hal")
    notice = await world.send()
    await world.drain()
    assert await inbox_rows(world.db) == (1, 1)
    code, output = await invoke(
        world.db.url, "notices", "stats", "--city", world.city.slug, notice["id"]
    )
    assert code == 0 and json.loads(output)["recipients"] == 1
    code, output = await invoke(world.db.url, "notices", "dead-letters", "--city", world.city.slug)
    assert (code, output) == (0, "")
    code, output = await invoke(
        world.db.url, "notices", "stats", "--city", world.city.slug, "ntc_x"
    )
    assert code == 1 and "no notice" in output


async def test_the_console_shows_each_notices_figures_to_its_city_only(
    world: NoticeWorld,
) -> None:
    await world.resident("ian")
    await world.follow("ian")
    await world.send(urgent=True)
    await world.drain()
    page = await world.staff.get(f"/console/c/{world.city.slug}/notices")
    assert "停水通知" in page and "<td>1</td>" in page and "0.00" in page
    elsewhere = await create_city(world.db)
    member = await create_staff(world.db, city=elsewhere)
    other = await world.api.as_staff(member.username, PASSWORD)
    refused = await other.client.get(f"/console/c/{world.city.slug}/notices")
    assert refused.status_code == 404 and "停水通知" not in refused.text


async def test_a_full_phone_or_identity_number_typed_by_staff_is_refused(
    world: NoticeWorld,
) -> None:
    base = {"account": "water-co", "template": "outage"}
    for values, field in (
        ({"district": "call 13812345678", "hours": 1}, "values.district"),
        ({"district": "+86 138-1234-5678", "hours": 1}, "values.district"),
        ({"district": "Wang 310101199003070051", "hours": 1}, "values.district"),
        ({"district": "A", "hours": 13812345678}, "values.hours"),
    ):
        body = {**base, "values": values}
        refused = await world.staff.post(world.url("/notices"), json=body, headers=key(),
                                         expect=422)  # fmt: skip
        assert (refused["code"], refused["field"]) == ("personal_number", field), refused
        preview = await world.staff.post(
            world.url("/notice-accounts/water-co/templates/outage/preview"),
            json={"values": values}, expect=422,
        )  # fmt: skip
        assert preview["field"] == field
    assert (await world.staff.get(world.url("/notices")))["items"] == []
    template = {
        "code": "call-us",
        "placeholders": {},
        "texts": {"en": {"title": "Call us", "body": "Ring 139 0000 1111 for help."}},
    }
    refused = await world.staff.post(
        world.url("/notice-accounts/water-co/templates"), json=template, headers=key(), expect=422
    )
    assert (refused["code"], refused["field"]) == ("personal_number", "texts.en.body")
    masked = {"district": "call 138****5678, ID 310***********0051", "hours": 1}
    await world.staff.post(world.url("/notices"), json={**base, "values": masked}, headers=key())


async def test_accounts_and_topics_take_their_names_in_three_languages(world: NoticeWorld) -> None:
    names = {"zh-Hans": "燃气公司", "zh-Hant": "燃氣公司", "en": "Gas company"}
    made = await world.staff.post(
        world.url("/notice-accounts"),
        json={"code": "gas-co", "name": "Gas company", "agency": "Gas", "names": names,
              "agency_names": {"zh-Hans": "燃气", "en": "Gas"}},
        headers=key(), expect=201,
    )  # fmt: skip
    assert made["names"] == names and made["agency_names"] == {"zh-Hans": "燃气", "en": "Gas"}
    topic = await world.staff.post(
        world.url("/notice-accounts/gas-co/topics"),
        json={"code": "leaks", "name": "Leaks", "names": {"zh-Hans": "漏气", "zh-Hant": "漏氣"}},
        headers=key(), expect=201,
    )  # fmt: skip
    assert topic["names"] == {"zh-Hans": "漏气", "zh-Hant": "漏氣"}
    refused = await world.staff.post(
        world.url("/notice-accounts"),
        json={"code": "x-co", "name": "X", "agency": "X", "names": {"fr": "Société X"}},
        headers=key(), expect=422,
    )  # fmt: skip
    assert "fr" in json.dumps(refused)  # only the hub's languages
