"""`python -m portal mail receive`: store one message from standard input, for an MTA's
pipe transport (such as Postfix's pipe(8) or an Exim pipe router).

The exit status follows sysexits.h, which MTAs read: 0 when the message is stored (the
running portal processes it within seconds), 67 (EX_NOUSER) for a recipient without a
route, 65 (EX_DATAERR) for a message over the size limit, and 75 (EX_TEMPFAIL) when it
could not be stored, so that the MTA keeps it and retries. One line on standard output
or standard error says what happened.

An MTA starts one process per message, so the command loads no apps and imports no web
code: it opens the database, looks the recipients up and stores the message (`run`).
The running portal processes the row. The command applies no migrations and never
creates a missing SQLite file, so storing fails with status 75 until the portal has set
up the database.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, TextIO

from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError, ProgrammingError

from portal.db import Database
from portal.mail.inbound import InboundGateway, StorageFailed, UnknownRecipient
from portal.mail.inbound_addresses import find_route
from portal.mail.inbound_models import MailRoute
from portal.mail.parse import MailLimitExceeded
from portal.registry.discovery import builtin_app_ids
from portal.registry.installed import has_installation
from portal.settings import Settings

if TYPE_CHECKING:
    from portal.registry.registry import LoadedApp

logger = logging.getLogger(__name__)

EX_OK = 0
EX_DATAERR = 65
EX_NOUSER = 67
EX_TEMPFAIL = 75


def add_parser(commands: Any) -> None:
    """Add the `mail` command and its `receive` action to the CLI's subparsers."""
    mail = commands.add_parser("mail", help="receive inbound mail from an MTA")
    actions = mail.add_subparsers(dest="mail_command", required=True, metavar="ACTION")
    receive = actions.add_parser(
        "receive", help="store one message read from standard input for a recipient; "
                        "exit codes follow sysexits (0 stored, 65 too big, 67 unknown "
                        "recipient, 75 try again later)")
    receive.add_argument("--recipient", action="append", required=True,
                         help="envelope recipient address; repeatable")
    receive.add_argument("--sender", default="", help="envelope sender address (MAIL FROM)")


@dataclass(frozen=True)
class _NoApps:
    """The loaded apps of the pipe's process: none. `find_routes` checks installations in
    the database instead, and the portal checks that the app is loaded when it processes
    the row."""

    apps: Mapping[str, LoadedApp] = field(default_factory=dict)


async def run(settings: Settings, args: argparse.Namespace) -> int:
    """Store the message on standard input and return a sysexits status, with a gateway
    that loads no apps."""
    missing = _missing_sqlite_file(settings.effective_database_url)
    if missing is not None:
        # Opening it would create an empty database file where the portal expects its own.
        logger.error("Receiving mail failed: the database file %s does not exist", missing)
        print(f"error: the database file {missing} does not exist; start the portal once "
              "or run `python -m portal migrate` with the same --data-dir or "
              "--database-url, then deliver again", file=sys.stderr)
        return EX_TEMPFAIL
    db = Database(settings.effective_database_url)
    try:
        return await receive(InboundGateway(db, _NoApps(), settings.data_dir), args)
    except (OperationalError, ProgrammingError) as error:
        if not _missing_table(error):
            raise
        return _not_migrated(error)
    finally:
        await db.dispose()


def _missing_sqlite_file(url: str) -> Path | None:
    """Return the file of an SQLite database URL when that file does not exist."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    path = Path(parsed.database)
    return None if path.exists() else path


def _not_migrated(error: OperationalError | ProgrammingError,
                  err: TextIO | None = None) -> int:
    logger.error("Receiving mail failed: the database lacks tables of this portal version "
                 "(%s)", error.orig)
    print("error: the database is not set up for this portal version yet; start the "
          "portal once or run `python -m portal migrate`, then deliver again",
          file=err or sys.stderr)
    return EX_TEMPFAIL


def _missing_table(error: OperationalError | ProgrammingError) -> bool:
    # The messages of SQLite ("no such table: x") and PostgreSQL ('relation "x" does not
    # exist').
    text = str(error.orig)
    return "no such table" in text or ("relation" in text and "does not exist" in text)


async def find_routes(db: Database, recipients: Sequence[str]) -> dict[str, MailRoute]:
    """Return the routes of the recipients whose app is built in or installed for the
    route's tenant, by recipient."""
    builtin = builtin_app_ids()
    routes: dict[str, MailRoute] = {}
    async with db.read() as session:
        for recipient in recipients:
            route = await find_route(session, recipient)
            if route is not None and (route.app_id in builtin or await has_installation(
                    session, route.tenant_id, route.app_id)):
                routes[recipient] = route
    return routes


async def receive(gateway: InboundGateway, args: argparse.Namespace, *,
                  stdin: BinaryIO | None = None, stdout: TextIO | None = None,
                  stderr: TextIO | None = None) -> int:
    """Store the message on standard input and return a sysexits status."""
    source = stdin or sys.stdin.buffer
    out, err = stdout or sys.stdout, stderr or sys.stderr
    # One byte over the limit is enough to know the message is too big.
    raw = source.read(gateway.limits.max_bytes + 1)
    routes = await find_routes(gateway.db, args.recipient)
    try:
        # The gateway looks up the recipients missing from `routes` again and raises
        # UnknownRecipient for them, because `_NoApps` lists no loaded app.
        stored = await gateway.store(raw, recipients=args.recipient,
                                     envelope_sender=args.sender, routes=routes)
    except UnknownRecipient as error:
        print(f"error: {error.message}", file=err)
        return EX_NOUSER
    except MailLimitExceeded as error:
        print(f"error: {error.message}", file=err)
        return EX_DATAERR
    except StorageFailed as error:
        cause = error.__cause__
        if isinstance(cause, OperationalError | ProgrammingError) and _missing_table(cause):
            # A database that an older portal version migrated: a table is missing.
            return _not_migrated(cause, err)
        print(f"error: {error.message}", file=err)
        return EX_TEMPFAIL
    ids = ", ".join(f"{item.inbound_id}{' (duplicate)' if item.duplicate else ''}"
                    for item in stored)
    print(f"Stored inbound mail {ids}.", file=out)
    return EX_OK
