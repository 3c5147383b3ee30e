"""Structured JSON logs (structlog) with the request id, personal numbers masked (by the
function the app passes in at start: the identity domain's `pii.scrub`)."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from typing import Any

import structlog

Mask = Callable[[str], str]


def _masking(mask: Mask) -> Callable[[Any, str, dict[str, Any]], dict[str, Any]]:
    def mask_values(_logger: Any, _name: str, event: dict[str, Any]) -> dict[str, Any]:
        # Personal numbers never reach a log line, whoever wrote it.
        for key, value in event.items():
            if isinstance(value, str):
                event[key] = mask(value)
        return event

    return mask_values


def configure(*, level: str = "INFO", json: bool = True, mask: Mask) -> None:
    """Set up structlog and the standard library's logging to write one JSON object a line,
    every text value passed through `mask` first."""
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.format_exc_info,
        _masking(mask),
    ]
    renderer: Any = (
        structlog.processors.JSONRenderer(ensure_ascii=False)
        if json
        else structlog.dev.ConsoleRenderer()
    )
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    logging.getLogger("alembic").setLevel(logging.WARNING)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
    # Our own access line (with the request id) replaces uvicorn's.
    logging.getLogger("uvicorn.access").setLevel(logging.WARNING)
    # Provider calls are counted and timed in the connector metrics; a line per HTTP request
    # of the client would drown the log (a hospital sync makes hundreds).
    logging.getLogger("httpx").setLevel(logging.WARNING)
