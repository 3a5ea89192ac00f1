"""Whether an app is installed for a tenant, without loading any app.

This module imports only the tables, so that a process that loads no apps, such as the
MTA pipe, can check installations without importing the registry and the web stack.
`installations.py` contains the rest of the installation lifecycle.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Protocol

from sqlalchemy import Exists, SQLColumnExpression, exists
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from portal.models import AppInstallation, InstallationStatus

if TYPE_CHECKING:
    from portal.registry.registry import LoadedApp


class LoadedApps(Protocol):
    """The apps a process loaded, by id: the portal's AppRegistry."""

    @property
    def apps(self) -> Mapping[str, LoadedApp]: ...


async def is_installed(session: AsyncSession, registry: LoadedApps, tenant_id: int,
                       app_id: str) -> bool:
    """Return whether the tenant can use the app: it is loaded in this process, and
    built in or installed for the tenant."""
    if app_id not in registry.apps:
        return False
    if registry.apps[app_id].builtin:
        return True
    return await has_installation(session, tenant_id, app_id)


async def has_installation(session: AsyncSession, tenant_id: int, app_id: str) -> bool:
    """Return whether the tenant's installation of the app is in status installed,
    whether or not this process loaded the app."""
    statement = select(AppInstallation.id).where(
        AppInstallation.tenant_id == tenant_id, AppInstallation.app_id == app_id,
        AppInstallation.status == InstallationStatus.INSTALLED)
    return (await session.exec(statement)).first() is not None


def installation_recorded(tenant_id: SQLColumnExpression[int],
                          app_id: SQLColumnExpression[str]) -> Exists:
    """Return an EXISTS clause that is true when the row's app is installed for its
    tenant, so that one query reads the installation along with its own rows. Pass its
    value to `counts_as_installed`."""
    return exists().where(col(AppInstallation.tenant_id) == tenant_id,
                          col(AppInstallation.app_id) == app_id,
                          col(AppInstallation.status) == InstallationStatus.INSTALLED)


def counts_as_installed(registry: LoadedApps, app_id: str, recorded: bool) -> bool:
    """Return what `is_installed` returns, given whether `installation_recorded` found
    the installation."""
    if app_id not in registry.apps:
        return False
    return registry.apps[app_id].builtin or recorded
