"""Routes of a city's booking rules under /v1 (staff)."""

from __future__ import annotations

from fastapi import APIRouter

from cityhub.appointments import rules as booking_rules
from cityhub.appointments.schemas import RulesIn, RulesRead
from cityhub.cities.deps import CityDep
from cityhub.identity import audit
from cityhub.identity.deps import CurrentCaller, CurrentStaff, require_staff_role
from cityhub.identity.enums import Role
from cityhub.platform.deps import SessionDep

# Included by appointments.api under its /v1 prefix.
router = APIRouter(tags=["appointments"])
BASE = "/cities/{city}/appointments"


@router.get(
    BASE + "/rules",
    operation_id="getBookingRules",
    summary="Get the booking rules",
    response_model=RulesRead,
)
async def get_rules(session: SessionDep, caller: CurrentCaller, city: CityDep) -> RulesRead:
    """The city's booking rules."""
    return await booking_rules.get(session=session, city_id=city.id)


@router.patch(
    BASE + "/rules",
    operation_id="updateBookingRules",
    summary="Change the booking rules",
    response_model=RulesRead,
)
async def change_rules(
    session: SessionDep, caller: CurrentStaff, city: CityDep, rules_in: RulesIn
) -> RulesRead:
    """Change the city's booking rules (city admins)."""
    require_staff_role(caller, city.id, Role.CITY_ADMIN)
    changed = await booking_rules.update(session=session, city_id=city.id, rules_in=rules_in)
    await audit.append(
        session=session,
        city_id=city.id,
        actor=caller.actor,
        action="appointments.rules.update",
        object_type="appointment",
        object_id=city.slug,
        details=rules_in.model_dump(mode="json", exclude_unset=True),
    )
    return changed
