"""The `cityhub` command: one module per domain over shared helpers."""

from cityhub.cli.main import app

__all__ = ["app"]
