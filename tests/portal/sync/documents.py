"""Sync documents for tests, built with lxml as a child would build them."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime

from lxml import etree

from portal.sync.envelope import Batch, BatchItem, build_batch

TICKET_NS = "urn:miportal:ticketcloud:sync:1"


def ticket_element(remote_id: int, version: int, *, subject: str = "Printer on fire",
                   status: str = "open", body: str = "It smokes.") -> etree._Element:
    def sub(parent: etree._Element, name: str, text: str | None = None) -> etree._Element:
        node = etree.SubElement(parent, f"{{{TICKET_NS}}}{name}")
        if text is not None:
            node.text = text
        return node

    now = datetime.now(UTC).isoformat()
    root = etree.Element(f"{{{TICKET_NS}}}ticket", nsmap={None: TICKET_NS})
    root.set("id", str(remote_id))
    root.set("number", str(remote_id))
    root.set("version", str(version))
    sub(root, "subject", subject)
    sub(root, "status", status)
    sub(root, "priority", "normal")
    sub(root, "channel", "web")
    sub(root, "requester").set("name", "Carl Customer")
    sub(root, "tags")
    sub(root, "created", now)
    sub(root, "updated", now)
    message = sub(sub(root, "messages"), "message")
    message.set("id", "1")
    message.set("visibility", "public")
    message.set("from-agent", "false")
    message.set("created", now)
    sub(message, "author").set("name", "Carl Customer")
    sub(message, "body", body)
    return root


def batch_bytes(installation_id: str, tickets: list[tuple[int, int]], *,
                item_start: int = 1) -> bytes:
    """Return a valid batch of ticket snapshots, given as (remote id, version)."""
    items = [BatchItem(id=item_start + index, app_id="ticketcloud", stream=f"ticket:{remote}",
                       workspace="lyon", created=datetime.now(UTC),
                       payload=ticket_element(remote, version))
             for index, (remote, version) in enumerate(tickets)]
    return build_batch(Batch(id=secrets.token_urlsafe(18), installation_id=installation_id,
                             created=datetime.now(UTC), items=items))
