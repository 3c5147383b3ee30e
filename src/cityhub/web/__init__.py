"""The resident portal (`/`) and the city console (`/console`), rendered on the server."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from cityhub.web import console, portal
from cityhub.web.pages import STATIC, install_error_pages


def mount(app: FastAPI) -> None:
    """Add the pages, their static files and their HTML error pages to the app."""
    app.include_router(portal.router)
    app.include_router(console.router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    install_error_pages(app)
