"""The arguments of `python -m portal sync ...`, apart from `cli.py`, which runs the
actions, so that building the portal's command line imports nothing of sync."""

from __future__ import annotations

from typing import Any


def add_parser(commands: Any) -> None:
    sync = commands.add_parser("sync", help="installation sync: children, master and status")
    actions = sync.add_subparsers(dest="sync_command", required=True, metavar="ACTION")
    actions.add_parser("status", help="print this installation's id, master, queue and "
                                      "children")
    register = actions.add_parser(
        "register-child", help="on the master: register a child installation and print its "
                               "secret once")
    register.add_argument("--installation-id", required=True,
                          help="the child's id, as `sync status` prints it there")
    register.add_argument("--name", required=True, help="a label such as 'Branch Lyon'")
    register.add_argument("--workspace", required=True,
                          help="the master's workspace that receives the child's tickets")
    remove = actions.add_parser("remove-child", help="on the master: reject a child's "
                                                     "pushes from now on (its data stays)")
    remove.add_argument("installation_id")
    configure = actions.add_parser(
        "configure-master", help="on a child: push to this master with the secret it issued")
    configure.add_argument("--url", required=True,
                           help="the master's address, such as https://hq.example.com")
    configure.add_argument("--secret-stdin", action="store_true",
                           help="read the secret from standard input instead of prompting")
    actions.add_parser("remove-master", help="on a child: stop pushing; pending changes "
                                             "stay queued")
    backfill = actions.add_parser(
        "push-existing", help="on a child: queue every ticket that was never pushed, such "
                              "as those made before the master was configured")
    backfill.add_argument("--tenant", metavar="SLUG",
                          help="only this workspace (default: every workspace)")
