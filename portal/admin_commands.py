"""The admin commands of `python -m portal` other than `mail receive`. Each builds the
portal's services, which loads the apps, and applies the portal's migrations first."""

from __future__ import annotations

import argparse
import getpass
import secrets
import sys
from datetime import datetime

from portal.auth.api_tokens import (
    access_token,
    check_token_name,
    do_create_api_token,
    do_revoke_api_token,
    list_tenant_tokens,
)
from portal.auth.passwords import hash_password
from portal.auth.sessions import do_delete_user_sessions
from portal.auth.signin import do_clear_failures
from portal.errors import NotFound, PortalError
from portal.migrate import PORTAL_BRANCH, build_config, upgrade
from portal.registry import installations
from portal.services import Services, build_services, migrate_all
from portal.settings import Settings
from portal.sync import cli as sync_cli
from portal.tenants import do_create_tenant, do_create_user, find_user_by_email, get_tenant_by_slug


async def run(settings: Settings, args: argparse.Namespace) -> int:
    """Apply the portal's migrations, then run the command with the portal's services."""
    services = build_services(settings)
    try:
        config = build_config(services.registry.migration_dirs())
        await upgrade(services.db, [PORTAL_BRANCH], config)
        if args.command == "migrate":
            await migrate_all(services)
            print("Migrations applied.")
            return 0
        return await _COMMANDS[args.command](services, args)
    finally:
        await services.db.dispose()


def _read_password(args: argparse.Namespace) -> tuple[str, bool]:
    """Return the password and whether it was generated (and so must be printed)."""
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\n"), False
    if sys.stdin.isatty():
        first = getpass.getpass("Password: ")
        if first != getpass.getpass("Repeat password: "):
            raise PortalError("The two passwords differ; run the command again.")
        return first, False
    return secrets.token_urlsafe(12), True


async def _create_tenant(services: Services, args: argparse.Namespace) -> int:
    async with services.db.transaction() as session:
        tenant = await do_create_tenant(session, slug=args.slug, name=args.name)
    print(f"Created workspace {tenant.slug!r} (id {tenant.id}).")
    return 0


async def _create_user(services: Services, args: argparse.Namespace) -> int:
    password, generated = _read_password(args)
    async with services.db.transaction() as session:
        tenant = await get_tenant_by_slug(session, args.tenant)
        assert tenant.id is not None
        user = await do_create_user(session, tenant_id=tenant.id, email=args.email,
                                    name=args.name, role=args.role, password=password)
    print(f"Created {user.role.value} {user.email} (id {user.id}) in {args.tenant!r}.")
    if generated:
        print(f"Password: {password}")
    return 0


async def _reset_password(services: Services, args: argparse.Namespace) -> int:
    password, generated = _read_password(args)
    async with services.db.transaction() as session:
        user = await _user(session, args.tenant, args.email)
        user.password_hash = hash_password(password)
        session.add(user)
        assert user.id is not None
        await do_delete_user_sessions(session, user.id)
        # The throttle message sends a locked-out user to their admin, so a reset must
        # let the new password in at once.
        await do_clear_failures(services.rate_limiter, session, workspace=args.tenant,
                                email=user.email)
    print(f"Password of {user.email} reset; their sessions were ended and failed sign-ins "
          "cleared.")
    if generated:
        print(f"Password: {password}")
    return 0


async def _issue_token(services: Services, args: argparse.Namespace) -> int:
    """Issue a token under the rules of `POST /api/me/tokens`: a valid name, and at most
    MAX_ACTIVE_TOKENS active tokens per user."""
    name = check_token_name(args.name)
    async with services.db.transaction() as session:
        user = await _user(session, args.tenant, args.email)
        assert user.id is not None
        _row, token = await do_create_api_token(session, tenant_id=user.tenant_id,
                                                user_id=user.id, name=name)
    print(token)
    return 0


async def _list_tokens(services: Services, args: argparse.Namespace) -> int:
    async with services.db.read() as session:
        tenant = await get_tenant_by_slug(session, args.tenant)
        assert tenant.id is not None
        rows = await list_tenant_tokens(session, tenant_id=tenant.id)
        if args.email:
            user = await _user(session, args.tenant, args.email)
            rows = [(token, owner) for token, owner in rows if owner.id == user.id]
    print(f"{'ID':<8} {'CREATED':<20} {'LAST USED':<20} {'REVOKED':<20} {'EMAIL':<30} NAME")
    for token, owner in rows:
        print(f"{token.id:<8} {_minute(token.created_at):<20} {_minute(token.last_used_at):<20} "
              f"{_minute(token.revoked_at):<20} {owner.email:<30} {token.name}")
    return 0


def _minute(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M") if value is not None else "-"


async def _revoke_token(services: Services, args: argparse.Namespace) -> int:
    async with services.db.transaction() as session:
        tenant = await get_tenant_by_slug(session, args.tenant)
        assert tenant.id is not None
        try:
            row = await access_token(session, args.id, tenant_id=tenant.id)
        except NotFound:
            raise NotFound(f"No API token with id {args.id} in workspace {args.tenant!r}; run "
                           "list-tokens to find the id.") from None
        already = row.revoked_at is not None
        await do_revoke_api_token(session, row, revoked_by=None)
    if already:
        print(f"API token {args.id} ({row.name!r}) was already revoked.")
    else:
        print(f"Revoked API token {args.id} ({row.name!r}).")
    return 0


async def _apps(services: Services, args: argparse.Namespace) -> int:
    registry = services.registry
    if args.apps_command == "list":
        tenant_id = None
        if args.tenant:
            async with services.db.read() as session:
                tenant_id = (await get_tenant_by_slug(session, args.tenant)).id
        for app_id, app in sorted(registry.apps.items()):
            status = ""
            if tenant_id is not None:
                async with services.db.read() as session:
                    status = await installations.app_status(session, registry, tenant_id,
                                                            app_id)
            print(f"{app_id:<16} {app.manifest.version:<10} {status:<12} {app.source.origin}")
        for broken in registry.broken:
            print(f"{broken.app_id or '?':<16} {'':<10} {'BROKEN':<12} {broken.origin}: "
                  f"{broken.error}")
        return 0
    async with services.db.read() as session:
        tenant = await get_tenant_by_slug(session, args.tenant)
    assert tenant.id is not None
    if args.apps_command == "install":
        await installations.install(services.db, registry, tenant_id=tenant.id,
                                    app_id=args.app_id)
        print(f"Installed {args.app_id} for {args.tenant!r}.")
    else:
        await installations.uninstall(services.db, registry, tenant_id=tenant.id,
                                      app_id=args.app_id, purge=args.purge)
        print(f"{'Purged' if args.purge else 'Uninstalled'} {args.app_id} for {args.tenant!r}.")
    return 0


async def _user(session, tenant_slug: str, email: str):  # type: ignore[no-untyped-def]
    tenant = await get_tenant_by_slug(session, tenant_slug)
    assert tenant.id is not None
    user = await find_user_by_email(session, tenant.id, email)
    if user is None:
        raise PortalError(f"No user with email {email!r} in workspace {tenant_slug!r}.",
                          code="not_found", status=404)
    return user


async def _sync(services: Services, args: argparse.Namespace) -> int:
    return await sync_cli.run(services.db, services.registry, args)


_COMMANDS = {
    "create-tenant": _create_tenant,
    "create-user": _create_user,
    "reset-password": _reset_password,
    "issue-token": _issue_token,
    "list-tokens": _list_tokens,
    "revoke-token": _revoke_token,
    "apps": _apps,
    "sync": _sync,
}
