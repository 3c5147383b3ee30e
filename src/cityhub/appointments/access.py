"""Which staff reach which hospital's objects: provider staff only their own hospital's."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from cityhub.appointments import schedules
from cityhub.appointments.models import Booking
from cityhub.identity.deps import Caller, StaffCaller, provider_guard, require_provider


def hospital_guard(caller: Caller, city_id: int) -> schedules.HospitalGuard:
    """Refuses (404, audited) a hospital the staff member does not work for."""
    return provider_guard(caller, city_id=city_id, object_type="hospital", code="service_not_found")


async def require_booking_provider(
    *, session: AsyncSession, caller: Caller, booking: Booking
) -> None:
    """Staff reach only the bookings at hospitals they work for (404 otherwise, audited)."""
    if isinstance(caller, StaffCaller):
        hospital = await schedules.hospital_of(session=session, booking=booking)
        require_provider(
            caller,
            hospital,
            city_id=hospital.city_id,
            object_type="booking",
            object_id=booking.public_id,
            code="booking_not_found",
        )
