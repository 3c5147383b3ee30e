"""Rendering pages: one Jinja environment per language, the headers every page carries, the
cookies of the visitor's choices, and the HTML error pages.

Errors: a page route raises `PageError` (or lets a `CityHubError` through) and the visitor gets
an HTML page with the right status. The problem+json mapping of `cityhub.platform.errors` stays
in charge of everything else: `/v1`, the other machine endpoints, and unknown paths asked for
by anything but a browser.
"""

from __future__ import annotations

import datetime as dt
import inspect
from collections.abc import Awaitable, Callable, Mapping
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode
from zoneinfo import ZoneInfo

import structlog
from babel.dates import format_date, format_datetime, format_skeleton
from babel.numbers import format_currency
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from markupsafe import Markup
from starlette.exceptions import HTTPException as StarletteHTTPException

from cityhub import __version__
from cityhub.identity.deps import SESSION_COOKIE, clear_session_cookie
from cityhub.platform import texts
from cityhub.platform.config import Settings
from cityhub.platform.errors import CityHubError
from cityhub.web import i18n

TEMPLATES = Path(__file__).parent / "templates"
STATIC = Path(__file__).parent / "static"
CITY_COOKIE = "cityhub_city"
PREFERENCE_MAX_AGE = 365 * 24 * 3600
log = structlog.get_logger("cityhub.web")

# Pages load nothing from elsewhere and run no inline code; nobody may frame them.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; "
        "form-action 'self'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    # What a page says depends on the language and city the visitor chose.
    "Vary": "Accept-Language, Cookie",
}

Handler = Callable[[Request, Any], Response | Awaitable[Response]]


class PageError(Exception):
    """A page cannot be shown: the visitor gets the error page of `status`."""

    def __init__(self, status: int, reason: str | None = None) -> None:
        super().__init__(reason or str(status))
        self.status = status
        self.reason = reason


class SignInRequired(Exception):
    """A console page asked for without a live session: the visitor goes to the sign-in form."""


def format_money(fen: int, currency: str, lang: str) -> str:
    """An amount of minor units as the language writes it (`¥12.34`, `CN¥12.34`); yuan are
    `¥` in both Chinese scripts (Babel's zh-Hant writes `CN¥`, for readers elsewhere)."""
    locale = "zh_Hans" if currency == "CNY" and lang.startswith("zh") else i18n.locale_of(lang)
    return format_currency(Decimal(fen) / 100, currency, locale=locale)


def _format_datetime(value: dt.datetime, tz: str, lang: str) -> str:
    return format_datetime(value, "medium", tzinfo=ZoneInfo(tz), locale=i18n.locale_of(lang))


def _format_day(value: dt.date | str, lang: str) -> str:
    """A day (or an ISO date a provider sent) as the language writes it; anything else as it
    came."""
    try:
        day = value if isinstance(value, dt.date) else dt.date.fromisoformat(str(value)[:10])
    except ValueError:
        return str(value)
    return format_date(day, "medium", locale=i18n.locale_of(lang))


def _format_period(value: str, lang: str) -> str:
    """A billing period `2025-10` as the language writes a month (`2025年10月`, `Oct 2025`)."""
    try:
        year, month = (int(part) for part in str(value).split("-")[:2])
        return format_skeleton("yMMM", dt.date(year, month, 1), locale=i18n.locale_of(lang))
    except ValueError:
        return str(value)


def _part(text: Any, lang: str) -> Markup | str:
    """A name or text typed by someone else (a doctor's name, a provider's words), marked with
    its language where it is not the page's."""
    value = "" if text is None else str(text)
    mark = i18n.language_of(value, lang)
    return Markup('<span lang="{}">{}</span>').format(mark, value) if mark else value


@cache
def environment(lang: str) -> Environment:
    """The template environment of a language, with its gettext installed."""
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(("html",)),
        extensions=["jinja2.ext.i18n"],
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.install_gettext_translations(i18n.translations(lang), newstyle=True)  # type: ignore[attr-defined]
    env.filters["part"] = lambda text: _part(text, lang)
    env.globals.update(
        lang=lang,
        languages=[(code, i18n.ENDONYMS[code]) for code in i18n.LANGUAGES],
        name_in=lambda thing: i18n.name_in(thing, lang),
        # content kept with its translations: `tr(account.names, account.name)`
        tr=lambda translations, default=None: texts.pick(translations, lang, default),
        # the `lang` to mark a text with when it is not in the page's language (or None)
        lang_of=lambda value: i18n.language_of(value, lang),
        when=lambda value, tz: _format_datetime(value, tz, lang),
        money=lambda fen, currency: format_money(fen, currency, lang),
        day=lambda value: _format_day(value, lang),
        period=lambda value: _format_period(value, lang),
        version=__version__,
    )
    return env


