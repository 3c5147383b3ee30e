"""Routes of the city's figures, for its staff (city admin, auditor): usage, channel parity,
and the open-data export with its dictionary."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from fastapi.responses import Response

from cityhub.cities.deps import CityDep
from cityhub.figures import export, parity
from cityhub.figures import service as figures
from cityhub.figures.schemas import ParityRead, UsageRead
from cityhub.figures.suppression import THRESHOLD
from cityhub.identity.deps import CurrentStaff, require_staff_role
from cityhub.identity.enums import Role
from cityhub.platform.deps import SessionDep

router = APIRouter(prefix="/v1/cities/{city}/figures", tags=["figures"])
READERS = (Role.CITY_ADMIN, Role.AUDITOR)


@router.get(
    "/usage",
    response_model=UsageRead,
    operation_id="getCityUsage",
    summary="Usage by service, channel, district and day, small cells suppressed",
)
async def get_usage(session: SessionDep, staff: CurrentStaff, city: CityDep) -> UsageRead:
    """The city's published usage tables over the whole period (city admin, auditor)."""
    require_staff_role(staff, city.id, *READERS)
    return UsageRead.of(await figures.published(session=session, city=city))


@router.get(
    "/parity",
    response_model=ParityRead,
    operation_id="getChannelParity",
    summary="Per channel and service: success rate, latency, fees, complaints",
)
async def get_parity(session: SessionDep, staff: CurrentStaff, city: CityDep) -> ParityRead:
    """The channel parity report of the city (city admin, auditor)."""
    require_staff_role(staff, city.id, *READERS)
    rows = await parity.report(session=session, city=city)
    return ParityRead.of(city.slug, THRESHOLD, rows)


@router.get(
    "/open-data",
    operation_id="exportOpenData",
    summary="The published figures as open data (CSV or Parquet)",
    responses={200: {"content": {"text/csv": {}, "application/vnd.apache.parquet": {}}}},
)
async def get_open_data(
    session: SessionDep,
    staff: CurrentStaff,
    city: CityDep,
    format: Annotated[Literal["csv", "parquet"], Query(description="csv or parquet")] = "csv",
) -> Response:
    """Every published table of the city in one long file (city admin, auditor); the daily
    job writes the same file to the open-data folder."""
    require_staff_role(staff, city.id, *READERS)
    published = await figures.published(session=session, city=city)
    name = f"{city.slug}-figures-{published.generated_at:%Y-%m-%d}"
    if format == "parquet":
        return Response(
            export.to_parquet(published),
            media_type="application/vnd.apache.parquet",
            headers={"Content-Disposition": f'attachment; filename="{name}.parquet"'},
        )
    return Response(
        export.to_csv(published),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}.csv"'},
    )


@router.get(
    "/open-data/dictionary",
    operation_id="getOpenDataDictionary",
    summary="The open-data export's columns and the method that protects the people in it",
)
async def get_dictionary(staff: CurrentStaff, city: CityDep) -> dict[str, Any]:
    """The data dictionary (city admin, auditor)."""
    require_staff_role(staff, city.id, *READERS)
    return export.dictionary(THRESHOLD)
