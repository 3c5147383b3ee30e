"""The portal's visitor: who is signed in, the CSRF token of their forms, and the extension
points the pillars plug their pages into (the service pages by kind, the nav, what needs
attention on the home page).

CSRF: every portal form carries the value of the visitor's `cityhub_portal_csrf` cookie
(HttpOnly, SameSite=Strict) in its hidden `csrf_token` field; a POST whose field and cookie
differ is refused. A foreign page can neither read the cookie nor make the browser send it.
"""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated, Any
from urllib.parse import quote, urlsplit

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse
from sqlalchemy.ext.asyncio import AsyncSession

from cityhub.identity.enums import IdentityLevel
from cityhub.platform.config import Settings
from cityhub.platform.deps import SessionDep
from cityhub.web import signin
from cityhub.web.pages import PageError, render, safe_next

if TYPE_CHECKING:
    from cityhub.cities.models import City
    from cityhub.identity.models import Resident
    from cityhub.web.models import ResidentSession

RESIDENT_COOKIE = "cityhub_resident"
CSRF_COOKIE = "cityhub_portal_csrf"
CSRF_FIELD = "csrf_token"
NO_STORE = {"Cache-Control": "no-store"}


@dataclass(frozen=True)
class Visitor:
    """A signed-in resident: their session, their record and the portal channel's user id."""

    session: ResidentSession
    resident: Resident

    @property
    def user_id(self) -> str:
        return self.session.channel_user_id

    @property
    def verified(self) -> bool:
        return self.resident.level != IdentityLevel.NONE

    @property
    def level(self) -> IdentityLevel:
        return self.resident.level

    def reaches(self, required: IdentityLevel) -> bool:
        """Whether the resident's identity level is `required` or higher."""
        return self.resident.level.rank >= required.rank


class ResidentSignInRequired(Exception):
    """A portal page that needs a signed-in resident: the visitor goes to the sign-in form."""

    def __init__(self, next_url: str, *, expired: bool = False) -> None:
        super().__init__(next_url)
        self.next_url = next_url
        self.expired = expired  # the visitor had a session that has ended


async def current_visitor(request: Request, session: AsyncSession) -> Visitor | None:
    """The signed-in resident of the request, if any."""
    cached = getattr(request.state, "visitor", None)
    if cached is not None:
        return cached  # type: ignore[no-any-return]
    token = request.cookies.get(RESIDENT_COOKIE)
    if not token:
        return None
    found = await signin.get_session_by_token(session=session, token=token)
    if found is None:
        return None
    visitor = Visitor(session=found[0], resident=found[1])
    request.state.visitor = visitor
    request.state.caller = f"resident:{found[0].resident_id}"
    return visitor


async def optional_visitor(request: Request, session: SessionDep) -> Visitor | None:
    """The signed-in resident, or None for an anonymous visitor."""
    return await current_visitor(request, session)


async def required_visitor(request: Request, session: SessionDep) -> Visitor:
    """The signed-in resident; anyone else goes to the sign-in form and comes back here."""
    visitor = await current_visitor(request, session)
    if visitor is None:
        back = request.url.path
        if request.method == "GET" and request.url.query:
            back += "?" + request.url.query
        elif request.method != "GET":  # a form cannot be posted again: back to its page
            back = _local_referer(request) or "/"
        raise ResidentSignInRequired(back, expired=session_ended(request))
    return visitor


def session_ended(request: Request) -> bool:
    """Whether the visitor holds a session cookie that names no live session any more."""
    return bool(request.cookies.get(RESIDENT_COOKIE)) and (
        getattr(request.state, "visitor", None) is None
    )


def _local_referer(request: Request) -> str | None:
    """The path of the page a form was sent from, when it is this site's."""
    referer = urlsplit(request.headers.get("referer", ""))
    if referer.netloc and referer.netloc != request.url.netloc:
        return None
    path = referer.path + (f"?{referer.query}" if referer.query else "")
    return safe_next(path, default="") or None


OptionalVisitor = Annotated[Visitor | None, Depends(optional_visitor)]
SignedInVisitor = Annotated[Visitor, Depends(required_visitor)]


def csrf_token(request: Request) -> str:
    """The visitor's CSRF token (a new one if they have none yet; `page` sets the cookie)."""
    token = request.cookies.get(CSRF_COOKIE) or getattr(request.state, "new_csrf", None)
    if not token:
        token = secrets.token_urlsafe(24)
        request.state.new_csrf = token
    return str(token)


async def check_csrf(request: Request) -> dict[str, str]:
    """The posted form, if its CSRF field matches the visitor's cookie (else a 403 page)."""
    form = await request.form()
    sent = form.get(CSRF_FIELD)
    expected = request.cookies.get(CSRF_COOKIE)
    if not (isinstance(sent, str) and expected and secrets.compare_digest(sent, expected)):
        raise PageError(403, "csrf_failed")
    return {k: v for k, v in form.items() if isinstance(v, str)}


def page(
    request: Request,
    settings: Settings,
    template: str,
    *,
    status: int = 200,
    visitor: Visitor | None = None,
    **context: Any,
) -> HTMLResponse:
    """A portal page: the visitor, their CSRF token and the nav in the context."""
    token = csrf_token(request)
    response = render(
        request,
        template,
        status=status,
        headers=NO_STORE if visitor is not None else None,
        visitor=visitor,
        csrf_token=token,
        portal_nav=PORTAL_NAV,
        **context,
    )
    if request.cookies.get(CSRF_COOKIE) != token:
        response.set_cookie(
            CSRF_COOKIE,
            token,
            httponly=True,
            samesite="strict",
            secure=settings.is_production,
            path="/",
        )
    return response


def sign_in_url(next_url: str, *, expired: bool = False) -> str:
    """The sign-in form, coming back to `next_url` (saying why, when a session ended)."""
    url = "/sign-in?next=" + quote(next_url, safe="/")
    return url + "&reason=session_expired" if expired else url


def verify_url(next_url: str, city: str | None = None) -> str:
    """The verify page (its registry: `city`'s, when given), coming back to `next_url`."""
    url = "/verify?next=" + quote(next_url, safe="/")
    return url + "&city=" + quote(city, safe="") if city else url


# -- extension points -----------------------------------------------------------------------


@dataclass(frozen=True)
class NavEntry:
    """A link in the portal's top bar of a city (the pillars add theirs)."""

    label: str  # a msgid: the template translates it
    path: str  # under the city: "/c/{slug}" + path


# The pillars' entries; appointments ("/appointments") and notices ("/notices") add theirs.
PORTAL_NAV: list[NavEntry] = [
    NavEntry("My payments", "/payments"),
]

# The page of a service, by service kind: "{slug}" and "{code}" are filled in.
SERVICE_PAGES: dict[str, str] = {
    "bill": "/c/{slug}/pay/{code}",
}


@dataclass(frozen=True)
class Attention:
    """Something on the resident's home page that needs them: a text and where to act."""

    kind: str  # bill | payment | lottery | appointment | notice
    text: str  # what the template shows beside its own words (an account, a name)
    url: str
    extra: dict[str, Any] = field(default_factory=dict)


AttentionSource = Callable[[AsyncSession, "City", Visitor], Awaitable[list[Attention]]]
# Each pillar registers one source; the home page shows what they all answer.
ATTENTION_SOURCES: list[AttentionSource] = []


def service_page(slug: str, kind: str, code: str) -> str | None:
    """The portal page of a service, or None while its pillar has none."""
    pattern = SERVICE_PAGES.get(kind)
    return pattern.format(slug=quote(slug), code=quote(code)) if pattern else None
