"""What a master hands to an app's sync applier."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from lxml import etree

from portal.errors import PortalError


@dataclass(frozen=True)
class SyncItem:
    """One document a child pushed: where it came from and the app's payload element."""

    installation_id: str
    peer_name: str
    # The master's workspace that the child was registered for.
    tenant_id: int
    # The child's workspace the document belongs to.
    workspace: str
    stream: str
    item_id: int
    created: datetime
    payload: etree._Element


class SyncRejected(PortalError):
    """Raised by an applier for a document the master must not store, such as a stale
    version. The whole batch is then rejected, and the child keeps its items."""

    code = "sync_rejected"
    status = 409


@dataclass(frozen=True)
class BackfillBatch:
    """The result of one call of an app's sync backfill: the number of documents staged
    and the key to continue after, or None when the workspace has nothing more to stage."""

    staged: int
    next_after: int | None
