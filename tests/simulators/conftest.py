"""The simulator fixtures for this folder."""

from tests.simulators.fixtures import sim, simulator

__all__ = ["sim", "simulator"]
