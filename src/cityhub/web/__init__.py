"""The resident portal (`/`) and the city console (`/console`), rendered on the server."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import Response
from fastapi.staticfiles import StaticFiles

from cityhub.web import problems
from cityhub.web.console import complaints as console_complaints
from cityhub.web.console import connectors as console_connectors
from cityhub.web.console import figures as console_figures
from cityhub.web.console import home as console
from cityhub.web.console import hospitals as console_hospitals
from cityhub.web.console import notices as console_notices
from cityhub.web.console import ops as console_ops
from cityhub.web.console import pages as console_pages
from cityhub.web.console import people as console_people
from cityhub.web.console import requests as console_requests
from cityhub.web.console import subsidies as console_subsidies
from cityhub.web.pages import STATIC, install_error_pages, redirect
from cityhub.web.portal import appointments as portal_appointments
from cityhub.web.portal import autodebit as portal_autodebit
from cityhub.web.portal import bills as portal_bills
from cityhub.web.portal import bookings as portal_bookings
from cityhub.web.portal import complaints as portal_complaints
from cityhub.web.portal import family as portal_family
from cityhub.web.portal import history as portal_history
from cityhub.web.portal import home as portal
from cityhub.web.portal import mydata as portal_mydata
from cityhub.web.portal import notices as portal_notices
from cityhub.web.portal import receipts as portal_receipts
from cityhub.web.portal import requests as portal_requests
from cityhub.web.portal import services as portal_services
from cityhub.web.portal import signin as portal_signin
from cityhub.web.portal import subsidies as portal_subsidies
from cityhub.web.portal import verify as portal_verify
from cityhub.web.portal.visitor import RESIDENT_COOKIE, ResidentSignInRequired, sign_in_url


def mount(app: FastAPI) -> None:
    """Add the pages, their static files and their HTML error pages to the app."""
    app.include_router(portal.router)
    app.include_router(portal_signin.router)
    app.include_router(portal_verify.router)
    app.include_router(portal_bills.router)
    app.include_router(portal_notices.router)
    app.include_router(portal_requests.router)
    app.include_router(portal_services.router)
    app.include_router(console.router)
    app.include_router(console_pages.router)
    app.include_router(console_notices.router)
    app.include_router(console_ops.router)
    app.include_router(console_connectors.router)
    app.include_router(console_people.router)
    app.include_router(console_requests.router)
    app.include_router(portal_appointments.router)
    app.include_router(portal_bookings.router)
    app.include_router(portal_family.router)
    app.include_router(console_hospitals.router)
    problems.install(app)  # problems in the caller's language, and their catalogue
    app.include_router(portal_history.router)
    app.include_router(console_figures.router)
    app.include_router(portal_receipts.router)
    app.include_router(portal_mydata.router)
    app.include_router(portal_autodebit.router)
    app.include_router(console_complaints.router)
    app.include_router(portal_complaints.router)
    app.include_router(console_subsidies.router)
    app.include_router(portal_subsidies.router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    install_error_pages(app)

    async def resident_sign_in(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, ResidentSignInRequired)
        response = redirect(sign_in_url(exc.next_url, expired=exc.expired))
        if exc.expired:  # the cookie names a session that has ended
            response.delete_cookie(RESIDENT_COOKIE, path="/", httponly=True, samesite="lax")
        return response

    app.add_exception_handler(ResidentSignInRequired, resident_sign_in)

    async def password_change_required(request: Request, exc: Exception) -> Response:
        return redirect(console.PASSWORD_PAGE)

    app.add_exception_handler(console.PasswordChangeRequired, password_change_required)
