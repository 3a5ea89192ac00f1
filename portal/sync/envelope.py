"""The sync envelope documents (namespace `urn:miportal:sync:1`): a child's batch, the
master's acknowledgement and the master's error. Every document is built with lxml and
validated against `schema/sync-1.xsd` before it is sent and after it is received."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Literal

from lxml import etree

from portal.sync.parser import XmlRejected, check_valid, load_schema, parse_untrusted_xml, xml_text

NS = "urn:miportal:sync:1"
MEDIA_TYPE = "application/xml"
SCHEMA_PATH = Path(__file__).resolve().parent / "schema" / "sync-1.xsd"
SCHEMA = load_schema(SCHEMA_PATH)

ItemResult = Literal["applied", "duplicate"]


def _tag(name: str) -> str:
    return f"{{{NS}}}{name}"


@dataclass(frozen=True)
class BatchItem:
    id: int
    app_id: str
    stream: str
    workspace: str
    created: datetime
    payload: etree._Element


@dataclass(frozen=True)
class Batch:
    id: str
    installation_id: str
    created: datetime
    items: list[BatchItem]


@dataclass(frozen=True)
class Ack:
    batch_id: str
    installation_id: str
    results: dict[int, ItemResult]


@dataclass(frozen=True)
class ErrorDocument:
    code: str
    status: int
    message: str


def build_batch(batch: Batch) -> bytes:
    """Serialize and validate a batch; raises XmlRejected when it breaks the schema."""
    root = etree.Element(_tag("batch"), nsmap={None: NS})
    root.set("id", batch.id)
    root.set("installation", batch.installation_id)
    root.set("created", batch.created.isoformat())
    for item in batch.items:
        node = etree.SubElement(root, _tag("item"))
        node.set("id", str(item.id))
        node.set("app", item.app_id)
        node.set("stream", item.stream)
        node.set("workspace", item.workspace)
        node.set("created", item.created.isoformat())
        node.append(item.payload)
    check_valid(SCHEMA, root, what="batch")
    return _serialize(root)


def parse_batch(data: bytes) -> Batch:
    """Parse and validate a batch from a child; raises XmlRejected."""
    root = parse_untrusted_xml(data)
    _expect_root(root, "batch")
    check_valid(SCHEMA, root, what="batch")
    items = [
        BatchItem(id=int(node.get("id", "0")), app_id=node.get("app", ""),
                  stream=node.get("stream", ""), workspace=node.get("workspace", ""),
                  created=datetime.fromisoformat(node.get("created", "")),
                  payload=node[0])
        for node in root.iterchildren(_tag("item"))
    ]
    return Batch(id=root.get("id", ""), installation_id=root.get("installation", ""),
                 created=datetime.fromisoformat(root.get("created", "")), items=items)


def build_ack(ack: Ack) -> bytes:
    root = etree.Element(_tag("ack"), nsmap={None: NS})
    root.set("batch", ack.batch_id)
    root.set("installation", ack.installation_id)
    for item_id, result in ack.results.items():
        node = etree.SubElement(root, _tag("item"))
        node.set("id", str(item_id))
        node.set("result", result)
    check_valid(SCHEMA, root, what="acknowledgement")
    return _serialize(root)


def parse_ack(data: bytes) -> Ack:
    """Parse and validate the master's acknowledgement; raises XmlRejected."""
    root = parse_untrusted_xml(data)
    _expect_root(root, "ack")
    check_valid(SCHEMA, root, what="acknowledgement")
    results: dict[int, ItemResult] = {}
    for node in root.iterchildren(_tag("item")):
        results[int(node.get("id", "0"))] = "applied" if node.get("result") == "applied" \
            else "duplicate"
    return Ack(batch_id=root.get("batch", ""), installation_id=root.get("installation", ""),
               results=results)


def build_error(code: str, status: int, message: str) -> bytes:
    root = etree.Element(_tag("error"), nsmap={None: NS})
    root.set("code", code)
    root.set("status", str(status))
    etree.SubElement(root, _tag("message")).text = xml_text(message)
    check_valid(SCHEMA, root, what="error document")
    return _serialize(root)


def parse_error(data: bytes) -> ErrorDocument:
    """Parse and validate the master's error document; raises XmlRejected."""
    root = parse_untrusted_xml(data)
    _expect_root(root, "error")
    check_valid(SCHEMA, root, what="error document")
    return ErrorDocument(code=root.get("code", ""), status=int(root.get("status", "0")),
                         message=root.findtext(_tag("message")) or "")


def serialize_payload(element: etree._Element) -> str:
    """Return an app's payload element as the text the outbox stores."""
    return etree.tostring(element, encoding="unicode")


def _serialize(root: etree._Element) -> bytes:
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def _expect_root(root: etree._Element, name: str) -> None:
    if root.tag != _tag(name):
        raise XmlRejected(f"Expected the root element {{{NS}}}{name}, got {root.tag!r}.",
                          code="schema_violation", status=422)
