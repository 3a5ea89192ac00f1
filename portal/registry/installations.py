"""Installing, uninstalling and purging apps per tenant."""

from __future__ import annotations

import logging

from sqlalchemy import Exists, SQLColumnExpression, exists, text
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from portal.db import Database, utcnow
from portal.errors import Conflict, InvalidInput, NotFound
from portal.events.log import stage_event
from portal.events.model import Audience
from portal.migrate import build_config, upgrade
from portal.models import AppInstallation, InstallationStatus, Role
from portal.registry.registry import AppRegistry, LoadedApp
from portal.tenants import get_tenant

logger = logging.getLogger(__name__)

APPS_CHANGED_TOPIC = "portal.apps.changed"


async def installed_app_ids(session: AsyncSession, registry: AppRegistry,
                            tenant_id: int) -> set[str]:
    """Return the ids of the apps a tenant can use: built-ins plus installed, loaded apps."""
    statement = select(AppInstallation.app_id).where(
        AppInstallation.tenant_id == tenant_id,
        AppInstallation.status == InstallationStatus.INSTALLED)
    installed = set((await session.exec(statement)).all())
    return (installed & set(registry.apps)) | registry.builtin_ids()


async def is_installed(session: AsyncSession, registry: AppRegistry, tenant_id: int,
                       app_id: str) -> bool:
    if app_id not in registry.apps:
        return False
    if registry.apps[app_id].builtin:
        return True
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


def counts_as_installed(registry: AppRegistry, app_id: str, recorded: bool) -> bool:
    """Return what `is_installed` returns, given whether `installation_recorded` found
    the installation."""
    if app_id not in registry.apps:
        return False
    return registry.apps[app_id].builtin or recorded


async def migrate_app(db: Database, registry: AppRegistry, app: LoadedApp) -> None:
    """Apply the app's migrations (its own Alembic branch) up to head."""
    if app.migrations_dir is None:
        return
    await upgrade(db, [app.manifest.id], build_config(registry.migration_dirs()))


async def install(db: Database, registry: AppRegistry, *, tenant_id: int, app_id: str) -> None:
    """Migrate the app, then record the installation and run its install hook in one
    transaction. A failure leaves the tenant without the app and with its data as before."""
    app = _installable(registry, app_id)
    await migrate_app(db, registry, app)
    async with db.transaction() as session:
        await get_tenant(session, tenant_id)
        row = await _installation(session, tenant_id, app_id)
        if row is not None and row.status is InstallationStatus.INSTALLED:
            raise Conflict(f"App {app_id!r} is already installed for this workspace.")
        if row is None:
            row = AppInstallation(tenant_id=tenant_id, app_id=app_id,
                                  version=app.manifest.version,
                                  status=InstallationStatus.INSTALLED)
        row.status = InstallationStatus.INSTALLED
        row.version = app.manifest.version
        row.changed_at = utcnow()
        session.add(row)
        if app.backend.on_install is not None:
            await app.backend.on_install(app.context, session, tenant_id)
        await _announce(session, registry, tenant_id, app_id, "installed")
    logger.info("Installed app %s %s for tenant %s", app_id, app.manifest.version, tenant_id)


async def uninstall(db: Database, registry: AppRegistry, *, tenant_id: int, app_id: str,
                    purge: bool = False) -> None:
    """Hide the app from the tenant, keeping its data unless `purge` is set. Purging
    deletes the tenant's rows in the tables the manifest lists under `data.tables`, and
    works on an app already uninstalled."""
    app = registry.apps.get(app_id)
    if app is not None and app.builtin:
        raise InvalidInput(f"App {app_id!r} is part of the portal and cannot be uninstalled.",
                           field="app_id")
    async with db.transaction() as session:
        await get_tenant(session, tenant_id)
        row = await _installation(session, tenant_id, app_id)
        if row is None:
            raise NotFound(f"App {app_id!r} is not installed for this workspace.")
        if row.status is InstallationStatus.UNINSTALLED and not purge:
            raise Conflict(f"App {app_id!r} is already uninstalled; pass purge to delete "
                           "its data.")
        if purge:
            if app is None:
                raise InvalidInput(f"App {app_id!r} is not loaded, so its data tables are "
                                   "unknown; fix the app before purging it.", field="app_id")
            await _purge_rows(session, app, tenant_id)
            await session.delete(row)
        else:
            row.status = InstallationStatus.UNINSTALLED
            row.changed_at = utcnow()
            session.add(row)
        await _announce(session, registry, tenant_id, app_id,
                        "purged" if purge else "uninstalled")
    logger.info("%s app %s for tenant %s", "Purged" if purge else "Uninstalled", app_id,
                tenant_id)


async def installation_status(session: AsyncSession, tenant_id: int,
                              app_id: str) -> InstallationStatus | None:
    row = await _installation(session, tenant_id, app_id)
    return row.status if row is not None else None


async def app_status(session: AsyncSession, registry: AppRegistry, tenant_id: int,
                     app_id: str) -> str:
    """Return `installed`, `uninstalled` or `available` (never installed, or purged)."""
    if registry.apps[app_id].builtin:
        return InstallationStatus.INSTALLED.value
    status = await installation_status(session, tenant_id, app_id)
    return status.value if status is not None else "available"


def _installable(registry: AppRegistry, app_id: str) -> LoadedApp:
    app = registry.apps.get(app_id)
    if app is None:
        broken = next((item for item in registry.broken if item.app_id == app_id), None)
        if broken is not None:
            raise InvalidInput(f"App {app_id!r} is broken and cannot be installed: "
                               f"{broken.error}", field="app_id")
        raise NotFound(f"App {app_id!r} not found; `python -m portal apps list` shows the "
                       "apps this portal has.")
    if app.builtin:
        raise Conflict(f"App {app_id!r} is part of the portal and always installed.")
    return app


async def _installation(session: AsyncSession, tenant_id: int,
                        app_id: str) -> AppInstallation | None:
    statement = select(AppInstallation).where(AppInstallation.tenant_id == tenant_id,
                                              AppInstallation.app_id == app_id)
    return (await session.exec(statement)).first()


async def _purge_rows(session: AsyncSession, app: LoadedApp, tenant_id: int) -> None:
    if app.backend.on_purge is not None:
        await app.backend.on_purge(app.context, session, tenant_id)
    # Delete in reverse order so that tables listed after the ones they reference go first.
    for table in reversed(app.manifest.data_tables):
        # The name matched the manifest schema's ^[a-z][a-z0-9_]{0,62}$, so quoting it
        # is safe; the tenant id is a bound parameter.
        result = await session.exec(  # type: ignore[call-overload]
            text(f'DELETE FROM "{table}" WHERE tenant_id = :tenant_id'),
            params={"tenant_id": tenant_id})
        logger.info("Purged %s rows of table %s for tenant %s", result.rowcount, table,
                    tenant_id)


async def _announce(session: AsyncSession, registry: AppRegistry, tenant_id: int, app_id: str,
                    change: str) -> None:
    """Tell the tenant's desktops to reload their launcher."""
    audience = Audience.of(roles=[Role.ADMIN, Role.AGENT, Role.CUSTOMER])
    await stage_event(session, registry.bus, tenant_id=tenant_id, topic=APPS_CHANGED_TOPIC,
                      payload={"app": app_id, "change": change}, audience=audience)