def language(request: Request) -> str:
    """The language the request is answered in."""
    cached: str | None = getattr(request.state, "lang", None)
    if cached is None:
        cached = i18n.choose(
            cookie=request.cookies.get(i18n.LANG_COOKIE),
            accept_language=request.headers.get("accept-language"),
        )
        request.state.lang = cached
    return cached


def here(request: Request) -> str:
    """Where to come back to after switching language: this page, or after a form was posted
    (which must not be sent again) the start of its part of the site."""
    if request.method not in ("GET", "HEAD"):
        return "/console" if request.url.path.startswith("/console") else "/"
    query = request.url.query
    return request.url.path + (f"?{query}" if query else "")


def safe_next(target: str | None, default: str = "/") -> str:
    """A local path to redirect to; anything that could leave the site becomes `default`."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return default
    return target


def render(
    request: Request,
    template: str,
    *,
    status: int = 200,
    headers: Mapping[str, str] | None = None,
    **context: Any,
) -> HTMLResponse:
    """A page in the request's language."""
    lang = language(request)
    switch = {
        code: "/lang/" + code + "?" + urlencode({"next": here(request)}) for code in i18n.ENDONYMS
    }
    html = environment(lang).get_template(template).render(switch=switch, **context)
    response = HTMLResponse(
        html, status_code=status, headers={**SECURITY_HEADERS, **(headers or {})}
    )
    return response


def redirect(url: str) -> RedirectResponse:
    """See Other: after a form, and to send a visitor where they belong."""
    return RedirectResponse(url, status_code=303, headers=SECURITY_HEADERS)


def remember(response: Response, settings: Settings, name: str, value: str) -> None:
    """Keep one of the visitor's choices (language, city) for a year."""
    response.set_cookie(
        name,
        quote(value),
        max_age=PREFERENCE_MAX_AGE,
        httponly=True,
        samesite="lax",
        secure=settings.is_production,
        path="/",
    )


def error_page(
    request: Request,
    status: int,
    reason: str | None = None,
    *,
    headers: Mapping[str, str] | None = None,
) -> HTMLResponse:
    """The HTML page of an error status (keeping headers such as `Allow` of the error)."""
    headers = {**(headers or {}), "Cache-Control": "no-store"}
    return render(
        request, "error.html", status=status, headers=headers, error=status, reason=reason
    )


def wants_page(request: Request) -> bool:
    """Whether an error should be answered as a page: it came from a page route, or from an
    unknown path outside `/v1` that a browser asked for."""
    route = request.scope.get("route")
    if route is not None:
        endpoint = getattr(route, "endpoint", None)
        return getattr(endpoint, "__module__", "").startswith("cityhub.web.")
    path = request.url.path
    if path == "/v1" or path.startswith("/v1/"):
        return False
    return "text/html" in request.headers.get("accept", "")


def install_error_pages(app: FastAPI) -> None:
    """Answer errors of pages with HTML pages; hand everything else to the JSON handlers."""

    async def page_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, PageError)
        return error_page(request, exc.status, exc.reason)

    async def sign_in_required(request: Request, exc: Exception) -> Response:
        response = redirect("/console")
        if request.cookies.get(SESSION_COOKIE):
            clear_session_cookie(response)  # it names a session that has ended
        return response

    app.add_exception_handler(PageError, page_error)
    app.add_exception_handler(SignInRequired, sign_in_required)

    def delegate(kind: type[Exception], status_of: Callable[[Any], int]) -> None:
        json_handler: Handler | None = app.exception_handlers.get(kind)

        async def handler(request: Request, exc: Any) -> Response:
            status = status_of(exc)
            if wants_page(request) or json_handler is None:
                if status >= 500:
                    log.exception("page_error", path=request.url.path, exc_info=exc)
                extra = getattr(exc, "headers", None) or {}
                return error_page(request, status, getattr(exc, "code", None), headers=extra)
            answer = json_handler(request, exc)
            return await answer if inspect.isawaitable(answer) else answer

        app.add_exception_handler(kind, handler)

    delegate(RequestValidationError, lambda exc: 400)
    delegate(StarletteHTTPException, lambda exc: exc.status_code)
    delegate(CityHubError, lambda exc: exc.status)
    delegate(Exception, lambda exc: 500)
