"""Errors in the caller's language, and the error catalogue their `type` URIs point to.

Every problem answer's `title` and `detail` go through the pages' gettext catalogues
(locales/*.po) in the language `Accept-Language` asks for (zh-Hans, zh-Hant, en; English when
it names none of them), and the answer says which in `Content-Language`. A title is translated
as it stands; a detail when the catalogue has it word for word, and otherwise (a detail naming
values: an amount, an id) it is the translated meaning of its code followed by the original.

`GET /problems` lists every code (problem_codes.py) with what it means and what to do, and
`GET /problems/{code}` is one entry: the `type` of a problem (`{base}/problems/{code}`)
resolves to it. An HTML page, or JSON when the client asks for `application/json`.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel

from cityhub.platform import errors
from cityhub.platform.paging import Page
from cityhub.web import i18n
from cityhub.web.pages import language, render
from cityhub.web.problem_codes import CODES

router = APIRouter(prefix="/problems", tags=["errors"])
API_DEFAULT = "en"  # what an API client that names no language of ours has always been told


def _(message: str) -> str:
    """Marks a message for the catalogues (translated where it is shown)."""
    return message


# The titles problems carry (errors.py and the handlers), so that the catalogues hold them.
TITLES = (
    _("Bad request"),
    _("Authentication required"),
    _("Not allowed"),
    _("Not found"),
    _("Not Found"),
    _("Method Not Allowed"),
    _("Conflict"),
    _("Invalid request"),
    _("Request body too large"),
    _("Too many requests"),
    _("Bad answer from a provider"),
    _("Service unavailable"),
    _("The provider is unavailable"),
    _("Too busy; try again shortly"),
    _("Malformed JSON"),
    _("JSON nested too deeply"),
    _("Internal error"),
    _("Not ready"),
)

# What a status means and what to do, for every code that says no more of its own.
BY_STATUS: dict[int, tuple[str, str]] = {
    400: (_("The request cannot be understood as sent."), _("Fix the request and send it again.")),
    401: (
        _("No valid credentials came with the request."),
        _("Ask for a token at /v1/oauth/token (or sign in) and send it."),
    ),
    403: (
        _("The caller may not do this."),
        _("Ask the city for the grant, scope or role it takes; do not retry as is."),
    ),
    404: (
        _("There is no such object, or it is not the caller's."),
        _("Check the id and the city in the path."),
    ),
    405: (_("This method is not allowed here."), _("Use a method the path takes.")),
    409: (
        _("The object is not in a state that allows this now."),
        _("Read the object again, then decide whether to retry."),
    ),
    413: (_("The body is too large."), _("Send a smaller body.")),
    422: (
        _("A value in the request is not acceptable; `field` names it."),
        _("Correct the named field and send the request again."),
    ),
    429: (
        _("The caller sent too many requests."),
        _("Wait the seconds of the Retry-After header, then retry."),
    ),
    500: (
        _("Something failed on the hub's side."),
        _("Retry later; quote the request_id when you report it."),
    ),
    502: (
        _("A provider answered something the hub cannot use."),
        _("Retry later; nothing was taken."),
    ),
    503: (
        _("The hub or a provider cannot answer now."),
        _("Retry after a while (see Retry-After when it is sent)."),
    ),
}

# Codes that say more than their status.
BY_CODE: dict[str, tuple[str, str]] = {
    "validation_failed": (
        _("The body, query or path does not match the operation's schema; `errors` lists each."),
        _("Correct each listed field and send the request again."),
    ),
    "cursor_expired": (
        _("The item this cursor points after is no longer in the list."),
        _("Start the list again without a cursor."),
    ),
    "malformed_json": (_("The body is not valid JSON."), _("Send a valid JSON document.")),
    "idempotency_key_required": (
        _("This operation needs an Idempotency-Key header."),
        _("Send a new unique key; send the same key when you retry."),
    ),
    "idempotency_mismatch": (
        _("The Idempotency-Key was used before with another body."),
        _("Use a new key for a new request."),
    ),
    "idempotency_in_flight": (
        _("A request with this Idempotency-Key is still running."),
        _("Retry the same request in a moment."),
    ),
    "invalid_client": (
        _("Unknown client, or a wrong or revoked secret."),
        _("Check the client id and secret (after a rotation, use the new secret)."),
    ),
    "invalid_token": (_("The access token is not valid."), _("Ask for a new token.")),
    "token_expired": (_("The access token has expired."), _("Ask for a new token.")),
    "insufficient_scope": (
        _("The token lacks the scope this operation needs."),
        _("Ask for a token with that scope (the channel must hold it)."),
    ),
    "rate_limited": (
        _("The channel passed one of its rate limits (see the RateLimit headers)."),
        _("Wait the seconds of the Retry-After header, then retry."),
    ),
    "too_many_attempts": (
        _("Too many wrong secrets from this client or address."),
        _("Wait the seconds of the Retry-After header; check the secret."),
    ),
    "quote_expired": (
        _("The payment's quote ran out before it was confirmed."),
        _("Look the bill up again and create a new payment."),
    ),
    "refund_window_closed": (
        _("The biller takes refund requests only for some days after payment."),
        _("Ask the city's staff."),
    ),
    "refunds_not_accepted": (
        _("This biller takes no refund requests from channels."),
        _("Ask the city's staff."),
    ),
    "refund_exceeds_payment": (
        _("More than what is left of the payment was asked back."),
        _("Ask for at most what is left to refund."),
    ),
    "overloaded": (
        _("Every database connection is busy."),
        _("Retry after the Retry-After seconds."),
    ),
    "concurrent_change": (
        _("Another request changed the same thing at the same time."),
        _("Read it again and retry."),
    ),
}


def _gettext(lang: str, message: str) -> str:
    return i18n.translations(lang).gettext(message)


def meaning(code: str, status: int) -> tuple[str, str]:
    """What a code means and what to do (English msgids)."""
    return BY_CODE.get(code) or BY_STATUS.get(status) or BY_STATUS[400]


def localize(
    accept_language: str | None, code: str, status: int, title: str, detail: str | None
) -> tuple[str, str, str | None]:
    """The language of the answer, and the title and detail in it."""
    lang = i18n.from_accept_language(accept_language or "") or API_DEFAULT
    if lang == "en":
        return lang, title, detail
    said = _gettext(lang, detail) if detail else None
    if detail and said == detail:  # a detail with values in it: the meaning, then the detail
        said = f"{_gettext(lang, meaning(code, status)[0])} ({detail})"
    return lang, _gettext(lang, title), said


class ProblemType(BaseModel):
    code: str
    status: int
    type: str
    meaning: str
    what_to_do: str


def _entry(request: Request, lang: str, code: str) -> ProblemType:
    status = CODES[code]
    what, do = meaning(code, status)
    return ProblemType(
        code=code,
        status=status,
        type=errors.type_uri(request.app, code),
        meaning=_gettext(lang, what),
        what_to_do=_gettext(lang, do),
    )


def _wants_json(request: Request) -> bool:
    accept = request.headers.get("accept", "")
    return "json" in accept and "text/html" not in accept


def _answer(request: Request, entries: list[ProblemType], *, single: bool = False) -> Response:
    headers = {"Content-Language": language(request)}
    if _wants_json(request):
        items: list[Any] = [e.model_dump() for e in entries]
        body = items[0] if single else {"items": items, "next_cursor": None}
        return JSONResponse(body, headers=headers)
    return render(request, "problems.html", entries=entries, single=single, headers=headers)


@router.get(
    "",
    response_model=Page[ProblemType],
    operation_id="listProblemTypes",
    summary="The error catalogue",
)
async def catalogue(request: Request) -> Response:
    """Every problem code the API answers, what it means and what to do (HTML, or JSON)."""
    lang = language(request)
    return _answer(request, [_entry(request, lang, c) for c in sorted(CODES)])


@router.get(
    "/{code}",
    response_model=ProblemType,
    operation_id="getProblemType",
    summary="One problem code of the error catalogue",
)
async def one(request: Request, code: str) -> Response:
    """The page a problem's `type` URI points to (HTML, or JSON)."""
    if code not in CODES:
        if _wants_json(request):  # a page route, yet a client asking for JSON gets a problem
            detail = f"no problem code {code!r}"
            return errors.problem(404, "not_found", "Not found", detail=detail, request=request)
        raise errors.NotFound(f"no problem code {code!r}", code="not_found")
    return _answer(request, [_entry(request, language(request), code)], single=True)


def install(app: FastAPI) -> None:
    """Translate every problem answer of the app, and serve the catalogue."""
    app.state.problem_language = localize
    app.include_router(router)
