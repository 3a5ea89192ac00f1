"""The demo workspace that `run.py` creates on an empty database."""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass

from sqlmodel import func, select

from portal.models import Role, Tenant
from portal.registry import installations
from portal.services import Services
from portal.tenants import do_create_tenant, do_create_user

logger = logging.getLogger(__name__)

DEMO_SLUG = "demo"
DEMO_USERS = (
    ("admin@demo.example", "Alex Admin", Role.ADMIN),
    ("billing.agent@demo.example", "Bailey Billing", Role.AGENT),
    ("tech.agent@demo.example", "Taylor Tech", Role.AGENT),
    ("customer@demo.example", "Casey Customer", Role.CUSTOMER),
)


@dataclass(frozen=True)
class DemoLogin:
    email: str
    name: str
    role: Role
    password: str


async def seed_demo_if_empty(services: Services, *, password: str | None) -> list[DemoLogin]:
    """Create the demo workspace, its users and installed apps when no tenant exists;
    return the logins to print. Without `password`, each user gets a random one."""
    async with services.db.read() as session:
        if (await session.exec(select(func.count()).select_from(Tenant))).one() > 0:
            return []

    logins = []
    async with services.db.transaction() as session:
        tenant = await do_create_tenant(session, slug=DEMO_SLUG, name="Demo Company")
        assert tenant.id is not None
        tenant_id = tenant.id
        for email, name, role in DEMO_USERS:
            user_password = password or secrets.token_urlsafe(12)
            await do_create_user(session, tenant_id=tenant_id, email=email, name=name,
                                 role=role.value, password=user_password)
            logins.append(DemoLogin(email, name, role, user_password))

    for app_id, app in services.registry.apps.items():
        if app.builtin or app.source.origin.startswith("entry point"):
            continue
        await installations.install(services.db, services.registry, tenant_id=tenant_id,
                                    app_id=app_id)
        if app.backend.seed_demo is not None:
            async with services.db.transaction() as session:
                await app.backend.seed_demo(app.context, session, tenant_id)
    logger.info("Created the demo workspace %r with %s users", DEMO_SLUG, len(logins))
    return logins
