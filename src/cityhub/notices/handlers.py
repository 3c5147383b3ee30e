"""The outbox handlers of notices, imported together (see `outbox.HANDLER_MODULES`)."""

from __future__ import annotations

from cityhub.notices import delivery, hooks, sending

__all__ = ["delivery", "hooks", "sending"]
