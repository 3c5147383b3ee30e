"""The outbox handlers of notices, imported together (see `outbox.HANDLER_MODULES`)."""

from __future__ import annotations

from cityhub.notices import delivery, hooks, push_routes, sending

__all__ = ["delivery", "hooks", "push_routes", "sending"]
