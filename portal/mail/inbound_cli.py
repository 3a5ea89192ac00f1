"""`python -m portal mail receive`: store one message from standard input, for an MTA's
pipe transport (such as Postfix's pipe(8) or an Exim pipe router).

The exit status follows sysexits.h, which MTAs read: 0 when the message is stored (the
running portal processes it within seconds), 67 (EX_NOUSER) for a recipient without a
route, 65 (EX_DATAERR) for a message over the size limit, and 75 (EX_TEMPFAIL) when it
could not be stored, so that the MTA keeps it and retries. One line on standard output
or standard error says what happened.
"""

from __future__ import annotations

import argparse
import logging
import sys
from typing import Any, BinaryIO, TextIO

from portal.mail.inbound import InboundGateway, StorageFailed, UnknownRecipient
from portal.mail.parse import MailLimitExceeded

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


async def receive(gateway: InboundGateway, args: argparse.Namespace, *,
                  stdin: BinaryIO | None = None, stdout: TextIO | None = None,
                  stderr: TextIO | None = None) -> int:
    """Store the message on standard input and return a sysexits status."""
    source = stdin or sys.stdin.buffer
    out, err = stdout or sys.stdout, stderr or sys.stderr
    # One byte over the limit is enough to know the message is too big.
    raw = source.read(gateway.limits.max_bytes + 1)
    try:
        stored = await gateway.store(raw, recipients=args.recipient,
                                     envelope_sender=args.sender)
    except UnknownRecipient as error:
        print(f"error: {error.message}", file=err)
        return EX_NOUSER
    except MailLimitExceeded as error:
        print(f"error: {error.message}", file=err)
        return EX_DATAERR
    except StorageFailed as error:
        print(f"error: {error.message}", file=err)
        return EX_TEMPFAIL
    ids = ", ".join(f"{item.inbound_id}{' (duplicate)' if item.duplicate else ''}"
                    for item in stored)
    print(f"Stored inbound mail {ids}.", file=out)
    return EX_OK
