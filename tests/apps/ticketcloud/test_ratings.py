"""Rating links: signed, single-use, bound to one ticket of one workspace, for solved
tickets only; and the roll-ups per agent and team."""

from __future__ import annotations

import pytest

from portal.db import Database
from portal.events.model import Event
from portal.sdk import AppContext, Conflict, InvalidInput, NotFound
from tests.apps.ticketcloud.conftest import Workspace, add_team, create_ticket, reload, topics
from ticketcloud.conversation import Author, do_reply
from ticketcloud.models import Rating, Ticket
from ticketcloud.ratings import (
    MAX_COMMENT,
    RatingRollup,
    do_issue_rating_token,
    do_rate,
    ratings_report,
)
from ticketcloud.status import Status
from ticketcloud.updates import do_update_ticket


async def solved_ticket(context: AppContext, workspace: Workspace, *,
                        assignee_index: int | None = 0, team_id: int | None = None) -> Ticket:
    ticket = await create_ticket(context, workspace)
    changes: dict[str, object] = {"status": "solved"}
    if assignee_index is not None:
        changes["assignee_id"] = workspace.agent_id(assignee_index)
    if team_id is not None:
        changes["team_id"] = team_id
    async with context.transaction() as session:
        loaded = await session.get(Ticket, ticket.id)
        assert loaded is not None
        return await do_update_ticket(context, session, loaded,
                                      actor=workspace.principal(workspace.admin),
                                      expected_version=1, changes=changes)


async def issue(context: AppContext, ticket: Ticket) -> str:
    async with context.transaction() as session:
        loaded = await session.get(Ticket, ticket.id)
        assert loaded is not None
        return await do_issue_rating_token(context, session, loaded)


async def rate(context: AppContext, workspace: Workspace, token: str, score: object = 5,
               comment: object = "") -> Rating:
    async with context.transaction() as session:
        return await do_rate(context, session, tenant_id=workspace.tenant_id, token=token,
                             score=score, comment=comment)


async def test_rate_stores_rating_and_publishes(
        context: AppContext, db: Database, workspace: Workspace,
        published: list[Event]) -> None:
    ticket = await solved_ticket(context, workspace)
    token = await issue(context, ticket)
    published.clear()

    rating = await rate(context, workspace, token, 4, "  Quick and friendly.  ")

    assert rating.score == 4
    assert rating.comment == "Quick and friendly."
    assert rating.agent_id == workspace.agent_id(0)
    assert rating.ticket_id == ticket.id
    assert (await reload(db, ticket)).rating_nonce_hash is None
    assert topics(published) == ["ticketcloud.ticket.rated"]
    assert published[0].payload["score"] == 4


async def test_rate_token_works_once(context: AppContext, workspace: Workspace) -> None:
    token = await issue(context, await solved_ticket(context, workspace))
    await rate(context, workspace, token)

    with pytest.raises(NotFound) as raised:
        await rate(context, workspace, token, 1)

    assert "invalid or was already used" in raised.value.message


async def test_rate_new_token_voids_old(context: AppContext, workspace: Workspace) -> None:
    ticket = await solved_ticket(context, workspace)
    old = await issue(context, ticket)
    new = await issue(context, ticket)

    with pytest.raises(NotFound):
        await rate(context, workspace, old)
    rating = await rate(context, workspace, new, 3)

    assert rating.score == 3


async def test_rate_forged_signature(context: AppContext, workspace: Workspace) -> None:
    token = await issue(context, await solved_ticket(context, workspace))
    ticket_id, nonce, signature = token.split(".")
    flipped = ("A" if signature[0] != "A" else "B") + signature[1:]

    for forged in (f"{ticket_id}.{nonce}.{flipped}", f"{ticket_id}.{nonce}x.{signature}",
                   "garbage", ""):
        with pytest.raises(NotFound):
            await rate(context, workspace, forged)

    assert (await rate(context, workspace, token)).score == 5


async def test_rate_token_moved_to_other_ticket(
        context: AppContext, workspace: Workspace) -> None:
    first = await solved_ticket(context, workspace)
    second = await solved_ticket(context, workspace)
    await issue(context, second)
    _, nonce, signature = (await issue(context, first)).split(".")

    with pytest.raises(NotFound):
        await rate(context, workspace, f"{second.id}.{nonce}.{signature}")


