"""The mail corpus end to end: every case of tests/fixtures/mail/corpus/ and the large
cases, in corpus order, through a real SMTP conversation with a running portal that has
TicketCloud installed, then a subset through `python -m portal mail receive`. Each
case's `end_to_end` outcome is checked against the database (inbound rows, tickets,
messages, participants, history, bounces, outbox rows) or the SMTP reply code, and the
counts show that every accepted message was stored exactly once."""

from __future__ import annotations

import re
import smtplib
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import pytest

from portal.models import Role
from portal.settings import REPOSITORY_ROOT
from tests.portal.mail.test_corpus import generator
from tests.portal.mail.test_listener import MAIL_SETTINGS, wait_for
from tests.support import Factory, PortalServer, TenantInfo, signed_in

CASES = [*generator.committed_cases(), *generator.large_cases()]
# Pipe exit statuses (sysexits.h) for the SMTP codes of rejected cases.
PIPE_STATUS = {"550": 67, "552": 65}
ENHANCED_CODES = {"550": b"5.1.1 ", "552": b"5.3.4 "}
PIPE_CASES = (
    "charset_koi8r",
    "duplicate_delivery",
    "quoted_reply",
    "auto_submitted",
    "out_of_office",
    "bounce_dsn",
    "unknown_recipient",
    "parts_2000",
)
_INBOUND_ID = re.compile(r"(\d+)")


@dataclass
class Delivery:
    """What happened to one case at the door: the reply code, and the inbound row."""

    code: int
    inbound_id: int | None = None
    # The reply text after the code, with its enhanced status code (RFC 3463) first.
    reply: bytes = b""


@dataclass
class Run:
    """The deliveries of one run over a workspace, by case name."""

    tenant: TenantInfo
    address: str
    deliveries: dict[str, Delivery] = field(default_factory=dict)


def corpus_workspace(server: PortalServer, factory: Factory) -> tuple[TenantInfo, str]:
    tenant = factory.tenant()
    factory.install(tenant, "ticketcloud")
    admin = factory.user(tenant, Role.ADMIN)
    address = f"support@{tenant.slug}.localhost"
    with signed_in(server, admin) as client:
        response = client.put(MAIL_SETTINGS, json={"support_address": address})
    assert response.status_code == 200, response.text
    return tenant, address


def recipient_of(case: Any, address: str) -> str:
    """The envelope recipient: the workspace's address, as an MTA alias for the corpus's
    support address would deliver it, or the case's own unknown address."""
    expected = case.expected["recipient"]
    return address if expected == generator.SUPPORT else str(expected)


def status_of(factory: Factory, inbound_id: int) -> str:
    rows = factory.execute("SELECT status FROM portal_mail_inbound WHERE id = :id", id=inbound_id)
    return str(rows[0][0])


def wait_processed(factory: Factory, inbound_id: int) -> str:
    return str(
        wait_for(lambda: (status := status_of(factory, inbound_id)) != "received" and status)
    )


def send_smtp(server: PortalServer, factory: Factory, run: Run) -> None:
    """Send every case in order on one SMTP connection; wait for each stored message to
    be processed before the next, so that arrival order is processing order."""
    with smtplib.SMTP("127.0.0.1", server.smtp_port, timeout=60) as smtp:
        smtp.ehlo("corpus.localhost")
        for case in CASES:
            run.deliveries[case.name] = deliver(smtp, case, run.address)
            smtp.rset()
            inbound_id = run.deliveries[case.name].inbound_id
            if inbound_id is not None:
                wait_processed(factory, inbound_id)


def deliver(smtp: smtplib.SMTP, case: Any, address: str) -> Delivery:
    sender = case.expected["from"] or ""
    if case.expected["is_automatic"] and "bounce" in case.expected["outcome"]:
        sender = ""  # a delivery report comes from the null sender
    code, reply = smtp.mail(sender, [f"SIZE={len(case.raw)}", "BODY=8BITMIME"])
    if code != 250:
        return Delivery(code, reply=reply)
    code, reply = smtp.rcpt(recipient_of(case, address))
    if code != 250:
        return Delivery(code, reply=reply)
    code, reply = smtp.data(case.raw)
    if code != 250:
        return Delivery(code, reply=reply)
    match = re.search(rb"\(id (\d+)\)", reply)
    assert match is not None, reply
    return Delivery(code, int(match.group(1)), reply)


