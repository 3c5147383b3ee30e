"""The process's connector hub as a FastAPI dependency."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from cityhub.connectors.registry import ConnectorHub


def get_hub(request: Request) -> ConnectorHub:
    """The app's connector hub."""
    hub: ConnectorHub = request.app.state.connectors
    return hub


HubDep = Annotated[ConnectorHub, Depends(get_hub)]