async def test_rate_token_of_other_workspace(
        context: AppContext, workspace: Workspace, other_workspace: Workspace) -> None:
    token = await issue(context, await solved_ticket(context, workspace))

    with pytest.raises(NotFound):
        await rate(context, other_workspace, token)


async def test_rate_token_signed_with_other_key(
        context: AppContext, workspace: Workspace) -> None:
    ticket = await solved_ticket(context, workspace)
    other_app = AppContext(manifest=context.manifest, root=context.root, db=context.db,
                           bus=context.bus, data_dir=context.data_dir, signing_key=b"k" * 32)
    async with context.transaction() as session:
        loaded = await session.get(Ticket, ticket.id)
        assert loaded is not None
        token = await do_issue_rating_token(other_app, session, loaded)

    with pytest.raises(NotFound):
        await rate(context, workspace, token)


async def test_rate_reopen_voids_token(
        context: AppContext, db: Database, workspace: Workspace) -> None:
    ticket = await solved_ticket(context, workspace)
    token = await issue(context, ticket)
    issued_hash = (await reload(db, ticket)).rating_nonce_hash
    async with context.transaction() as session:
        loaded = await session.get(Ticket, ticket.id)
        assert loaded is not None
        await do_reply(context, session, loaded, body="It broke again.",
                       author=Author.of_principal(workspace.principal(workspace.customer)))
        await do_update_ticket(context, session, loaded,
                               actor=workspace.principal(workspace.admin),
                               expected_version=loaded.version, changes={"status": "solved"})

    with pytest.raises(NotFound):
        await rate(context, workspace, token)

    # Solving again mailed a new rating link, whose nonce replaced the voided one.
    assert issued_hash is not None
    assert (await reload(db, ticket)).rating_nonce_hash != issued_hash


async def test_rate_unsolved_ticket_rejected(
        context: AppContext, db: Database, workspace: Workspace) -> None:
    """A token whose ticket left solved without voiding it, as a direct database edit
    would, is still refused."""
    ticket = await solved_ticket(context, workspace)
    token = await issue(context, ticket)
    async with db.transaction() as session:
        loaded = await session.get(Ticket, ticket.id)
        assert loaded is not None
        loaded.status = Status.OPEN
        session.add(loaded)

    with pytest.raises(Conflict) as raised:
        await rate(context, workspace, token)

    assert raised.value.code == "ticket_not_solved"
    assert "is open" in raised.value.message


async def test_issue_token_needs_solved_ticket(
        context: AppContext, workspace: Workspace) -> None:
    ticket = await create_ticket(context, workspace)

    with pytest.raises(Conflict) as raised:
        await issue(context, ticket)

    assert raised.value.code == "ticket_not_solved"


@pytest.mark.parametrize(("score", "comment", "field"), [
    (0, "", "score"), (6, "", "score"), ("5", "", "score"), (True, "", "score"),
    (4.5, "", "score"), (5, "x" * (MAX_COMMENT + 1), "comment"), (5, None, "comment")])
async def test_rate_invalid_input_keeps_token(
        context: AppContext, workspace: Workspace, score: object, comment: object,
        field: str) -> None:
    token = await issue(context, await solved_ticket(context, workspace))

    with pytest.raises(InvalidInput) as raised:
        await rate(context, workspace, token, score, comment)

    assert raised.value.field == field
    assert (await rate(context, workspace, token, 2)).score == 2


async def test_ratings_report_per_agent_and_team(
        context: AppContext, db: Database, workspace: Workspace,
        other_workspace: Workspace) -> None:
    team = await add_team(db, workspace, "Support", members=[])
    assert team.id is not None
    for assignee, team_id, score in ((0, team.id, 5), (0, team.id, 2), (1, team.id, 4),
                                     (1, None, 3), (None, None, 1)):
        ticket = await solved_ticket(context, workspace, assignee_index=assignee,
                                     team_id=team_id)
        await rate(context, workspace, await issue(context, ticket), score)
    elsewhere = await solved_ticket(context, other_workspace)
    await rate(context, other_workspace, await issue(context, elsewhere), 1)

    async with db.read() as session:
        report = await ratings_report(session, workspace.tenant_id)

    assert report.agents == [RatingRollup(workspace.agent_id(0), 2, 3.5),
                             RatingRollup(workspace.agent_id(1), 2, 3.5)]
    assert report.teams == [RatingRollup(team.id, 3, 3.67)]
