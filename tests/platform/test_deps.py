"""The platform's request dependencies name no domain: the names that moved to the domains'
own deps.py are still handed on from the old path, as the very same objects."""

from __future__ import annotations

import pytest

from cityhub.cities import deps as cities_deps
from cityhub.identity import deps as identity_deps
from cityhub.platform import deps


def test_moved_names_are_handed_on_from_the_old_path() -> None:
    from cityhub.platform.deps import CityDep, CurrentStaff, require_staff_role

    assert CurrentStaff is identity_deps.CurrentStaff
    assert require_staff_role is identity_deps.require_staff_role
    assert CityDep is cities_deps.CityDep


def test_a_name_that_never_was_there_is_still_an_error() -> None:
    with pytest.raises(AttributeError):
        _ = deps.NoSuchThing  # type: ignore[attr-defined]


async def test_the_caller_key_needs_the_identity_domain_installed() -> None:
    with pytest.raises(RuntimeError, match="identity.deps.install"):
        await deps.caller_key()
