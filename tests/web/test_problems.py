"""Errors in the caller's language (Accept-Language, Content-Language), and the error catalogue
every problem's `type` points to, listing every code the hub answers."""

from __future__ import annotations

import ast
from pathlib import Path
from urllib.parse import urlsplit

import pytest

import cityhub
from cityhub.web.problem_codes import CODES
from tests.client import Api

SRC = Path(cityhub.__file__).parent
NOT_PROBLEMS = {"reversed_at_biller"}  # a refund's status at the biller, not an answer's code


@pytest.mark.parametrize(
    ("asked", "lang", "title"),
    [
        ("zh-CN,zh;q=0.9", "zh-Hans", "需要身份验证"),
        ("zh-TW", "zh-Hant", "需要身份驗證"),
        ("en-GB", "en", "Authentication required"),
        ("", "en", "Authentication required"),  # names none of ours: English, as always
    ],
)
async def test_a_problem_speaks_the_language_asked_and_says_which(
    api: Api, asked: str, lang: str, title: str
) -> None:
    problem = await api.get("/v1/channel", headers={"Accept-Language": asked}, expect=401)
    assert api.last is not None and api.last.headers["Content-Language"] == lang
    assert (problem["title"], problem["code"]) == (title, "unauthorized")
    if lang == "zh-Hans":
        # A detail the catalogues do not hold word for word: the code's meaning, then it.
        assert problem["detail"].startswith("请求未附带有效凭据。")
        assert "/v1/oauth/token" in problem["detail"]


async def test_validation_and_middleware_problems_are_translated_too(api: Api) -> None:
    zh = {"Accept-Language": "zh-Hans", "Content-Type": "application/json"}
    bad = await api.post("/v1/oauth/token", content=b"[" * 100_000, headers=zh, expect=400)
    assert bad["title"] == "JSON 嵌套过深" and api.last is not None
    assert api.last.headers["Content-Language"] == "zh-Hans"
    await api.post(
        "/v1/staff/session",
        json={"username": 1},
        headers={"Accept-Language": "zh-Hant"},
        expect=422,
    )
    assert api.last.json()["title"] == "請求無效"


async def test_a_problem_type_is_a_page_of_the_catalogue_in_html_and_in_json(api: Api) -> None:
    problem = await api.get("/v1/channel", expect=401)
    path = urlsplit(problem["type"]).path
    assert path == "/problems/unauthorized"
    page = await api.client.get(path, headers={"Accept-Language": "zh-Hans"})
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "<code>unauthorized</code>" in page.text and "请求未附带有效凭据。" in page.text
    entry = await api.get(path, headers={"Accept": "application/json", "Accept-Language": "en"})
    assert entry == {
        "code": "unauthorized",
        "status": 401,
        "type": problem["type"],
        "meaning": "No valid credentials came with the request.",
        "what_to_do": "Ask for a token at /v1/oauth/token (or sign in) and send it.",
    }
    listed = (await api.get("/problems", headers={"Accept": "application/json"}))["items"]
    assert [e["code"] for e in listed] == sorted(CODES)
    assert all(e["meaning"] and e["what_to_do"] for e in listed)
    unknown = await api.get(
        "/problems/no_such_code", headers={"Accept": "application/json"}, expect=404
    )
    assert unknown["code"] == "not_found"


def _raised_codes() -> set[str]:
    """Every `code="..."` a call in the source passes, and every `code = "..."` of a class."""
    found: set[str] = set()
    for path in SRC.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call):
                for kw in node.keywords:
                    if kw.arg == "code" and isinstance(kw.value, ast.Constant):
                        found.add(str(kw.value.value))
            if isinstance(node, ast.Assign) and len(node.targets) == 1:
                target = node.targets[0]
                if isinstance(target, ast.Name) and target.id == "code":
                    if isinstance(node.value, ast.Constant) and isinstance(node.value.value, str):
                        found.add(node.value.value)
    return found - NOT_PROBLEMS


def test_the_catalogue_lists_every_code_the_source_raises() -> None:
    missing = sorted(_raised_codes() - set(CODES))
    assert missing == [], "add them to src/cityhub/web/problem_codes.py"
