"""The resident's own data: the consents they gave (to the portal and to any other app, each
withdrawable here), and who accessed their personal data, when and for what purpose.

Both are identity's records (`identity.residents`): the consents the channels and the pages
give, the accesses every domain notes with `record_access` (and also writes to the audit log).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response

from cityhub.cities import service as cities
from cityhub.identity import residents
from cityhub.identity import service as identity
from cityhub.platform.deps import RowId, SessionDep, SettingsDep
from cityhub.platform.errors import NotFound
from cityhub.web.pages import PageError, redirect
from cityhub.web.portal.visitor import SignedInVisitor, check_csrf, page

router = APIRouter(include_in_schema=False)
ACCESSES_A_PAGE = 20
DEFAULT_TZ = "Asia/Shanghai"  # an access noted outside any city (a verification) is shown so


@router.get("/me/data", response_class=HTMLResponse)
async def my_data(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    visitor: SignedInVisitor,
    before: Annotated[int | None, Query(ge=1, le=2**62)] = None,
) -> Response:
    """The resident's consents, and the accesses to their personal data, newest first, a page
    at a time (`before`: the oldest access of the page before)."""
    resident_id = visitor.resident.id
    consents = await residents.list_all_consents(session=session, resident_id=resident_id)
    accesses = await residents.list_access(
        session=session, resident_id=resident_id, before_id=before, limit=ACCESSES_A_PAGE + 1
    )
    more = len(accesses) > ACCESSES_A_PAGE
    accesses = accesses[:ACCESSES_A_PAGE]
    channels = await identity.get_channels_by_id(
        session=session, channel_ids={c.channel_id for c in consents}
    )
    city_ids = {a.city_id for a in accesses if a.city_id is not None}
    found = await cities.get_all_cities(
        session=session, city_ids=city_ids, after=None, limit=len(city_ids) or 1
    )
    by_id = {c.id: c for c in found}
    return page(
        request,
        settings,
        "portal/my_data.html",
        visitor=visitor,
        consents=[(c, channels.get(c.channel_id)) for c in consents],
        accesses=[(a, by_id.get(a.city_id) if a.city_id is not None else None) for a in accesses],
        default_tz=DEFAULT_TZ,
        older_url=f"/me/data?before={accesses[-1].id}#accesses" if more else None,
    )


@router.post("/me/consents/{consent_id}/withdraw", response_class=HTMLResponse)
async def withdraw(
    request: Request, session: SessionDep, visitor: SignedInVisitor, consent_id: RowId
) -> Response:
    """Withdraw one of the resident's consents (the app it was given to is told by webhook);
    anyone else's consent does not exist here."""
    await check_csrf(request)
    mine = await residents.list_all_consents(session=session, resident_id=visitor.resident.id)
    consent = next((c for c in mine if c.id == consent_id), None)
    if consent is None:
        raise PageError(404, "consent_not_found")
    try:
        await residents.withdraw_consent(
            session=session,
            resident_id=visitor.resident.id,
            channel_id=consent.channel_id,
            consent_id=consent.id,
        )
    except NotFound:
        raise PageError(404, "consent_not_found") from None
    return redirect("/me/data#consents")
