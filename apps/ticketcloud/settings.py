"""TicketCloud's settings per tenant."""

from __future__ import annotations

import logging

from sqlmodel.ext.asyncio.session import AsyncSession

from portal.sdk import InvalidInput
from ticketcloud.models import TenantSettings

logger = logging.getLogger(__name__)

MAX_AUTO_CLOSE_HOURS = 24 * 365


async def load_settings(session: AsyncSession, tenant_id: int) -> TenantSettings:
    """Return the tenant's settings; a tenant that never saved any gets the defaults."""
    settings = await session.get(TenantSettings, tenant_id)
    return settings if settings is not None else TenantSettings(tenant_id=tenant_id)


async def do_update_settings(
    session: AsyncSession, tenant_id: int, *, auto_close_hours: object = None,
    expose_category: object = None,
) -> TenantSettings:
    """Change the settings passed (None keeps a setting) and return them all."""
    settings = await session.get(TenantSettings, tenant_id) or TenantSettings(tenant_id=tenant_id)
    if auto_close_hours is not None:
        settings.auto_close_hours = check_auto_close_hours(auto_close_hours)
    if expose_category is not None:
        if not isinstance(expose_category, bool):
            raise InvalidInput(f"expose_category must be true or false, not "
                               f"{expose_category!r}.", field="expose_category")
        settings.expose_category = expose_category
    session.add(settings)
    await session.flush()
    logger.info("Updated TicketCloud settings of tenant %s: auto-close after %s hours, "
                "category shown to customers: %s", tenant_id, settings.auto_close_hours,
                settings.expose_category)
    return settings


def check_auto_close_hours(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not (
            1 <= value <= MAX_AUTO_CLOSE_HOURS):
        raise InvalidInput(f"Invalid auto_close_hours {value!r}: use a whole number of hours "
                           f"from 1 to {MAX_AUTO_CLOSE_HOURS}.", field="auto_close_hours")
    return value
