"""The webhooks a channel receives, as the API's description states them: the envelope every
delivery shares and the `data` of each event type (its fields as the domains enqueue them;
a payment or refund as the API answers it elsewhere)."""

from __future__ import annotations

from typing import Any

from cityhub.webhooks import CHANNEL_TOPICS

BATCH_TOPIC = "notices.batch"
_REF = "#/components/schemas/"


def _obj(description: str, properties: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "object",
        "description": description,
        "required": sorted(properties),
        "properties": {"channel_id": {"type": "integer"}, **properties},
        "additionalProperties": True,
    }


_STR = {"type": "string"}
_GRANT = {"city": _STR, "service": _STR}
_PAYMENT = {"payment": {"$ref": _REF + "PaymentRead"}}
_AUTODEBIT = {
    "user_id": _STR,
    "agreement": {"$ref": _REF + "AutoDebitAgreementRead"},
    "auto_debit": {"$ref": _REF + "AutoDebitRead"},
}

DATA: dict[str, dict[str, Any]] = {
    "grant.created": _obj("The city granted the channel a service.", _GRANT),
    "grant.revoked": _obj("The city withdrew a grant.", _GRANT),
    "consent.withdrawn": _obj(
        "A consent of one of the channel's users was withdrawn.",
        {"consent_id": {"type": "integer"}, "scope": _STR},
    ),
    "resident.verified": _obj(
        "A user's identity was verified.",
        {"user_id": _STR, "level": {"$ref": _REF + "IdentityLevel"}},
    ),
    "resident.linked": _obj(
        "A user was linked to a person the hub knew.",
        {"user_id": _STR, "proof": _STR},
    ),
    "resident.cross_channel_action": _obj(
        "Another channel acted on something this channel filed (a withdrawn application).",
        {"action": _STR, "object_type": _STR, "object_id": _STR, "by_channel": _STR},
    ),
    "payment.completed": _obj("The biller accepted a payment.", _PAYMENT),
    "payment.failed": _obj("The biller refused a payment for good: refund the user.", _PAYMENT),
    "refund.succeeded": _obj(
        "A payment was refunded: pay the user back `refund.total_fen`.",
        {**_PAYMENT, "refund": {"$ref": _REF + "RefundRead"}},
    ),
    "webhook.test": _obj(
        "A test event the channel asked for (`POST /v1/channel/test-events`).",
        {"message": _STR},
    ),
    "refund_request.declined": _obj(
        "The city's staff or the biller declined a refund request the channel made.",
        {"refund_request": {"$ref": _REF + "RefundRequestRead"}},
    ),
    "complaint.updated": _obj(
        "A complaint the channel filed changed status (logged, assigned, resolved, escalated).",
        {"complaint": {"$ref": _REF + "ComplaintRead"}},
    ),
    "autodebit.requested": _obj(
        "An auto-debit's notice period is over: charge the user `payment.total_fen`, then "
        "confirm (`confirmAutoDebit`) before `payment.quote_expires_at`, or report a failure.",
        {**_AUTODEBIT, **_PAYMENT},
    ),
    "autodebit.failed": _obj(
        "An auto-debit failed for good after its attempts; the user was told to pay themselves.",
        _AUTODEBIT,
    ),
    "autodebit.agreement_changed": _obj(
        "The user paused, resumed or cancelled an auto-debit agreement elsewhere (another "
        "channel where they are linked, the portal, or a withdrawn consent).",
        {"agreement": {"$ref": _REF + "AutoDebitAgreementRead"}},
    ),
    "appointment.offered": _obj(
        "A waitlist place is offered to the user until `expires_at`.",
        {
            "city": _STR,
            "booking": _STR,
            "user_id": _STR,
            "status": _STR,
            "expires_at": {"anyOf": [{"type": "string", "format": "date-time"}, {"type": "null"}]},
        },
    ),
    BATCH_TOPIC: _obj(
        "Notices pushed to the channel's users.",
        {
            "batch": _STR,
            "notices": {
                "type": "array",
                "items": {
                    "type": "object",
                    "additionalProperties": True,
                    "properties": {
                        "delivery": {"type": "integer"},
                        "user_id": {"anyOf": [_STR, {"type": "null"}]},
                        "notice": _STR,
                        "city": _STR,
                        "account": _STR,
                        "urgent": {"type": "boolean"},
                        "texts": {"type": "object", "additionalProperties": True},
                        "language": _STR,
                        "link": {"anyOf": [_STR, {"type": "null"}]},
                        "tracking": _STR,
                    },
                },
            },
        },
    ),
}


def _name(topic: str) -> str:
    return "".join(part.title() for part in topic.replace("_", ".").split(".")) + "Event"


def webhooks() -> tuple[dict[str, Any], dict[str, Any]]:
    """The `webhooks` section (one per event type) and the schemas it refers to."""
    assert set(CHANNEL_TOPICS) | {BATCH_TOPIC} == set(DATA), "every event type has a schema"
    events: dict[str, Any] = {}
    schemas: dict[str, Any] = {}
    headers = {
        name: {"required": True, "schema": _STR, "description": text}
        for name, text in (
            ("CityHub-Event-Id", "the event's id: de-duplicate on it"),
            ("CityHub-Event-Type", "the event's type"),
            ("CityHub-Signature", 't=<unix time>,v1=<hex HMAC-SHA256 of "<t>.<body>">'),
        )
    }
    for topic, data in DATA.items():
        name = _name(topic)
        schemas[name] = {
            "title": name,
            "type": "object",
            "required": ["id", "type", "created_at", "data"],
            "properties": {
                "id": _STR,
                "type": {"const": topic},
                "created_at": {"type": "string", "format": "date-time"},
                "data": data,
            },
        }
        events[topic] = {
            "post": {
                "operationId": "on" + name.removesuffix("Event"),
                "summary": data["description"],
                "parameters": [{"in": "header", "name": h, **spec} for h, spec in headers.items()],
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": {"$ref": _REF + name}}},
                },
                "responses": {"2XX": {"description": "received (anything else is retried)"}},
            }
        }
    return events, schemas
