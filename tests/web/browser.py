"""A test browser for the pages: keeps cookies, parses each HTML page and checks what every
page must have (a language, a title, a label for each field, a CSRF token in each POST form)."""

from __future__ import annotations

from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any

import httpx

from cityhub.web.i18n import LANGUAGES

FIELDS = {"input", "select", "textarea"}
UNLABELLED_INPUTS = {"hidden", "submit", "button", "reset", "image"}


@dataclass
class Form:
    method: str
    action: str
    fields: dict[str, str] = field(default_factory=dict)


class _Scan(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.lang: str | None = None
        self.title = ""
        self.text: list[str] = []
        self.fields: list[dict[str, str]] = []  # with `labelled` when inside a <label>
        self.label_for: set[str] = set()
        self.forms: list[Form] = []
        self._in_title = False
        self._labels_open = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "html":
            self.lang = a.get("lang")
        elif tag == "title":
            self._in_title = True
        elif tag == "label":
            self._labels_open += 1
            if a.get("for"):
                self.label_for.add(a["for"])
        elif tag == "form":
            self.forms.append(Form(a.get("method", "get").lower(), a.get("action", "")))
        if tag in FIELDS:
            self.fields.append({**a, "tag": tag, "labelled": "1" if self._labels_open else ""})
            if self.forms and a.get("name"):
                self.forms[-1].fields[a["name"]] = a.get("value", "")

    def handle_endtag(self, tag: str) -> None:
        if tag == "title":
            self._in_title = False
        elif tag == "label":
            self._labels_open -= 1

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title += data
        elif data.strip():
            self.text.append(data.strip())


@dataclass
class Page:
    """One answer of the site; `text` is what a person reads in the body."""

    response: httpx.Response
    lang: str | None = None
    title: str = ""
    text: str = ""
    forms: list[Form] = field(default_factory=list)

    @property
    def status(self) -> int:
        return self.response.status_code

    def form(self, action: str) -> Form:
        """The form posting to `action`."""
        found = [f for f in self.forms if f.action == action]
        assert found, f"no form posting to {action}: {self.forms}"
        return found[0]

    def set_cookies(self) -> dict[str, str]:
        """The raw Set-Cookie headers of the answer, by cookie name."""
        headers = self.response.headers.get_list("set-cookie")
        return {h.split("=", 1)[0]: h for h in headers}


def check_page(response: httpx.Response) -> Page:
    """Parse an HTML answer and fail on what no page may lack."""
    assert response.headers["content-type"].startswith("text/html"), response.headers
    scan = _Scan()
    scan.feed(response.text)
    assert scan.lang in LANGUAGES, f"<html lang> is {scan.lang!r}"
    assert scan.title.strip(), f"{response.url}: no <title>"
    for f in scan.fields:
        if f["tag"] == "input" and f.get("type", "text") in UNLABELLED_INPUTS:
            continue
        labelled = f["labelled"] or (f.get("id") and f["id"] in scan.label_for)
        assert labelled, f"{response.url}: field {f.get('name')!r} has no <label>"
    for form in scan.forms:
        if form.method == "post":
            assert form.fields.get("csrf_token"), f"{response.url}: POST form without csrf_token"
    assert "Traceback" not in response.text
    return Page(
        response=response,
        lang=scan.lang,
        title=" ".join(scan.title.split()),
        text=" ".join(scan.text),
        forms=scan.forms,
    )


class Browser:
    """An httpx client that remembers cookies and checks every page it gets."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client

    async def request(self, method: str, url: str, *, expect: int, **kwargs: Any) -> Page:
        response = await self.client.request(method, url, **kwargs)
        assert response.status_code == expect, (
            f"{method} {url}: expected {expect}, got {response.status_code}: {response.text}"
        )
        if 300 <= response.status_code < 400:
            assert response.headers["location"], response.headers
            return Page(response=response)
        return check_page(response)

    async def get(self, url: str, *, expect: int = 200, **kwargs: Any) -> Page:
        return await self.request("GET", url, expect=expect, **kwargs)

    async def post(self, url: str, *, expect: int = 303, **kwargs: Any) -> Page:
        return await self.request("POST", url, expect=expect, **kwargs)

    async def sign_in(self, username: str, password: str, *, expect: int = 303) -> Page:
        """Fill in and send the console's sign-in form."""
        form = (await self.get("/console")).form("/console/sign-in")
        data = {**form.fields, "username": username, "password": password}
        return await self.post("/console/sign-in", data=data, expect=expect)

    async def sign_out_form(self) -> Form:
        """The sign-out form of the console home (with the session's CSRF token)."""
        return (await self.get("/console/")).form("/console/sign-out")
