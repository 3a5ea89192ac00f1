"""Ticket categories, such as Billing or Technical."""

from __future__ import annotations

import logging

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from portal.sdk import Conflict, access_row
from ticketcloud.checks import check_id, check_label
from ticketcloud.models import Category

logger = logging.getLogger(__name__)


async def access_category(session: AsyncSession, tenant_id: int, category_id: object) -> Category:
    """Load a category of the tenant; another tenant's category is not found."""
    checked = check_id(category_id, field="category_id")
    return await access_row(session, Category, tenant_id, checked)


async def list_categories(session: AsyncSession, tenant_id: int) -> list[Category]:
    statement = (select(Category).where(Category.tenant_id == tenant_id)
                 .order_by(col(Category.name)))
    return list((await session.exec(statement)).all())


async def do_create_category(session: AsyncSession, tenant_id: int, *, name: str) -> Category:
    name = check_label(name)
    existing = (await session.exec(select(Category).where(
        Category.tenant_id == tenant_id, Category.name == name))).first()
    if existing is not None:
        raise Conflict(f"A category named {name!r} already exists; choose another name.",
                       field="name")
    category = Category(tenant_id=tenant_id, name=name)
    session.add(category)
    await session.flush()
    logger.info("Created category %s in tenant %s", category.id, tenant_id)
    return category
