"""Property-based fuzzing of the sync parser and the XML Schemas: any bytes either
parse or raise XmlRejected, and any text survives a batch's round trip."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from portal.sync.envelope import Batch, BatchItem, build_batch, parse_batch
from portal.sync.parser import XmlRejected, parse_untrusted_xml, xml_text
from tests.portal.sync.documents import TICKET_NS, batch_bytes, ticket_element
from ticketcloud.sync_format import SCHEMA as TICKET_SCHEMA

INSTALLATION = "ab" * 16
VALID = batch_bytes(INSTALLATION, [(1, 1), (1, 2), (2, 1)])
FUZZ = settings(max_examples=150, deadline=None,
                suppress_health_check=[HealthCheck.too_slow])


@FUZZ
@given(st.binary(max_size=2048))
def test_parse_untrusted_xml_random_bytes(data: bytes) -> None:
    try:
        root = parse_untrusted_xml(data)
    except XmlRejected as error:
        assert error.code in {"malformed_xml", "doctype_forbidden", "too_large"}
        return
    assert root.tag


@FUZZ
@given(st.integers(0, len(VALID) - 1), st.binary(min_size=0, max_size=8),
       st.integers(0, 16))
def test_parse_batch_mutated_document(position: int, inserted: bytes, removed: int) -> None:
    mutated = VALID[:position] + inserted + VALID[position + removed:]
    try:
        batch = parse_batch(mutated)
    except XmlRejected as error:
        assert error.status in {400, 413, 422}
        return
    assert batch.installation_id
    assert batch.items


@FUZZ
@given(subject=st.text(max_size=200), body=st.text(max_size=500))
def test_ticket_text_round_trip(subject: str, body: str) -> None:
    element = ticket_element(3, 1, subject=xml_text(subject), body=xml_text(body))
    item = BatchItem(id=1, app_id="ticketcloud", stream="ticket:3", workspace="lyon",
                     created=datetime.now(UTC), payload=element)
    data = build_batch(Batch(id=secrets.token_urlsafe(18), installation_id=INSTALLATION,
                             created=datetime.now(UTC), items=[item]))

    payload = parse_batch(data).items[0].payload

    assert TICKET_SCHEMA.validate(payload)
    assert (payload.findtext(f"{{{TICKET_NS}}}subject") or "") == xml_text(subject)
    assert (payload.findtext(f".//{{{TICKET_NS}}}body") or "") == xml_text(body)


@FUZZ
@given(st.sampled_from(["status", "priority", "channel"]), st.text(min_size=1, max_size=20))
def test_ticket_schema_rejects_unknown_choice(field: str, value: str) -> None:
    element = ticket_element(3, 1)
    node = element.find(f"{{{TICKET_NS}}}{field}")
    assert node is not None
    node.text = xml_text(value)
    allowed = {"status": {"new", "open", "pending", "on_hold", "solved", "closed"},
               "priority": {"low", "normal", "high", "urgent"},
               "channel": {"web", "email", "api", "sync"}}[field]

    assert TICKET_SCHEMA.validate(element) == (xml_text(value) in allowed)


def test_parse_untrusted_xml_keeps_entities_unresolved() -> None:
    data = b'<a xmlns="urn:x">&amp;&#65;</a>'

    assert parse_untrusted_xml(data).text == "&A"


def test_parse_untrusted_xml_rejects_doctype_after_comment() -> None:
    data = b'<?xml version="1.0"?><!-- c --><!DOCTYPE a [<!ENTITY e "x">]><a>&e;</a>'

    try:
        parse_untrusted_xml(data)
    except XmlRejected as error:
        assert error.code == "doctype_forbidden"
    else:
        raise AssertionError("a DOCTYPE was accepted")


def test_parse_untrusted_xml_other_declared_encoding() -> None:
    """A document declaring Latin-1 is still read as UTF-8, so its é byte is refused."""
    document = (b'<?xml version="1.0" encoding="ISO-8859-1"?>'
                b'<batch xmlns="urn:miportal:sync:1">\xe9</batch>')

    with pytest.raises(XmlRejected) as raised:
        parse_untrusted_xml(document)

    assert raised.value.code == "malformed_xml"
    assert "line 1, column" in raised.value.message
