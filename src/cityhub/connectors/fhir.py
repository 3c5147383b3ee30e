"""A hospital reached over FHIR R4 (JSON): HealthcareService as departments, PractitionerRole
to link doctors to them, Schedule, Slot, and Appointment to book (conditional create on our
booking reference, so a retried booking answers the same appointment) and cancel.

Service configuration: connector `fhir`, connector_config `{"base_url": ".../fhir"}`; or
connector `simulator:hospital` with `{"provider_id": ...}` for the simulated hospital.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from cityhub.connectors.endpoint import Endpoint
from cityhub.connectors.transport import Answer, malformed
from cityhub.connectors.types import Booking, Department, Practitioner, Schedule, Slot, Subject

BOOKING_SYSTEM = "urn:cityhub:booking"
ID_NUMBER_SYSTEM = "urn:cityhub:id-number"
FHIR_JSON = "application/fhir+json"
T = TypeVar("T")
# A FHIR server says 422 for business rules (no such slot) and 409 or 412 for a slot that was
# taken meanwhile.
_OUTCOME_ERRORS = {"412": "conflict"}


class _Resource(BaseModel):
    model_config = ConfigDict(extra="allow")

    resourceType: str  # noqa: N815 - the FHIR field name
    id: str


TRANSLATION = "http://hl7.org/fhir/StructureDefinition/translation"


def translations(value: Any, element: Any, language: Any = None) -> dict[str, str]:
    """A string element's text by language: the value in the resource's language (if it
    says one) and the standard translation extensions of its `_element`."""
    found: dict[str, str] = {}
    if isinstance(value, str) and value and isinstance(language, str):
        found[language] = value
    extensions = element.get("extension") if isinstance(element, dict) else None
    for extension in extensions if isinstance(extensions, list) else []:
        if not isinstance(extension, dict) or extension.get("url") != TRANSLATION:
            continue
        parts = {
            part.get("url"): part.get("valueCode") or part.get("valueString")
            for part in extension.get("extension") or []
            if isinstance(part, dict)
        }
        lang, content = parts.get("lang"), parts.get("content")
        if isinstance(lang, str) and isinstance(content, str) and content:
            found[lang] = content[:200]
    return found


def _last(reference: str | None) -> str | None:
    return reference.rsplit("/", 1)[-1] if reference else None


class FhirHospital:
    """A hospital's FHIR R4 server."""

    def __init__(self, endpoint: Endpoint) -> None:
        self.endpoint = endpoint

    async def _get(self, path: str, params: Any = None) -> Any:
        answer = await self.endpoint.call("GET", path, params=params, headers={"Accept": FHIR_JSON})
        return self._ok(answer)

    def _ok(self, answer: Answer) -> Any:
        if answer.status >= 400:
            raise self.endpoint.refusal(answer, _OUTCOME_ERRORS)
        return answer.body

    def _search(self, body: Any, kind: str) -> list[dict[str, Any]]:
        if not isinstance(body, dict) or body.get("resourceType") != "Bundle":
            raise malformed(self.endpoint.provider, "a search did not answer a Bundle")
        found = []
        for entry in body.get("entry") or []:
            resource = entry.get("resource") if isinstance(entry, dict) else None
            try:
                checked = _Resource.model_validate(resource)
            except ValidationError:
                raise malformed(self.endpoint.provider, "a Bundle entry is no resource") from None
            if checked.resourceType == kind and isinstance(resource, dict):
                found.append(resource)
        return found

    async def departments(self) -> list[Department]:
        rows = self._search(await self._get("/HealthcareService"), "HealthcareService")

        def one(r: dict[str, Any]) -> Department:
            names = translations(r.get("name"), r.get("_name"), r.get("language"))
            return Department(id=r["id"], name=r.get("name") or r["id"], names=names)

        return self._each(rows, one)

    async def practitioners(self, *, department_id: str | None = None) -> list[Practitioner]:
        params = {"service": f"HealthcareService/{department_id}"} if department_id else None
        rows = self._search(await self._get("/PractitionerRole", params), "PractitionerRole")

        def one(role: dict[str, Any]) -> Practitioner:
            who = role["practitioner"]
            services = role.get("healthcareService") or [{}]
            codes = role.get("code") or [{}]
            return Practitioner(
                id=_last(who["reference"]) or "",
                name=who.get("display") or _last(who["reference"]) or "",
                department_id=_last(services[0].get("reference")),
                title=codes[0].get("text"),
                titles=translations(
                    codes[0].get("text"), codes[0].get("_text"), role.get("language")
                ),
            )

        return self._each(rows, one)

    async def schedules(self, *, practitioner_id: str) -> list[Schedule]:
        body = await self._get("/Schedule", {"actor": f"Practitioner/{practitioner_id}"})

        def one(row: dict[str, Any]) -> Schedule:
            refs = [a.get("reference", "") for a in row["actor"]]
            department = next((r for r in refs if r.startswith("HealthcareService/")), None)
            types = row.get("serviceType") or [{}]
            return Schedule(
                id=row["id"],
                practitioner_id=practitioner_id,
                department_id=_last(department),
                service_type=types[0].get("text"),
            )

        return self._each(self._search(body, "Schedule"), one)

    async def slots(
        self, *, schedule_id: str, start: dt.date, end: dt.date, free_only: bool = True
    ) -> list[Slot]:
        params: list[tuple[str, str]] = [
            ("schedule", f"Schedule/{schedule_id}"),
            ("start", f"ge{start.isoformat()}"),
            ("start", f"lt{end.isoformat()}"),
        ]
        if free_only:
            params.append(("status", "free"))
        rows = self._search(await self._get("/Slot", params), "Slot")

        def one(row: dict[str, Any]) -> Slot:
            return Slot(
                id=row["id"],
                schedule_id=_last(row["schedule"]["reference"]) or schedule_id,
                start=row["start"],
                end=row["end"],
                status="free" if row["status"] == "free" else "busy",
            )

        return self._each(rows, one)

    async def book(self, *, booking_ref: str, slot_id: str, patient: Subject) -> Booking:
        appointment = {
            "resourceType": "Appointment",
            "status": "booked",
            "identifier": [{"system": BOOKING_SYSTEM, "value": booking_ref}],
            "slot": [{"reference": f"Slot/{slot_id}"}],
            "participant": [
                {
                    "actor": {
                        "identifier": {"system": ID_NUMBER_SYSTEM, "value": patient.id_number},
                        "display": patient.name or "patient",
                    },
                    "status": "accepted",
                }
            ],
        }
        answer = await self.endpoint.call(
            "POST",
            "/Appointment",
            json_body=appointment,
            headers={
                "Content-Type": FHIR_JSON,
                "If-None-Exist": f"identifier={BOOKING_SYSTEM}|{booking_ref}",
            },
        )
        return self._booking(self._ok(answer))

    async def cancel(self, *, appointment_id: str) -> Booking:
        current = await self._get(f"/Appointment/{appointment_id}")
        if not isinstance(current, dict):
            raise malformed(self.endpoint.provider, "an Appointment is not an object")
        answer = await self.endpoint.call(
            "PUT",
            f"/Appointment/{appointment_id}",
            json_body={**current, "status": "cancelled"},
            headers={"Content-Type": FHIR_JSON},
        )
        return self._booking(self._ok(answer))

    def _booking(self, body: Any) -> Booking:
        def one(row: dict[str, Any]) -> Booking:
            refs = [
                i["value"] for i in row.get("identifier", []) if i.get("system") == BOOKING_SYSTEM
            ]
            return Booking(
                appointment_id=row["id"],
                booking_ref=refs[0],
                slot_id=_last(row["slot"][0]["reference"]) or "",
                status="cancelled" if row["status"] == "cancelled" else "booked",
                start=row.get("start"),
            )

        if not isinstance(body, dict) or body.get("resourceType") != "Appointment":
            raise malformed(self.endpoint.provider, "the answer is not an Appointment")
        return self._each([body], one)[0]

    def _each(self, rows: list[dict[str, Any]], make: Callable[[dict[str, Any]], T]) -> list[T]:
        try:
            return [make(row) for row in rows]
        except (KeyError, IndexError, TypeError, AttributeError, ValidationError) as exc:
            what = f"{type(exc).__name__} {exc}"
            raise malformed(self.endpoint.provider, what) from None
