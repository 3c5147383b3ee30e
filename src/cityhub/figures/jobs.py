"""The figures' recurring job: every night, each city's published figures as open data.

The files go to `<CITYHUB_DATA>/open-data/<city>/`: `figures-<day>.csv`, `.parquet` and
`dictionary.json`, the day being the one just ended in the city's time. They hold the same
rows the open-data route answers (every published table, small cells and their complements
suppressed); an operator serves or copies that folder to the city's open-data portal.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from cityhub.figures import export
from cityhub.figures import service as figures
from cityhub.figures.suppression import THRESHOLD
from cityhub.platform.scheduler import JobContext, job


def folder(data: Path, city_slug: str) -> Path:
    """Where a city's open-data files are written."""
    return data / "open-data" / city_slug


@job(
    "export-open-data",
    cron="30 2 * * *",
    description="write the city's published figures as open data (CSV, Parquet, dictionary)",
)
async def export_open_data(ctx: JobContext) -> dict[str, Any]:
    """Write the day's files (again, whole, if the job runs twice)."""
    city = ctx.require_city()
    async with ctx.db.unit_of_work() as session:
        published = await figures.published(session=session, city=city)
    out = folder(ctx.settings.data, city.slug)
    out.mkdir(parents=True, exist_ok=True)
    name = f"figures-{ctx.day_before.isoformat()}"
    (out / f"{name}.csv").write_text(export.to_csv(published), encoding="utf-8")
    (out / f"{name}.parquet").write_bytes(export.to_parquet(published))
    (out / "dictionary.json").write_text(
        json.dumps(export.dictionary(THRESHOLD), ensure_ascii=False, indent=2), encoding="utf-8"
    )
    return {"files": [f"{name}.csv", f"{name}.parquet", "dictionary.json"]}
