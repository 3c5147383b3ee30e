"""Provider simulators: municipal systems over real HTTP, deterministic from a seed."""

from __future__ import annotations

from cityhub.simulators.app import (
    RunningServer,
    RunningSimulator,
    create_app,
    serve_app_in_background,
    serve_in_background,
)
from cityhub.simulators.world import Person, World

__all__ = [
    "Person",
    "RunningServer",
    "RunningSimulator",
    "World",
    "create_app",
    "serve_app_in_background",
    "serve_in_background",
]
