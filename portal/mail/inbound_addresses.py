"""Mail routes: which app of which tenant receives mail for an address.

Apps set their addresses through `portal.sdk.do_set_mail_addresses`; the SMTP listener
and the MTA pipe look recipients up with `find_route`.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable

from sqlalchemy import bindparam, delete
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from portal.config_cache import cached
from portal.errors import Conflict, InvalidInput
from portal.mail.inbound_models import MAX_ADDRESS, MailRoute

logger = logging.getLogger(__name__)

MAX_ADDRESSES_PER_APP = 50
# The shape of a mailbox that a route may name: one @, no spaces or control characters,
# and a domain of letters, digits, dots and hyphens (such as support@acme.localhost).
_ROUTE_ADDRESS = re.compile(r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}@[A-Za-z0-9-]{1,63}"
                            r"(\.[A-Za-z0-9-]{1,63})*$")


def normalize_address(address: str) -> str:
    """Return an address stripped of spaces and angle brackets, lowercased."""
    return address.strip().strip("<>").strip().lower()


def check_route_address(address: object) -> str:
    text = normalize_address(address) if isinstance(address, str) else ""
    if len(text) > MAX_ADDRESS or not _ROUTE_ADDRESS.match(text):
        raise InvalidInput(f"Invalid mail address {address!r}: expected a mailbox such as "
                           "support@example.com.", field="addresses")
    return text


async def do_set_mail_addresses(session: AsyncSession, tenant_id: int, app_id: str,
                                addresses: Iterable[str]) -> list[str]:
    """Make `addresses` the only ones that deliver mail to `app_id` for the tenant, and
    return them normalized. Raises InvalidInput for a malformed address and Conflict for
    one that another app or workspace already receives."""
    wanted = list(dict.fromkeys(check_route_address(address) for address in addresses))
    if len(wanted) > MAX_ADDRESSES_PER_APP:
        raise InvalidInput(f"{len(wanted)} addresses given; an app may receive at most "
                           f"{MAX_ADDRESSES_PER_APP}.", field="addresses")
    if wanted:
        taken = (await session.exec(select(MailRoute).where(
            col(MailRoute.address).in_(wanted)))).all()
        for route in taken:
            if route.tenant_id != tenant_id or route.app_id != app_id:
                raise Conflict(f"The address {route.address!r} already receives mail for "
                               "another app or workspace; choose another address.",
                               field="addresses")
    await session.exec(delete(MailRoute).where(
        col(MailRoute.tenant_id) == tenant_id, col(MailRoute.app_id) == app_id,
        col(MailRoute.address).not_in(wanted)))
    existing = set((await session.exec(select(MailRoute.address).where(
        MailRoute.tenant_id == tenant_id, MailRoute.app_id == app_id))).all())
    for address in wanted:
        if address not in existing:
            session.add(MailRoute(tenant_id=tenant_id, app_id=app_id, address=address))
    await session.flush()
    logger.info("Set %s mail addresses of app %s in tenant %s", len(wanted), app_id, tenant_id)
    return wanted


_ADDRESS_TABLES = (MailRoute,)
# Built once, because every mail a ticket sends runs it (for its Reply-To).
_ADDRESSES = select(MailRoute.address).where(MailRoute.tenant_id == bindparam("tenant_id"),
                                             MailRoute.app_id == bindparam("app_id"))


async def list_mail_addresses(session: AsyncSession, tenant_id: int, app_id: str) -> list[str]:
    """Return the addresses that deliver mail to `app_id` for the tenant, sorted. They
    come from the configuration cache while the tenant's routes did not change."""

    async def load(session: AsyncSession, tenant_id: int) -> tuple[str, ...]:
        return tuple(sorted((await session.exec(
            _ADDRESSES, params={"tenant_id": tenant_id, "app_id": app_id})).all()))

    return list(await cached(session, tenant_id, f"portal.mail.addresses:{app_id}", load,
                             tables=_ADDRESS_TABLES))


async def find_route(session: AsyncSession, address: str) -> MailRoute | None:
    """Return the route of a recipient address. A subaddress such as
    support+billing@example.com falls back to support@example.com."""
    for candidate in route_candidates(address):
        route = (await session.exec(select(MailRoute).where(
            MailRoute.address == candidate))).first()
        if route is not None:
            return route
    return None


def route_candidates(address: str) -> list[str]:
    """Return the addresses whose route receives mail for `address`, in order: itself,
    then without its subaddress."""
    normalized = normalize_address(address)
    candidates = [normalized]
    local, at, domain = normalized.partition("@")
    if at and "+" in local:
        candidates.append(f"{local.split('+', 1)[0]}@{domain}")
    return candidates