def message_of(factory: Factory, run: Run, name: str) -> tuple[int, int, str | None] | None:
    """The ticket message that case `name` became: (message id, ticket id, author)."""
    inbound_id = run.deliveries[name].inbound_id
    rows = factory.execute(
        "SELECT m.id, m.ticket_id, m.author_email FROM ticketcloud_mail_detail d "
        "JOIN ticketcloud_message m ON m.id = d.message_id "
        "WHERE d.tenant_id = :tenant AND d.inbound_id = :inbound",
        tenant=run.tenant.id,
        inbound=inbound_id,
    )
    assert len(rows) <= 1, (name, rows)
    return (int(rows[0][0]), int(rows[0][1]), rows[0][2]) if rows else None


def ticket_of(factory: Factory, run: Run, name: str) -> int:
    found = message_of(factory, run, name)
    assert found is not None, f"{name} is on no ticket"
    return found[1]


def outbox_count(factory: Factory, run: Run, address: str) -> int:
    rows = factory.execute(
        "SELECT envelope_to FROM portal_mail_outbox WHERE tenant_id = :tenant", tenant=run.tenant.id
    )
    return sum(address in str(row[0]).split(",") for row in rows)


def first_message_of(factory: Factory, ticket_id: int) -> int:
    rows = factory.execute(
        "SELECT min(id) FROM ticketcloud_message WHERE ticket_id = :id", id=ticket_id
    )
    return int(rows[0][0])


def check_case(factory: Factory, run: Run, case: Any) -> None:
    """Assert the case's `end_to_end` outcome; the assert messages name the case."""
    kind, _, argument = case.expected["end_to_end"].partition(":")
    delivery = run.deliveries[case.name]
    name = case.name
    if kind == "smtp_reject":
        assert delivery.code == int(argument), name
        assert delivery.inbound_id is None, name
        if delivery.reply:
            assert delivery.reply.startswith(ENHANCED_CODES[argument]), (name, delivery.reply)
        return
    assert delivery.code == 250, name
    assert delivery.inbound_id is not None, name
    if kind == "duplicate_of":
        assert delivery.inbound_id == run.deliveries[argument].inbound_id, name
        return
    status = status_of(factory, delivery.inbound_id)
    if kind == "quarantine":
        assert status == "quarantined", name
        return
    assert status == "processed", name
    found = message_of(factory, run, name)
    sender = case.expected["from"]
    if kind in ("new_ticket", "no_autoreply"):
        assert found is not None, name
        assert first_message_of(factory, found[1]) == found[0], f"{name} joined a ticket"
        assert outbox_count(factory, run, sender) == (1 if kind == "new_ticket" else 0), name
    elif kind in ("reply_to", "participant_reply"):
        assert found is not None, name
        assert found[1] == ticket_of(factory, run, argument), name
        assert found[2] == sender, name
        participants = [
            row[0]
            for row in factory.execute(
                "SELECT email FROM ticketcloud_mail_participant WHERE ticket_id = :id", id=found[1]
            )
        ]
        assert (sender in participants) is (kind == "participant_reply"), name
    elif kind == "noted_on":
        assert found is None, name
        notes = factory.execute(
            "SELECT new_value FROM ticketcloud_history WHERE ticket_id = :id AND "
            "field = 'auto_reply'",
            id=ticket_of(factory, run, argument),
        )
        assert notes == [(sender,)], name
        assert outbox_count(factory, run, sender) == 0, name
    elif kind == "bounce_marks":
        assert found is None, name
        bounces = factory.execute(
            "SELECT ticket_id FROM ticketcloud_mail_bounce WHERE tenant_id = :tenant AND "
            "email = :email",
            tenant=run.tenant.id,
            email=argument,
        )
        assert bounces == [(ticket_of(factory, run, case.expected["on_ticket_of"]),)], name
    elif kind == "ignored":
        assert found is None, name
        if sender:
            assert outbox_count(factory, run, sender) == 0, name
    else:
        pytest.fail(f"{name}: unknown end_to_end outcome {kind!r}")


