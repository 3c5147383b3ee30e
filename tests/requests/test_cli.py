"""`cityhub requests`: types, holidays, escalate, api-key."""

from __future__ import annotations

import json

from tests.outbox_helpers import invoke
from tests.requests.factories import RequestWorld


async def test_requests_commands(world: RequestWorld) -> None:
    url, slug = world.db.url, world.city.slug
    code, output = await invoke(url, "requests", "types", "--city", slug)
    assert code == 0, output
    assert json.loads(output.splitlines()[0])["department"] == "roads"
    code, output = await invoke(
        url, "requests", "holidays", "--city", slug, "--add", "2027-02-11", "--workday",
        "2027-02-20",
    )  # fmt: skip
    assert code == 0, output
    assert json.loads(output)["holidays"] == ["2027-01-01", "2027-02-11"]
    code, output = await invoke(url, "requests", "holidays", "--city", slug, "--add", "nope")
    assert code == 1 and "nope" in output
    code, output = await invoke(url, "requests", "escalate", "--city", slug)
    assert code == 0 and "0 escalated" in output
    code, output = await invoke(
        url, "requests", "api-key", "--city", slug, "--channel", world.login.channel.slug
    )
    assert code == 0 and output.strip().startswith("o311_")
    services = await world.api.client.get(
        f"/open311/v2/{slug}/requests.json", params={"api_key": output.strip()}
    )
    assert services.status_code == 200 and services.json() == []
