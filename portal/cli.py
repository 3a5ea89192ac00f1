"""The admin command line: `python -m portal COMMAND ...`."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import logging
import os
import secrets
import sys
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

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
from portal.mail import inbound_cli
from portal.migrate import PORTAL_BRANCH, build_config, upgrade
from portal.registry import installations
from portal.services import Services, build_services
from portal.settings import REPOSITORY_ROOT, Settings, load_or_create_secret_key
from portal.sync import cli as sync_cli
from portal.tenants import do_create_tenant, do_create_user, find_user_by_email, get_tenant_by_slug

logger = logging.getLogger(__name__)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m portal",
                                     description="Administer a MiPortal installation.")
    parser.add_argument("--data-dir",
                        default=os.environ.get("MIPORTAL_DATA_DIR", REPOSITORY_ROOT / "data"),
                        help="the portal's data folder (MIPORTAL_DATA_DIR; default the "
                             "repository's data/, as for run.py)")
    parser.add_argument("--database-url", default=os.environ.get("MIPORTAL_DATABASE_URL", ""),
                        help="database URL (MIPORTAL_DATABASE_URL; default the SQLite file in "
                             "the data folder)")
    parser.add_argument("--apps-dir", type=Path,
                        default=Path(os.environ.get("MIPORTAL_APPS_DIR",
                                                    REPOSITORY_ROOT / "apps")),
                        help="folder of in-tree apps; use the server's value (MIPORTAL_APPS_DIR; "
                             "default ./apps)")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    tenant = commands.add_parser("create-tenant", help="create a workspace (tenant)")
    tenant.add_argument("slug", help="workspace name used to sign in, such as 'acme'")
    tenant.add_argument("--name", required=True, help="display name, such as 'Acme Inc.'")

    user = commands.add_parser("create-user", help="create a user in a workspace")
    user.add_argument("--tenant", required=True, help="workspace name")
    user.add_argument("--email", required=True)
    user.add_argument("--name", required=True)
    user.add_argument("--role", required=True, choices=["admin", "agent", "customer"])
    user.add_argument("--password-stdin", action="store_true",
                      help="read the password from standard input instead of prompting; "
                           "without a terminal a random password is printed")

    reset = commands.add_parser("reset-password",
                                help="set a new password and end the user's sessions")
    reset.add_argument("--tenant", required=True)
    reset.add_argument("--email", required=True)
    reset.add_argument("--password-stdin", action="store_true")

    token = commands.add_parser("issue-token", help="issue an API token for a user")
    token.add_argument("--tenant", required=True)
    token.add_argument("--email", required=True)
    token.add_argument("--name", default="cli", help="label to recognise the token by")

    token_list = commands.add_parser("list-tokens",
                                     help="list a workspace's API tokens, newest first")
    token_list.add_argument("--tenant", required=True)
    token_list.add_argument("--email", help="list only this user's tokens")

    revoke = commands.add_parser("revoke-token", help="revoke an API token")
    revoke.add_argument("--tenant", required=True)
    revoke.add_argument("--id", required=True, type=int, help="the token's id from list-tokens")

    apps = commands.add_parser("apps", help="list, install or uninstall apps")
    app_commands = apps.add_subparsers(dest="apps_command", required=True, metavar="ACTION")
    listing = app_commands.add_parser("list", help="list apps, with their status per workspace")
    listing.add_argument("--tenant", help="show the installation status in this workspace")
    install = app_commands.add_parser("install", help="install an app for a workspace")
    install.add_argument("app_id")
    install.add_argument("--tenant", required=True)
    uninstall = app_commands.add_parser("uninstall",
                                        help="uninstall an app for a workspace (data kept)")
    uninstall.add_argument("app_id")
    uninstall.add_argument("--tenant", required=True)
    uninstall.add_argument("--purge", action="store_true",
                           help="also delete the app's data for the workspace")

    commands.add_parser("migrate", help="apply the portal's and installed apps' migrations")
    inbound_cli.add_parser(commands)
    sync_cli.add_parser(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    args = build_parser().parse_args(argv)
    try:
        return asyncio.run(_run(args))
    except PortalError as error:
        print(f"error: {error.message}", file=sys.stderr)
        return 1
    except Exception as error:
        if args.command != "mail":
            raise
        # An MTA keeps and retries a message only on EX_TEMPFAIL; a traceback's status 1
        # would bounce it.
        logger.exception("Receiving mail failed")
        print(f"error: receiving mail failed ({type(error).__name__}); try again later",
              file=sys.stderr)
        return inbound_cli.EX_TEMPFAIL


async def _run(args: argparse.Namespace) -> int:
    services = build_services(_settings(args))
    try:
        config = build_config(services.registry.migration_dirs())
        await upgrade(services.db, [PORTAL_BRANCH], config)
        if args.command == "migrate":
            from portal.services import migrate_all

            await migrate_all(services)
            print("Migrations applied.")
            return 0
        return await _COMMANDS[args.command](services, args)
    finally:
        await services.db.dispose()


def _settings(args: argparse.Namespace) -> Settings:
    data_dir = Path(args.data_dir).resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    return Settings(data_dir=data_dir, database_url=args.database_url,
                    secret_key=load_or_create_secret_key(data_dir),
                    apps_dir=args.apps_dir.resolve())


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


async def _mail(services: Services, args: argparse.Namespace) -> int:
    return await inbound_cli.receive(services.inbound, args)


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
    "mail": _mail,
    "sync": _sync,
}
