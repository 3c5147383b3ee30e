"""Which link a notice carries to a channel's user: the channel's app (its template for the
service kind), the portal's own link only for the portal's users, no link otherwise."""

from __future__ import annotations

from cityhub.identity.models import Channel
from cityhub.notices.links import link_for
from cityhub.notices.models import Notice

PORTAL_LINK = "https://hub.example/c/sh/pay/water?account=W-1&bill=B 1"


def _notice(ref: str | None) -> Notice:
    return Notice(public_id="nt_1", ref=ref, link=PORTAL_LINK)


def _channel(kind: str, templates: dict[str, str] | None) -> Channel:
    return Channel(slug="app", kind=kind, link_templates=templates)


def test_a_partner_channels_users_link_into_its_app_per_service_kind() -> None:
    app = _channel(
        "partner",
        {
            "bill": "superapp://pay?c={city}&s={service}&b={id}",
            "appointment": "https://app.example/bookings/{id}",
            "lottery": "superapp://lottery/{id}",
            "notice": "superapp://notices/{notice}",
        },
    )
    assert link_for(app, _notice("bill:water:B 1"), "sh") == "superapp://pay?c=sh&s=water&b=B%201"
    assert link_for(app, _notice("booking:bk_9"), "sh") == "https://app.example/bookings/bk_9"
    assert link_for(app, _notice("lottery:plates-1"), "sh") == "superapp://lottery/plates-1"
    assert link_for(app, _notice(None), "sh") == "superapp://notices/nt_1"  # a broadcast
    assert link_for(app, _notice("request:SH-1"), "sh") is None  # no template for requests


def test_the_portal_link_goes_to_the_portals_users_only() -> None:
    assert link_for(_channel("portal", None), _notice("bill:water:B 1"), "sh") == PORTAL_LINK
    assert link_for(_channel("partner", None), _notice("bill:water:B 1"), "sh") is None