def check_counts(factory: Factory, run: Run, cases: list[Any]) -> None:
    """Assert that every accepted message has exactly one inbound row and that tickets,
    messages and confirmations add up to the outcomes."""
    kinds = Counter(case.expected["end_to_end"].partition(":")[0] for case in cases)
    accepted = {
        delivery.inbound_id
        for delivery in run.deliveries.values()
        if delivery.inbound_id is not None
    }
    rows = factory.execute(
        "SELECT id, status FROM portal_mail_inbound WHERE tenant_id = :tenant", tenant=run.tenant.id
    )
    tickets = factory.execute(
        "SELECT count(*) FROM ticketcloud_ticket WHERE tenant_id = :tenant", tenant=run.tenant.id
    )[0][0]
    messages = factory.execute(
        "SELECT count(*) FROM ticketcloud_message WHERE tenant_id = :tenant", tenant=run.tenant.id
    )[0][0]
    confirmations = factory.execute(
        "SELECT count(*) FROM portal_mail_outbox WHERE tenant_id = :tenant", tenant=run.tenant.id
    )[0][0]

    assert sorted(row[0] for row in rows) == sorted(accepted)
    assert len(accepted) == len(cases) - kinds["smtp_reject"] - kinds["duplicate_of"]
    assert [row for row in rows if row[1] not in ("processed", "quarantined")] == []
    assert tickets == kinds["new_ticket"] + kinds["no_autoreply"]
    assert messages == tickets + kinds["reply_to"] + kinds["participant_reply"]
    assert confirmations == kinds["new_ticket"]


def test_corpus_through_smtp_listener(server: PortalServer, factory: Factory) -> None:
    tenant, address = corpus_workspace(server, factory)
    run = Run(tenant, address)

    send_smtp(server, factory, run)

    assert list(run.deliveries) == [case.name for case in CASES]
    for case in CASES:
        check_case(factory, run, case)
    check_counts(factory, run, CASES)


def run_pipe(server: PortalServer, case: Any, address: str) -> subprocess.CompletedProcess[bytes]:
    sender = case.expected["from"] or ""
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "portal",
            "--data-dir",
            str(server.data_dir),
            "--database-url",
            server.database_url,
            "mail",
            "receive",
            "--recipient",
            recipient_of(case, address),
            "--sender",
            sender,
        ],
        input=case.raw,
        capture_output=True,
        cwd=REPOSITORY_ROOT,
        timeout=60,
        check=False,
    )


def test_corpus_subset_through_pipe(server: PortalServer, factory: Factory) -> None:
    tenant, address = corpus_workspace(server, factory)
    run = Run(tenant, address)
    cases = [case for case in CASES if case.name in PIPE_CASES]

    for case in cases:
        result = run_pipe(server, case, address)
        kind, _, argument = case.expected["end_to_end"].partition(":")
        if kind == "smtp_reject":
            assert result.returncode == PIPE_STATUS[argument], case.name
            run.deliveries[case.name] = Delivery(int(argument))
            continue
        assert result.returncode == 0, (case.name, result.stderr)
        match = _INBOUND_ID.search(result.stdout.decode())
        assert match is not None, result.stdout
        run.deliveries[case.name] = Delivery(250, int(match.group(1)))
    # The server's inbound job processes what the pipe stored, oldest first, so the
    # processing order is the arrival order.
    for delivery in run.deliveries.values():
        if delivery.inbound_id is not None:
            wait_processed(factory, delivery.inbound_id)

    assert sorted(case.name for case in cases) == sorted(PIPE_CASES)
    for case in cases:
        check_case(factory, run, case)
    check_counts(factory, run, cases)
