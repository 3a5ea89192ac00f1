"""The admin command line: `python -m portal COMMAND ...`.

This module parses the arguments and runs the command. An MTA starts `mail receive` once
per message, so it runs on its own (`portal.mail.inbound_cli`) without the apps. The
other commands are in `portal.admin_commands`, which loads the apps and the services.
Only `_run` imports it.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from portal.errors import PortalError
from portal.mail import inbound_cli
from portal.settings import REPOSITORY_ROOT, Settings, load_or_create_secret_key
from portal.sync import cli_args as sync_cli_args

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
    sync_cli_args.add_parser(commands)
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
    settings = _settings(args)
    if args.command == "mail":
        return await inbound_cli.run(settings, args)
    # Imported here so that `mail receive` does not pay for the apps and the web stack.
    from portal import admin_commands

    return await admin_commands.run(settings, args)


def _settings(args: argparse.Namespace) -> Settings:
    data_dir = Path(args.data_dir).resolve()
    if args.command == "mail":
        # Storing mail signs nothing, and a pipe pointed at the wrong folder must leave
        # nothing there. It writes only the files of the big messages it stores.
        return Settings(data_dir=data_dir, database_url=args.database_url,
                        apps_dir=args.apps_dir.resolve())
    data_dir.mkdir(parents=True, exist_ok=True)
    return Settings(data_dir=data_dir, database_url=args.database_url,
                    secret_key=load_or_create_secret_key(data_dir),
                    apps_dir=args.apps_dir.resolve())
