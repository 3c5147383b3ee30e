"""Calling /fhir/r4 as a plain HTTP client does, with every answer checked against the R4
models (fhir.resources R4B): the Bundle and each resource in it."""

from __future__ import annotations

from typing import Any

from fhir.resources.R4B import get_fhir_model_class

from tests.client import Api

FHIR = "application/fhir+json"


def valid(body: dict[str, Any]) -> dict[str, Any]:
    """The body, once it validates as its resource type (and so does every entry)."""
    get_fhir_model_class(body["resourceType"]).model_validate(body)
    for entry in body.get("entry") or []:
        resource = entry["resource"]
        get_fhir_model_class(resource["resourceType"]).model_validate(resource)
    return body


async def fhir_call(
    api: Api, method: str, url: str, *, expect: int = 200, **kwargs: Any
) -> dict[str, Any]:
    """A FHIR answer with the expected status, validated; an error is an OperationOutcome."""
    answer = await api.client.request(
        method, url, headers={**await api.current_headers(), **kwargs.pop("headers", {})}, **kwargs
    )
    assert answer.status_code == expect, answer.text
    assert answer.headers["content-type"].startswith(FHIR), answer.headers["content-type"]
    body = valid(answer.json())
    if expect >= 400:
        assert body["resourceType"] == "OperationOutcome"
    return body


async def fhir_get(api: Api, url: str, *, expect: int = 200, **kwargs: Any) -> dict[str, Any]:
    return await fhir_call(api, "GET", url, expect=expect, **kwargs)


def ids(bundle: dict[str, Any], mode: str = "match") -> list[str]:
    """The ids of a Bundle's entries of a search mode."""
    return [e["resource"]["id"] for e in bundle.get("entry") or [] if e["search"]["mode"] == mode]


def next_link(bundle: dict[str, Any]) -> str | None:
    return next((ln["url"] for ln in bundle["link"] if ln["relation"] == "next"), None)


async def walk(api: Api, url: str, **params: Any) -> tuple[list[str], int]:
    """Every match of a search, by following `next` links: the ids and the number of pages."""
    page = await fhir_get(api, url, params=params)
    found, pages = ids(page), 1
    while (link := next_link(page)) is not None:
        page = await fhir_get(api, link)
        found += ids(page)
        pages += 1
    return found, pages


def outcome_code(body: dict[str, Any]) -> tuple[str, str]:
    """An OperationOutcome's issue type and our problem code."""
    issue = body["issue"][0]
    return issue["code"], issue["details"]["coding"][0]["code"]
