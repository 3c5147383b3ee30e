"""The resident's auto-debit agreements, made on any app where they are linked: listed, and
paused, resumed or cancelled here (the app that debits is told). The rules are the
auto-debit domain's (`autodebit.service`)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request
from fastapi.responses import HTMLResponse, Response

from cityhub.autodebit import service as autodebit
from cityhub.platform.deps import SessionDep, SettingsDep
from cityhub.platform.errors import Conflict, NotFound
from cityhub.web.pages import PageError, redirect
from cityhub.web.portal.visitor import SignedInVisitor, check_csrf, page

router = APIRouter(include_in_schema=False)
AgreementId = Annotated[str, Path(max_length=40)]
Action = Annotated[str, Path(pattern="^(pause|resume|cancel)$")]


@router.get("/me/auto-debits", response_class=HTMLResponse)
async def my_auto_debits(
    request: Request, session: SessionDep, settings: SettingsDep, visitor: SignedInVisitor
) -> Response:
    """Every auto-debit agreement of the resident, newest first."""
    rows = await autodebit.of_resident(session=session, resident_id=visitor.resident.id)
    return page(request, settings, "portal/auto_debits.html", visitor=visitor, rows=rows)


@router.post("/me/auto-debits/{agreement_id}/{action}", response_class=HTMLResponse)
async def act(
    request: Request,
    session: SessionDep,
    visitor: SignedInVisitor,
    agreement_id: AgreementId,
    action: Action,
) -> Response:
    """Pause, resume or cancel one of the resident's agreements."""
    await check_csrf(request)
    try:
        await autodebit.act_for_resident(
            session=session, resident_id=visitor.resident.id, public_id=agreement_id, action=action
        )
    except NotFound:
        raise PageError(404, "autodebit_agreement_not_found") from None
    except Conflict:
        raise PageError(409, "autodebit_agreement_cancelled") from None
    return redirect("/me/auto-debits")
