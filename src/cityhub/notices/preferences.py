"""A resident's push preferences, the email unsubscribe link, and their saved accounts at
billers (the audience of a targeted notice)."""

from __future__ import annotations

import hmac
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from cityhub.cities import service as cities
from cityhub.identity.pii import Vault
from cityhub.notices.models import NoticePreference, SavedBillerAccount
from cityhub.notices.schemas import PreferencesUpdate
from cityhub.platform.errors import NotFound, Unprocessable

if TYPE_CHECKING:
    from cityhub.cities.models import City


def mask_email(email: str) -> str:
    """`z***@example.com`."""
    name, _, domain = email.partition("@")
    return f"{name[:1]}***@{domain}"


async def preferences_of(*, session: AsyncSession, resident_id: int) -> NoticePreference:
    """The resident's push preferences (defaults until set)."""
    found = await session.get(NoticePreference, resident_id)
    return found or NoticePreference(
        resident_id=resident_id, channel_id=None, language="zh-Hans", sms=True, email=True
    )


async def update_preferences(
    *,
    session: AsyncSession,
    vault: Vault,
    resident_id: int,
    channel_id: int,
    prefs_in: PreferencesUpdate,
) -> NoticePreference:
    """Change how the resident wants notices pushed; an email address is kept encrypted."""
    prefs = await preferences_of(session=session, resident_id=resident_id)
    if prefs not in session:
        session.add(prefs)
    for name, value in prefs_in.model_dump(exclude_unset=True).items():
        if value is None:
            raise Unprocessable(f"{name} cannot be null", field=name)
        if name == "prefer_this_channel":
            prefs.channel_id = channel_id if value else None
        elif name == "email":
            prefs.email_enc = vault.encrypt(value)
            prefs.email_masked = mask_email(value)
        elif name == "email_notices":
            prefs.email = value
        else:
            setattr(prefs, name, value)
    await session.flush()
    return prefs


async def unsubscribe_email(*, session: AsyncSession, resident_id: int) -> None:
    """Stop notices by email (the link at the foot of every email)."""
    prefs = await preferences_of(session=session, resident_id=resident_id)
    if prefs not in session:
        session.add(prefs)
    prefs.email = False
    await session.flush()


def unsubscribe_token(vault: Vault, resident_id: int) -> str:
    """The token of a resident's unsubscribe link."""
    return f"{resident_id}.{vault.lookup_hash('notice-unsubscribe', str(resident_id))[:24]}"


def resident_of_unsubscribe(vault: Vault, token: str) -> int:
    """The resident an unsubscribe token names, or NotFound."""
    ident, _, _check = token.partition(".")
    if ident.isdigit() and len(ident) < 19:
        if hmac.compare_digest(unsubscribe_token(vault, int(ident)).encode(), token.encode()):
            return int(ident)
    raise NotFound("no such unsubscribe link", code="unsubscribe_not_found")


async def save_biller_account(
    *,
    session: AsyncSession,
    city: City,
    resident_id: int,
    service_code: str,
    account: str,
    district: str,
) -> tuple[SavedBillerAccount, str]:
    """Save the resident's account at a biller (the same again updates its district)."""
    service = await cities.get_service_or_raise(session=session, city_id=city.id, code=service_code)
    found = await session.scalar(
        select(SavedBillerAccount).where(
            SavedBillerAccount.city_id == city.id,
            SavedBillerAccount.service_id == service.id,
            SavedBillerAccount.account == account,
            SavedBillerAccount.resident_id == resident_id,
        )
    )
    if found is None:
        found = SavedBillerAccount(
            city_id=city.id,
            service_id=service.id,
            account=account,
            district=district,
            resident_id=resident_id,
        )
        session.add(found)
    else:
        found.district = district
    await session.flush()
    return found, service.code
