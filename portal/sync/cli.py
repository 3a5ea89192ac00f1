"""`python -m portal sync ...`: installation identity, children, master and status. The
arguments are defined in `cli_args.py`.

Secrets are set only here, by the operator of the installation: a master prints a
child's secret once at registration, and a child reads it from standard input.
"""

from __future__ import annotations

import argparse
import getpass
import sys
from typing import Any

from portal.db import Database, utcnow
from portal.errors import InvalidInput
from portal.registry.registry import AppRegistry
from portal.sync.backfill import push_existing
from portal.sync.outbox import queue_health
from portal.sync.peers import (
    do_configure_master,
    do_register_child,
    do_remove_child,
    do_remove_master,
    installation_id,
    list_peers,
    load_master,
)
from portal.tenants import get_tenant_by_slug


async def run(db: Database, registry: AppRegistry, args: argparse.Namespace) -> int:
    command = args.sync_command
    if command == "status":
        return await _status(db)
    if command == "push-existing":
        return await _push_existing(db, registry, args.tenant)
    if command == "register-child":
        async with db.transaction() as session:
            tenant = await get_tenant_by_slug(session, args.workspace)
            assert tenant.id is not None
            peer, secret = await do_register_child(session, child_id=args.installation_id,
                                                   name=args.name, tenant_id=tenant.id)
        print(f"Registered child {peer.name!r} ({peer.installation_id}) for workspace "
              f"{args.workspace!r}.")
        print(f"Secret (shown once): {secret}")
        return 0
    if command == "remove-child":
        async with db.transaction() as session:
            peer = await do_remove_child(session, args.installation_id)
        print(f"Removed child {peer.name!r} ({peer.installation_id}).")
        return 0
    if command == "configure-master":
        secret = _read_secret(args)
        async with db.transaction() as session:
            master = await do_configure_master(session, url=args.url, secret=secret)
        print(f"Pushing to {master.url}; changes from now on are queued for it.")
        return 0
    async with db.transaction() as session:
        await do_remove_master(session)
    print("Removed the sync master; pending changes stay queued.")
    return 0


async def _push_existing(db: Database, registry: AppRegistry, workspace: str | None) -> int:
    results = await push_existing(db, registry, workspace=workspace)
    for result in results:
        print(f"{result.workspace}: queued {result.staged} {result.app_id} items")
    print(f"Queued {sum(result.staged for result in results)} items in total; the running "
          "portal pushes them with its next batch.")
    return 0


def _read_secret(args: argparse.Namespace) -> str:
    if args.secret_stdin:
        return sys.stdin.readline().strip()
    if sys.stdin.isatty():
        return getpass.getpass("Secret from the master: ").strip()
    raise InvalidInput("No secret given: pass --secret-stdin and pipe the secret in, or run "
                       "the command in a terminal.", field="secret")


async def _status(db: Database) -> int:
    async with db.transaction() as session:
        own_id = await installation_id(session)
    async with db.read() as session:
        master = await load_master(session)
        health = await queue_health(session)
        peers = await list_peers(session)
    print(f"Installation id: {own_id}")
    if master is None:
        print("Master: none (this installation pushes nothing)")
    else:
        print(f"Master: {master.url}")
        print(f"Queue: {health.depth} pending, {health.delivered} delivered, oldest pending "
              f"{_when(health.oldest_pending_at)}")
        print(f"Last success: {_when(master.last_success_at)}; failures in a row: "
              f"{master.failures}; next retry: {_when(master.next_attempt_at)}")
        if master.last_error:
            print(f"Last error: {master.last_error}")
    print(f"Children: {len(peers)}")
    for peer in peers:
        print(f"  {peer.installation_id} {peer.name!r}: last contact "
              f"{_when(peer.last_contact_at)}, {peer.batches_received} batches, "
              f"{peer.items_applied} items, {peer.error_count} errors"
              + (f", last error: {peer.last_error}" if peer.last_error else ""))
    return 0


def _when(value: Any) -> str:
    if value is None:
        return "never"
    seconds = int((utcnow() - value).total_seconds())
    return f"{value.isoformat(timespec='seconds')} ({seconds} s ago)" if seconds >= 0 \
        else f"{value.isoformat(timespec='seconds')} (in {-seconds} s)"
