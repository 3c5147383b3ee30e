"""The OpenAPI description is the contract: the committed openapi.json is what the hub
serves, every operation is named and summarised by hand, every error is the one RFC 9457
`Problem`, security and scopes are stated, schema names are unique, webhooks are described."""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

from openapi_spec_validator import validate

from cityhub.cli.openapi import DEFAULT, document, render
from cityhub.platform.openapi import lacking_operation_ids
from cityhub.webhooks import CHANNEL_TOPICS
from tests.client import Api

ROOT = Path(__file__).resolve().parents[2]
REGENERATE = "run `.venv/bin/cityhub openapi` (or `make openapi`) and commit openapi.json"


@functools.cache
def described() -> dict[str, Any]:
    """The description, built once for the module's tests (the first test reads the app's)."""
    return document()


def operations(spec: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(m.upper(), p, op) for p, item in spec["paths"].items() for m, op in item.items()]


async def test_the_committed_openapi_json_is_what_the_hub_serves(api: Api) -> None:
    served = await api.get("/openapi.json")
    committed = json.loads((ROOT / DEFAULT).read_text(encoding="utf-8"))
    if served != committed:
        ours = {(m, p) for m, p, _ in operations(served)}
        theirs = {(m, p) for m, p, _ in operations(committed)}
        changed = sorted(
            f"{m} {p}"
            for m, p, op in operations(served)
            if (m, p) in theirs and committed["paths"][p][m.lower()] != op
        )
        raise AssertionError(
            f"the API's description changed: {REGENERATE}.\n"
            f"new: {sorted(ours - theirs)}\ngone: {sorted(theirs - ours)}\n"
            f"changed: {changed[:20]}\n"
            f"schemas new or changed: "
            + str(
                sorted(
                    name
                    for name, schema in served["components"]["schemas"].items()
                    if committed["components"]["schemas"].get(name) != schema
                )[:20]
            )
        )
    assert render(served) == (ROOT / DEFAULT).read_text(encoding="utf-8"), REGENERATE


async def test_every_operation_is_named_and_summarised_by_hand(app: Any, api: Api) -> None:
    lacking = lacking_operation_ids(app)
    assert not lacking, (
        'give each route `operation_id="camelCase"` and `summary=` in its decorator: '
        + "; ".join(lacking)
    )
    spec = await api.get("/openapi.json")
    ids = [op["operationId"] for _m, _p, op in operations(spec)]
    assert len(ids) == len(set(ids))
    assert all(i[0].islower() and i.isalnum() for i in ids), ids


def test_the_description_is_valid_openapi_3_1() -> None:
    spec = described()
    assert spec["openapi"].startswith("3.1")
    validate(spec)


def test_every_error_is_a_problem_document() -> None:
    spec = described()
    schemas = spec["components"]["schemas"]
    assert "HTTPValidationError" not in schemas and "ValidationError" not in schemas
    assert {"code", "field", "errors"} <= set(schemas["Problem"]["properties"])
    for method, path, op in operations(spec):
        answers = op["responses"]
        assert "default" in answers, (method, path)
        for status, answer in answers.items():
            if status == "default" or int(status) >= 400:
                ref = answer["$ref"].rsplit("/", 1)[-1]
                content = spec["components"]["responses"][ref]["content"]
                assert list(content) == ["application/problem+json"], (method, path, status)
        if op.get("parameters") or op.get("requestBody"):
            assert "422" in answers, (method, path)
        assert any(s.startswith("2") for s in answers), (method, path)
    payment = spec["paths"]["/v1/cities/{city}/payments"]["post"]
    assert {"409", "422", "404", "401", "403"} <= set(payment["responses"])


def test_security_scopes_headers_and_the_token_form() -> None:
    spec = described()
    flow = spec["components"]["securitySchemes"]["oauth2"]["flows"]["clientCredentials"]
    assert flow["tokenUrl"] == "/v1/oauth/token" and "payments:write" in flow["scopes"]
    paths = spec["paths"]
    create = paths["/v1/cities/{city}/payments"]["post"]
    assert {"oauth2": ["catalogue:read", "payments:write"]} in create["security"]
    key = next(p for p in create["parameters"] if p["name"] == "Idempotency-Key")
    assert key["required"] is True and "400" in create["responses"]
    assert paths["/v1/residents"]["post"]["security"] == [{"oauth2": ["residents:write"]}]
    assert paths["/v1/jobs"]["get"]["security"] == [{"consoleSession": []}]
    assert "security" not in paths["/v1/cities"]["get"]  # public
    token = paths["/v1/oauth/token"]["post"]
    form = token["requestBody"]["content"]["application/x-www-form-urlencoded"]["schema"]
    assert form["required"] == ["grant_type"] and "client_secret" in form["properties"]
    assert token["responses"]["401"]["$ref"].endswith("/OAuthProblem401")


def test_schema_names_are_unique_and_examples_given() -> None:
    spec = described()
    names = list(spec["components"]["schemas"])
    assert not [n for n in names if "__" in n or n.startswith("Page_") or "-" in n], names
    assert {"LedgerAccountRead", "NoticeAccountRead", "WebhookDeliveryRead"} <= set(names)
    assert {"NoticeDeliveryRead", "PaymentReadPage"} <= set(names)
    for name in ("PaymentCreate", "PaymentRead", "BillsRead", "TokenRead", "Problem"):
        assert spec["components"]["schemas"][name]["examples"], name


def test_every_list_answers_items_and_a_cursor() -> None:
    spec = described()
    for method, path, op in operations(spec):
        ok = next(a for s, a in op["responses"].items() if s.startswith("2"))
        schema = ok.get("content", {}).get("application/json", {}).get("schema", {})
        assert schema.get("type") != "array", f"{method} {path} answers a bare array"


def test_webhooks_describe_every_event_type() -> None:
    spec = described()
    hooks = spec["webhooks"]
    assert set(CHANNEL_TOPICS) | {"notices.batch"} == set(hooks)
    completed = hooks["payment.completed"]["post"]["requestBody"]["content"]
    ref = completed["application/json"]["schema"]["$ref"].rsplit("/", 1)[-1]
    event = spec["components"]["schemas"][ref]
    assert event["properties"]["type"] == {"const": "payment.completed"}
    data = event["properties"]["data"]["properties"]
    assert data["payment"] == {"$ref": "#/components/schemas/PaymentRead"}
