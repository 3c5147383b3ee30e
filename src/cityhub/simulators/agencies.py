"""Simulated agencies: traffic police, social insurance, housing fund, environment, outages,
vehicle administration, the civil affairs bureau's low-income list. Personal look-ups are keyed
by identity number; the traffic police check that a plate is registered to the person asking.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request

from cityhub.simulators.billers import error
from cityhub.simulators.world import CHINA, NOT_LOW_INCOME, UNKNOWN_PERSON, World

router = APIRouter(tags=["agencies"])
District = Annotated[str, Query(min_length=1, max_length=40)]


def _world(request: Request) -> World:
    world: World = request.app.state.world
    return world


def _today() -> dt.date:
    return dt.datetime.now(CHINA).date()


@router.get("/traffic/{provider_id}/violations")
async def violations(
    request: Request,
    provider_id: str,
    plate: Annotated[str, Query(min_length=2, max_length=12)],
    owner_id_number: Annotated[str, Query(min_length=15, max_length=18)],
) -> Any:
    """A plate's violations, for its registered owner only (403 otherwise)."""
    world = _world(request)
    plate = plate.upper()
    owner = world.by_plate.get(plate)
    if owner is None:
        return error(404, "plate_not_found", f"no vehicle registered as {plate}")
    if owner.id_number != owner_id_number.upper():
        return error(403, "owner_mismatch", "the plate is not registered to this person")
    return {"plate": plate, "violations": world.violations(provider_id, plate, _today())}


@router.get("/social-insurance/{provider_id}/accounts/{id_number}")
async def social_insurance(request: Request, provider_id: str, id_number: str) -> Any:
    """A person's social insurance account."""
    person = _world(request).by_id.get(id_number.upper())
    if person is None:
        return error(404, "insured_not_found", "no insured person with this identity number")
    return _world(request).social_insurance(provider_id, person, _today())


@router.get("/housing-fund/{provider_id}/accounts/{id_number}")
async def housing_fund(request: Request, provider_id: str, id_number: str) -> Any:
    """A person's housing provident fund account."""
    person = _world(request).by_id.get(id_number.upper())
    if person is None or not _world(request).has_housing_fund(person):
        return error(404, "depositor_not_found", "no depositor with this identity number")
    return _world(request).housing_fund(provider_id, person)


@router.get("/environment/{provider_id}/air-quality")
async def air_quality(request: Request, provider_id: str, district: District) -> Any:
    """The district's air quality this hour (public)."""
    return _world(request).air_quality(provider_id, district, dt.datetime.now(dt.UTC))


@router.get("/outages/{provider_id}/planned")
async def outages(request: Request, provider_id: str, district: District) -> Any:
    """Planned water, power and gas outages in the district this coming week (public)."""
    return {
        "district": district,
        "outages": _world(request).outages(provider_id, district, _today()),
    }


@router.get("/vehicle-admin/{provider_id}/eligibility")
async def eligibility(
    request: Request,
    provider_id: str,
    id_number: Annotated[str, Query(min_length=15, max_length=18)],
    lottery: Annotated[str, Query(max_length=40)] = "car-plate",
) -> Any:
    """Whether a person may enter the car-plate lottery, and why not."""
    person = _world(request).by_id.get(id_number.upper())
    if person is None:
        texts = [UNKNOWN_PERSON]
    elif lottery != "car-plate":
        return error(404, "lottery_not_found", f"no lottery {lottery}")
    else:
        texts = _world(request).car_lottery_reasons(person)
    return {"eligible": not texts, "reasons": [t["en"] for t in texts], "reason_texts": texts}


@router.get("/civil-affairs/{provider_id}/eligibility")
async def low_income(
    request: Request,
    provider_id: str,
    id_number: Annotated[str, Query(min_length=15, max_length=18)],
    lottery: Annotated[str, Query(max_length=40, description="the list")] = "low-income",
) -> Any:
    """Whether a person is on the civil affairs bureau's low-income list (subsidies ask)."""
    if lottery != "low-income":
        return error(404, "list_not_found", f"no list {lottery}")
    person = _world(request).by_id.get(id_number.upper())
    if person is None:
        texts = [UNKNOWN_PERSON]
    else:
        texts = [] if _world(request).low_income(person) else [NOT_LOW_INCOME]
    return {"eligible": not texts, "reasons": [t["en"] for t in texts], "reason_texts": texts}
