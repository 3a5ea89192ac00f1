"""A portal process that polls one IMAP mailbox and hangs in the middle, for the lease
take-over test. It blocks before flagging the message at `--block-at`, which is stored
and recorded but still unseen on the server. It then writes `--marker` and waits there
until the test kills it.

Run: python -m tests.portal.mail.imap_lease_child --data-dir DIR --database-url URL
     --mailbox ID --block-at N --marker PATH --lease-seconds S
"""

from __future__ import annotations

import argparse
import asyncio
import threading
from datetime import timedelta
from pathlib import Path

from portal.mail.imap_client import ImapClient, ImapTarget
from portal.mail.imap_poll import ImapPoller
from portal.services import build_services
from portal.settings import Settings


class BlockingClient(ImapClient):
    """Blocks its worker thread forever at the `block_at`-th flag."""

    def __init__(self, target: ImapTarget, *, block_at: int, marker: Path) -> None:
        super().__init__(target)
        self.block_at = block_at
        self.marker = marker
        self.flagged = 0

    def mark_seen(self, uid: int) -> None:
        self.flagged += 1
        if self.flagged == self.block_at:
            self.marker.write_text(str(uid), encoding="ascii")
            threading.Event().wait()
        super().mark_seen(uid)


async def main(args: argparse.Namespace) -> None:
    settings = Settings(data_dir=args.data_dir, database_url=args.database_url, secret_key="x" * 40)
    services = build_services(settings)
    poller = ImapPoller(
        services.db,
        services.inbound,
        owner="imap-lease-child",
        lease_time=timedelta(seconds=args.lease_seconds),
        client_factory=lambda target: BlockingClient(
            target, block_at=args.block_at, marker=args.marker
        ),
    )
    await poller.poll(args.mailbox)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--mailbox", type=int, required=True)
    parser.add_argument("--block-at", type=int, required=True)
    parser.add_argument("--marker", type=Path, required=True)
    parser.add_argument("--lease-seconds", type=float, required=True)
    asyncio.run(main(parser.parse_args()))
