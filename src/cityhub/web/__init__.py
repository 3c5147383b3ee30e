"""The resident portal (`/`) and the city console (`/console`)."""

from __future__ import annotations

from fastapi import FastAPI


def mount(app: FastAPI) -> None:
    """Add the pages to the app."""
