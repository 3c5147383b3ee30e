"""Where a notice links to for a channel's user: into the channel's app, from the template it
registered for the notice's kind of service (`PUT /v1/channel/links`); the portal's own link
only for the portal's users. A channel without a template for the kind gets no link (and the
notice's `ref` to route on), never the portal's."""

from __future__ import annotations

from typing import TYPE_CHECKING

from cityhub.identity import service as identity

if TYPE_CHECKING:
    from cityhub.identity.models import Channel
    from cityhub.notices.models import Notice

PORTAL = "portal"
# A notice's `ref` ("bill:water:B-1", "booking:bk_..", "lottery:plates-1", "request:SH-..")
# names the object it is about, and so the service kind whose template applies.
REF_KINDS = {"bill": "bill", "booking": "appointment", "lottery": "lottery", "request": "request"}


def link_for(channel: Channel, notice: Notice, city: str) -> str | None:
    """The link the channel's user gets with the notice."""
    if channel.kind == PORTAL:
        return notice.link
    prefix, _, rest = (notice.ref or "").partition(":")
    service, obj = "", rest
    if prefix == "bill":
        service, _, obj = rest.partition(":")
    return identity.channel_link(
        channel,
        REF_KINDS.get(prefix, "notice"),
        city=city,
        service=service,
        id=obj,
        notice=notice.public_id,
    )
