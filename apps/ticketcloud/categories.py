"""Ticket categories, such as Billing or Technical."""

from __future__ import annotations

import logging

from sqlmodel import col, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from portal.sdk import Conflict, access_row
from ticketcloud.checks import check_id, check_label
from ticketcloud.models import Category, Ticket
from ticketcloud.references import configuration_naming

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
    await _check_name_free(session, tenant_id, name)
    category = Category(tenant_id=tenant_id, name=name)
    session.add(category)
    await session.flush()
    logger.info("Created category %s in tenant %s", category.id, tenant_id)
    return category


async def do_rename_category(session: AsyncSession, tenant_id: int, category_id: object, *,
                             name: object) -> Category:
    category = await access_category(session, tenant_id, category_id)
    checked = check_label(name)
    if checked != category.name:
        await _check_name_free(session, tenant_id, checked)
        category.name = checked
        session.add(category)
        await session.flush()
        logger.info("Renamed category %s of tenant %s", category.id, tenant_id)
    return category


async def do_delete_category(session: AsyncSession, tenant_id: int, category_id: object) -> None:
    """Delete a category. Raises Conflict (code `category_in_use`) while a ticket still
    has it or a rule or SLA policy names it by id (see `references`). Rules that test
    the category's name stay."""
    category = await access_category(session, tenant_id, category_id)
    statement = select(func.count()).select_from(Ticket).where(
        Ticket.tenant_id == tenant_id, Ticket.category_id == category.id)
    tickets = int((await session.exec(statement)).one())
    if tickets:
        raise Conflict(f"Category {category.name!r} is still set on {tickets} tickets; change "
                       "their category first, or keep it.", code="category_in_use",
                       field="category_id")
    naming = await configuration_naming(session, tenant_id, category_id=category.id)
    if naming:
        raise Conflict(f"Category {category.name!r} is named by {', '.join(naming)}; change "
                       "or delete those first.", code="category_in_use", field="category_id")
    await session.delete(category)
    await session.flush()
    logger.info("Deleted category %s of tenant %s", category.id, tenant_id)


async def _check_name_free(session: AsyncSession, tenant_id: int, name: str) -> None:
    existing = (await session.exec(select(Category).where(
        Category.tenant_id == tenant_id, Category.name == name))).first()
    if existing is not None:
        raise Conflict(f"A category named {name!r} already exists; choose another name.",
                       field="name")
