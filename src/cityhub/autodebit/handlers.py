"""Outbox handlers of auto-debit: an agreement's consent withdrawn anywhere cancels it."""

from __future__ import annotations

from cityhub.autodebit import service
from cityhub.outbox import HandlerContext, OutboxEvent, registry


@registry.on("consent.withdrawn", "autodebit.consent_withdrawn")
async def consent_withdrawn(ctx: HandlerContext, event: OutboxEvent) -> None:
    """The resident withdrew an agreement's own consent (on their data page, or the channel
    did): the agreement is cancelled and never debits again."""
    if not str(event.payload.get("scope", "")).startswith(service.SCOPE_PREFIX):
        return
    await service.cancel_for_withdrawn_consent(
        session=ctx.session,
        channel_id=int(event.payload["channel_id"]),
        consent_id=int(event.payload["consent_id"]),
    )
