"""Reporting: idempotent, anonymous or signed in, checked whole (bad input is a 4xx naming
the field and stores nothing), photos limited and stripped of their location."""

from __future__ import annotations

import io
import json
from typing import Any

from PIL import Image

from tests.requests.factories import INSIDE, OUTSIDE, RequestWorld, jpeg, key, stored


async def post_with_photos(
    world: RequestWorld, photos: list[tuple[str, bytes, str]], *, expect: int, **body: Any
) -> Any:
    report = {"type": "streetlight", "description": "Lamp out", **INSIDE,
              "attributes": {"kind": "off"}, **body}  # fmt: skip
    return await world.channel.post(
        world.url("/requests"),
        data={"report": json.dumps(report)},
        files=[("photos", p) for p in photos],
        headers=key(),
        expect=expect,
    )


async def test_anonymous_and_signed_in_reports(world: RequestWorld) -> None:
    await world.resident("u-1")
    anonymous = await world.report()
    assert anonymous["status"] == "submitted" and anonymous["district"] == "huangpu"
    assert anonymous["department"] == "roads" and anonymous["attributes"] == {"kind": "off"}
    assert anonymous["due_at"] > anonymous["triage_due_at"] > anonymous["created_at"]
    mine = await world.report(user_id="u-1", attributes={"kind": "flicker", "count": "2"})
    assert mine["attributes"] == {"kind": "flicker", "count": 2}
    listed = (await world.channel.get(world.url("/requests"), params={"user_id": "u-1"}))["items"]
    assert [r["id"] for r in listed] == [mine["id"]]
    problem = await world.report(user_id="nobody", expect=422)
    assert problem["field"] == "user_id"


async def test_the_same_key_and_body_answer_the_first_report(world: RequestWorld) -> None:
    body = {"type": "streetlight", "description": "Lamp out", **INSIDE}
    body["attributes"] = {"kind": "off"}
    headers = key()
    first = await world.channel.post(world.url("/requests"), json=body, headers=headers)
    again = await world.channel.post(world.url("/requests"), json=body, headers=headers)
    assert again["id"] == first["id"]
    assert world.channel.last is not None
    assert world.channel.last.headers["Idempotent-Replay"] == "true"
    await world.channel.post(
        world.url("/requests"), json={**body, "description": "other"}, headers=headers, expect=422
    )
    assert (await stored(world))[0] == 1


async def test_bad_input_names_the_field_and_stores_nothing(world: RequestWorld) -> None:
    cases: list[tuple[dict[str, Any], int, str]] = [
        (OUTSIDE, 422, "lat"),
        ({"attributes": {"kind": "exploded"}}, 422, "attributes.kind"),
        ({"attributes": {"kind": "off", "colour": "red"}}, 422, "attributes.colour"),
        ({"attributes": {}}, 422, "attributes.kind"),
        ({"attributes": {"kind": "off", "count": "many"}}, 422, "attributes.count"),
        ({"type": "ufo"}, 404, "type"),
        ({"lat": None, "lon": None}, 422, "lat"),
        ({"lat": 95}, 422, "lat"),
    ]
    for change, status, field in cases:
        problem = await world.report(expect=status, **change)
        assert problem["field"] == field, (change, problem)
    assert await stored(world) == (0, 0, 0, 0)


async def test_photo_limits(world: RequestWorld) -> None:
    big = b"\xff\xd8\xff\xe0" + b"\0" * (20 * 1024 * 1024)
    problem = await post_with_photos(world, [("big.jpg", big, "image/jpeg")], expect=413)
    assert problem["field"] == "photos.0" and problem["code"] == "photo_too_large"
    exe = b"MZ\x90\x00" + b"\0" * 4000  # a Windows executable, named and declared as a photo
    problem = await post_with_photos(
        world, [("ok.jpg", jpeg(), "image/jpeg"), ("cat.jpg", exe, "image/jpeg")], expect=422
    )
    assert problem["field"] == "photos.1" and problem["code"] == "photo_type"
    gif = io.BytesIO()
    Image.new("RGB", (4, 4)).save(gif, format="GIF")
    problem = await post_with_photos(world, [("a.gif", gif.getvalue(), "image/gif")], expect=422)
    assert problem["field"] == "photos.0"
    four = [(f"{i}.jpg", jpeg(), "image/jpeg") for i in range(4)]
    problem = await post_with_photos(world, four, expect=422)
    assert problem["field"] == "photos"
    problem = await post_with_photos(
        world, [("ok.jpg", jpeg(), "image/jpeg")], expect=422, **OUTSIDE
    )
    assert problem["field"] == "lat"
    assert await stored(world) == (0, 0, 0, 0)


def _gps(data: bytes) -> Any:
    with Image.open(io.BytesIO(data)) as image:
        exif = image.getexif()
        return exif.get_ifd(0x8825), exif.get(0x010F)


async def test_photo_location_is_stripped_unless_shared(world: RequestWorld) -> None:
    stripped = await post_with_photos(world, [("a.jpg", jpeg(), "image/jpeg")], expect=201)
    kept = await post_with_photos(
        world, [("b.jpg", jpeg(), "image/jpeg")], expect=201, share_location=True
    )
    for found, has_gps in ((stripped, False), (kept, True)):
        photo = found["photos"][0]
        assert photo["content_type"] == "image/jpeg"
        response = await world.channel.client.get(photo["url"], headers=world.channel.headers)
        assert response.status_code == 200
        gps, make = _gps(response.content)
        assert bool(gps) is has_gps and make == "TestCam"
    assert (await stored(world))[3] == 2
    await world.outsider.get(stripped["photos"][0]["url"], expect=404)


async def test_same_problem_is_offered_and_joined(world: RequestWorld) -> None:
    await world.resident("u-2")
    first = await world.report()
    near = {"lat": INSIDE["lat"] + 0.0005, "lon": INSIDE["lon"]}  # about 55 m north
    offered = (
        await world.channel.get(
            world.url("/requests/nearby"), params={"type": "streetlight", **near}
        )
    )["items"]
    assert [o["id"] for o in offered] == [first["id"]] and 40 < offered[0]["distance_m"] < 70
    far = (
        await world.channel.get(
            world.url("/requests/nearby"),
            params={"type": "streetlight", "lat": INSIDE["lat"] + 0.01, "lon": INSIDE["lon"]},
        )
    )["items"]
    assert far == []
    joined = await world.report(expect=200, user_id="u-2", same_as=first["id"], **near)
    assert joined["id"] == first["id"]
    mine = (await world.channel.get(world.url("/requests"), params={"user_id": "u-2"}))["items"]
    assert [r["id"] for r in mine] == [first["id"]]
    problem = await world.report(expect=422, same_as="000000000000")
    assert problem["field"] == "same_as"
    assert (await stored(world))[0] == 1
