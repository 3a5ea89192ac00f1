"""Tickets through the REST API: creation and routing, reading per role and tenant,
changes with optimistic concurrency, replies, notes, history, lists and errors."""

from __future__ import annotations

from typing import Any

import pytest

from tests.apps.ticketcloud.api.conftest import (
    ApiWorkspace,
    add_category,
    add_team,
    create_ticket,
    error_of,
)
from tests.support import Factory, PortalServer, signed_in

NOTE_MARKER = "internal-only-marker-7f3a"


def add_note(api: ApiWorkspace, number: int, body: str = NOTE_MARKER) -> dict[str, Any]:
    response = api.client("agent").post(f"/tickets/{number}/notes", json={"body": body})
    assert response.status_code == 201, response.text
    note: dict[str, Any] = response.json()
    return note


def test_create_ticket_applies_rule_and_assignment(api: ApiWorkspace,
                                                   factory: Factory) -> None:
    team_id = add_team(factory, api.tenant, "Billing", [api.user_id("agent")])
    rule = {"name": "Invoices to billing",
            "conditions": [{"field": "subject", "operator": "contains", "value": "invoice"}],
            "actions": [{"type": "set_team", "value": team_id},
                        {"type": "set_priority", "value": "high"},
                        {"type": "add_tags", "value": ["billing"]}]}
    created_rule = api.client("admin").post("/rules", json=rule)

    ticket = create_ticket(api.client("customer"), subject="Invoice is wrong")
    loaded = api.client("agent").get(f"/tickets/{ticket['number']}").json()

    assert created_rule.status_code == 201
    assert loaded["channel"] == "api"
    assert loaded["team_id"] == team_id
    assert loaded["assignee_id"] == api.user_id("agent")
    assert loaded["priority"] == "high"
    assert loaded["tags"] == ["billing"]
    assert {(entry["field"], entry["rule_name"]) for entry in loaded["history"]} >= {
        ("team", "Invoices to billing"), ("priority", "Invoices to billing")}
    assert any(entry["field"] == "assignee" for entry in loaded["history"])


@pytest.fixture(scope="module")
def zebra_routing(api: ApiWorkspace, factory: Factory) -> None:
    """A rule for subjects with "zebra" and an SLA policy for requesters at
    matchview.test, so that a created ticket has history and SLA targets."""
    team_id = add_team(factory, api.tenant, "Zebras", [api.user_id("agent")])
    admin = api.client("admin")
    rule = admin.post("/rules", json={
        "name": "Zebras to their team",
        "conditions": [{"field": "subject", "operator": "contains", "value": "zebra"}],
        "actions": [{"type": "set_team", "value": team_id},
                    {"type": "add_tags", "value": ["zebra"]}]})
    policy = admin.post("/sla/policies", json={
        "name": "Matchview", "conditions": {"customers": ["matchview.test"]},
        "first_response_minutes": 30, "resolution_minutes": 600})
    assert rule.status_code == 201, rule.text
    assert policy.status_code == 201, policy.text


@pytest.mark.parametrize("role", ["agent", "customer"])
def test_create_ticket_response_matches_get(api: ApiWorkspace, role: str,
                                            zebra_routing: None) -> None:
    """The create response is built from the rows just written, without reading them
    back. It must equal a later GET, history and SLA targets included."""
    fields = {"requester_email": "someone@matchview.test"} if role == "agent" else {}
    created = create_ticket(api.client(role), subject="Zebra question", **fields)

    fetched = api.client(role).get(f"/tickets/{created['number']}")

    assert fetched.status_code == 200
    assert fetched.json() == created
    if role == "agent":
        assert [entry["field"] for entry in created["history"]] == ["team", "tags",
                                                                     "assignee"]
        assert {target["kind"] for target in created["sla"]} == {"first_response",
                                                                 "resolution"}


def test_create_ticket_customer_is_requester(api: ApiWorkspace) -> None:
    ticket = create_ticket(api.client("customer"))

    assert ticket["requester"]["email"] == api.users["customer"].email
    assert "history" not in ticket
    assert "assignee_id" not in ticket


def test_create_ticket_customer_names_requester(api: ApiWorkspace) -> None:
    response = api.client("customer").post("/tickets", json={
        "subject": "Hi", "body": "Hello", "requester_email": "someone@example.com"})

    assert response.status_code == 403
    assert error_of(response)["field"] == "requester_email"


def test_create_ticket_agent_for_requester(api: ApiWorkspace) -> None:
    ticket = create_ticket(api.client("agent"), requester_email="Walk.In@Example.com",
                           requester_name="Walk In")

    assert ticket["requester"] == {"name": "Walk In", "email": "walk.in@example.com",
                                   "user_id": None}
    assert ticket["version"] >= 1


@pytest.mark.parametrize("category_id", [True, "3", 0])
def test_create_ticket_invalid_category_id(api: ApiWorkspace, category_id: object) -> None:
    response = api.client("agent").post("/tickets", json={
        "subject": "Hi", "body": "Hello", "requester_email": "someone@example.com",
        "category_id": category_id})

    assert response.status_code == 422
    assert error_of(response)["field"] == "category_id"


def test_create_ticket_agent_without_requester(api: ApiWorkspace) -> None:
    response = api.client("agent").post("/tickets", json={"subject": "Hi", "body": "Hello"})

    assert response.status_code == 422
    assert error_of(response)["field"] == "requester_email"


def test_create_ticket_unknown_category(api: ApiWorkspace, other_api: ApiWorkspace,
                                        factory: Factory) -> None:
    foreign = add_category(factory, other_api.tenant, "Billing")
    response = api.client("customer").post("/tickets", json={
        "subject": "Hi", "body": "Hello", "category_id": foreign})

    assert response.status_code == 404


@pytest.mark.parametrize(("content", "field"), [
    (b"{not json", None),
    (b"[1, 2]", None),
    (b'{"subject": "Hi", "body": "Hello", "priority": "urgent"}', "priority"),
    (b'{"body": "Hello"}', "subject"),
])
def test_create_ticket_invalid_body(api: ApiWorkspace, content: bytes,
                                    field: str | None) -> None:
    response = api.client("customer").post(
        "/tickets", content=content, headers={"Content-Type": "application/json"})

    assert response.status_code == 422
    assert response.headers["content-type"] == "application/json"
    assert error_of(response)["code"] == "invalid_input"
    assert error_of(response).get("field") == field
    assert error_of(response)["message"]


def test_ticket_hostile_html_stays_data(api: ApiWorkspace) -> None:
    subject = "<script>alert('subject')</script>"
    body = "<img src=x onerror=\"alert('body')\"> & </textarea>"
    ticket = create_ticket(api.client("customer"), subject=subject, body=body)

    for role in ("customer", "agent"):
        response = api.client(role).get(f"/tickets/{ticket['number']}")
        assert response.headers["content-type"] == "application/json"
        assert response.json()["subject"] == subject
        assert response.json()["messages"][0]["body"] == body


def test_get_ticket_other_tenant_not_found(fresh_api: ApiWorkspace,
                                           other_api: ApiWorkspace) -> None:
    create_ticket(fresh_api.client("customer"), subject="First")
    create_ticket(fresh_api.client("customer"), subject="Second")

    own_number = fresh_api.client("agent").get("/tickets/2")
    foreign_number = other_api.client("agent").get("/tickets/2")
    foreign_customer = other_api.client("customer").get("/tickets/1")

    assert own_number.json()["subject"] == "Second"
    assert foreign_number.status_code == 404
    assert error_of(foreign_number)["code"] == "not_found"
    assert foreign_customer.status_code == 404


@pytest.mark.parametrize(("method", "path", "payload"), [
    ("GET", "", None),
    ("PATCH", "", {"version": 1, "priority": "low"}),
    ("GET", "/messages", None),
    ("POST", "/replies", {"body": "Hello"}),
    ("POST", "/notes", {"body": "Hello"}),
    ("GET", "/history", None),
])
def test_ticket_endpoints_other_tenant_agent(api: ApiWorkspace, other_api: ApiWorkspace,
                                             method: str, path: str,
                                             payload: dict[str, Any] | None) -> None:
    ticket = create_ticket(api.client("customer"))
    response = other_api.client("agent").request(method, f"/tickets/{ticket['number']}{path}",
                                                 json=payload)

    assert response.status_code == 404
    assert ticket["subject"] not in response.text


@pytest.mark.parametrize(("method", "path", "payload", "status"), [
    ("GET", "", None, 404),
    ("GET", "/messages", None, 404),
    ("POST", "/replies", {"body": "Hello"}, 404),
    ("PATCH", "", {"version": 1, "priority": "low"}, 403),
    ("POST", "/notes", {"body": "Hello"}, 403),
    ("GET", "/history", None, 403),
])
def test_ticket_endpoints_other_customer(api: ApiWorkspace, method: str, path: str,
                                         payload: dict[str, Any] | None, status: int) -> None:
    ticket = create_ticket(api.client("customer"), subject="Private matter")
    response = api.client("other_customer").request(
        method, f"/tickets/{ticket['number']}{path}", json=payload)

    assert response.status_code == status
    assert "Private matter" not in response.text


def test_customer_never_sees_notes_or_history(api: ApiWorkspace) -> None:
    customer = api.client("customer")
    ticket = create_ticket(customer, subject="Where is my order")
    add_note(api, ticket["number"])
    api.client("agent").post(f"/tickets/{ticket['number']}/replies", json={"body": "On its way"})

    responses = [customer.get(f"/tickets/{ticket['number']}"),
                 customer.get(f"/tickets/{ticket['number']}/messages"),
                 customer.get("/tickets"),
                 customer.get("/tickets", params={"q": NOTE_MARKER})]

    for response in responses:
        assert response.status_code == 200
        assert NOTE_MARKER not in response.text
        assert '"history"' not in response.text
        assert '"visibility"' not in response.text
    assert len(responses[1].json()["items"]) == 2
    assert responses[3].json()["items"] == []


def test_note_customer_forbidden(api: ApiWorkspace) -> None:
    ticket = create_ticket(api.client("customer"))
    response = api.client("customer").post(f"/tickets/{ticket['number']}/notes",
                                           json={"body": "Let me in"})

    assert response.status_code == 403
    assert error_of(response)["code"] == "forbidden"


def test_agent_sees_notes_and_history(api: ApiWorkspace) -> None:
    ticket = create_ticket(api.client("customer"))
    note = add_note(api, ticket["number"])
    messages = api.client("agent").get(f"/tickets/{ticket['number']}/messages").json()["items"]
    history = api.client("admin").get(f"/tickets/{ticket['number']}/history")

    assert note["visibility"] == "internal"
    assert [message["visibility"] for message in messages] == ["public", "internal"]
    assert history.status_code == 200
    assert isinstance(history.json()["items"], list)


def test_reply_customer_reopens_solved(api: ApiWorkspace) -> None:
    ticket = create_ticket(api.client("customer"))
    number = ticket["number"]
    solved = api.client("agent").patch(f"/tickets/{number}",
                                       json={"version": 1, "status": "solved"})
    reply = api.client("customer").post(f"/tickets/{number}/replies",
                                         json={"body": "Still broken"})
    reloaded = api.client("agent").get(f"/tickets/{number}").json()

    assert solved.status_code == 200
    assert reply.status_code == 201
    assert reply.json()["body"] == "Still broken"
    assert reloaded["status"] == "open"
    assert reloaded["history"][-1]["field"] == "status"


def test_update_ticket_changes_fields(api: ApiWorkspace, factory: Factory) -> None:
    team_id = add_team(factory, api.tenant, "Tier 2", [api.user_id("agent2")])
    ticket = create_ticket(api.client("customer"))
    response = api.client("agent").patch(f"/tickets/{ticket['number']}", json={
        "version": 1, "priority": "urgent",
        "team_id": team_id, "assignee_id": api.user_id("agent2"), "tags": ["VIP", "vip"]})

    assert response.status_code == 200, response.text
    assert response.json()["priority"] == "urgent"
    assert response.json()["team_id"] == team_id
    assert response.json()["assignee_id"] == api.user_id("agent2")
    assert response.json()["tags"] == ["vip"]
    assert response.json()["version"] == 2


def test_update_ticket_stale_version(api: ApiWorkspace) -> None:
    ticket = create_ticket(api.client("customer"))
    path = f"/tickets/{ticket['number']}"
    first = api.client("agent").patch(path, json={"version": 1, "priority": "high"})
    second = api.client("agent2").patch(path, json={"version": 1, "priority": "low"})

    assert first.status_code == 200
    assert second.status_code == 409
    assert error_of(second)["code"] == "stale_version"
    assert error_of(second)["field"] == "version"
    assert api.client("agent").get(path).json()["priority"] == "high"


def test_update_ticket_illegal_transition(api: ApiWorkspace) -> None:
    ticket = create_ticket(api.client("customer"))
    response = api.client("agent").patch(f"/tickets/{ticket['number']}",
                                         json={"version": 1, "status": "closed"})

    assert response.status_code == 422
    assert error_of(response)["field"] == "status"
    assert "from new to closed" in error_of(response)["message"]


@pytest.mark.parametrize(("payload", "field"), [
    ({"priority": "low"}, "version"),
    ({"version": "1", "priority": "low"}, "version"),
    ({"version": 1, "subject": "Renamed"}, "subject"),
    ({"version": 1, "status": "done"}, "status"),
])
def test_update_ticket_invalid(api: ApiWorkspace, payload: dict[str, Any], field: str) -> None:
    ticket = create_ticket(api.client("customer"))
    response = api.client("agent").patch(f"/tickets/{ticket['number']}", json=payload)

    assert response.status_code == 422
    assert error_of(response)["field"] == field


def test_list_tickets_customer_only_own(fresh_api: ApiWorkspace,
                                        other_api: ApiWorkspace) -> None:
    own = create_ticket(fresh_api.client("customer"), subject="Mine")
    create_ticket(fresh_api.client("other_customer"), subject="Theirs")

    customer_items = fresh_api.client("customer").get("/tickets").json()["items"]
    agent_items = fresh_api.client("agent").get("/tickets").json()["items"]
    other_agent_items = other_api.client("agent").get("/tickets").json()["items"]

    assert [item["number"] for item in customer_items] == [own["number"]]
    assert "assignee_id" not in customer_items[0]
    assert sorted(item["subject"] for item in agent_items) == ["Mine", "Theirs"]
    assert other_agent_items == []


def test_list_tickets_customer_agent_filter(api: ApiWorkspace) -> None:
    response = api.client("customer").get("/tickets", params={"assignee": "me"})

    assert response.status_code == 403
    assert error_of(response)["field"] == "assignee"


def test_list_tickets_filters(fresh_api: ApiWorkspace) -> None:
    agent = fresh_api.client("agent")
    first = create_ticket(fresh_api.client("customer"), subject="Login fails")
    second = create_ticket(fresh_api.client("customer"), subject="Refund please",
                           body="Charged twice for order 42")
    agent.patch(f"/tickets/{first['number']}", json={
        "version": 1, "assignee_id": fresh_api.user_id("agent"), "tags": ["auth"],
        "priority": "high"})

    def numbers(**params: str) -> list[int]:
        response = agent.get("/tickets", params=params)
        assert response.status_code == 200, response.text
        return [item["number"] for item in response.json()["items"]]

    assert numbers(assignee="me") == [first["number"]]
    assert numbers(tag="auth") == [first["number"]]
    assert numbers(priority="normal") == [second["number"]]
    assert numbers(q="twice") == [second["number"]]
    assert numbers(q="LOGIN") == [first["number"]]
    assert numbers(q="100%") == []
    assert numbers(status="new,open") == [second["number"], first["number"]]
    assert numbers(sort="priority") == [first["number"], second["number"]]
    assert numbers(sort="number", order="asc") == [first["number"], second["number"]]


@pytest.mark.parametrize(("params", "field"), [
    ({"per_page": "101"}, "per_page"),
    ({"per_page": "0"}, "per_page"),
    ({"page": "-1"}, "page"),
    ({"page": "x"}, "page"),
    ({"cursor": "garbage"}, "cursor"),
    ({"cursor": "abc", "page": "2"}, "cursor"),
    ({"sort": "subject"}, "sort"),
    ({"order": "up"}, "order"),
    ({"status": "done"}, "status"),
    ({"team": "abc"}, "team"),
    ({"limit": "5"}, "limit"),
])
def test_list_tickets_invalid_params(api: ApiWorkspace, params: dict[str, str],
                                     field: str) -> None:
    response = api.client("agent").get("/tickets", params=params)

    assert response.status_code == 422
    assert error_of(response)["field"] == field


def walk(api: ApiWorkspace, role: str, params: dict[str, str]) -> tuple[list[int], int]:
    """Follow `next` links from the first page; return the numbers seen and the pages."""
    client = api.client(role)
    response = client.get("/tickets", params=params)
    numbers: list[int] = []
    pages = 0
    while True:
        assert response.status_code == 200, response.text
        numbers.extend(item["number"] for item in response.json()["items"])
        pages += 1
        assert pages <= 10, "pagination does not end"
        next_link = response.json()["next"]
        if next_link is None:
            return numbers, pages
        response = client.get(next_link)


PAGINATIONS = [
    {"per_page": "10"},
    {"per_page": "10", "page": "1"},
    {"per_page": "7", "sort": "priority", "order": "asc"},
    {"per_page": "10", "sort": "updated_at"},
    {"per_page": "100", "sort": "number", "order": "asc"},
]


def test_list_tickets_pagination(fresh_api: ApiWorkspace) -> None:
    for index in range(25):
        ticket = create_ticket(fresh_api.client("customer"), subject=f"Ticket {index}")
        if index % 3 == 0:
            fresh_api.client("agent").patch(f"/tickets/{ticket['number']}",
                                            json={"version": 1, "priority": "urgent"})

    for params in PAGINATIONS:
        agent_numbers, pages = walk(fresh_api, "agent", params)
        customer_numbers, _ = walk(fresh_api, "customer", params)
        assert sorted(agent_numbers) == list(range(1, 26)), params
        assert pages == -(-25 // int(params["per_page"])), params
        assert sorted(customer_numbers) == list(range(1, 26)), params


def test_session_cookie_needs_csrf(api: ApiWorkspace, server: PortalServer) -> None:
    ticket = create_ticket(api.client("customer"))
    path = f"/apps/ticketcloud/api/v1/tickets/{ticket['number']}/replies"

    with signed_in(server, api.users["agent"]) as client:
        with_token = client.post(path, json={"body": "With CSRF token"})
        token = client.headers.pop("X-CSRF-Token")
        without_token = client.post(path, json={"body": "Without CSRF token"})
        read = client.get(f"/apps/ticketcloud/api/v1/tickets/{ticket['number']}/messages")

    assert token
    assert with_token.status_code == 201
    assert without_token.status_code == 403
    assert error_of(without_token)["code"] == "csrf_failed"
    assert [item["body"] for item in read.json()["items"]][1:] == ["With CSRF token"]
    assert with_token.json()["author"] == "Agent"


@pytest.mark.parametrize("path", ["/tickets/99999999999999999999",
                                  "/attachments/99999999999999999999"])
def test_get_huge_id_not_found(api: ApiWorkspace, path: str) -> None:
    response = api.client("agent").get(path)

    assert response.status_code == 404
    assert error_of(response)["code"] == "not_found"


def test_list_tickets_customer_status(fresh_api: ApiWorkspace) -> None:
    customer = fresh_api.client("customer")
    ticket = create_ticket(customer)

    shown_open = customer.get("/tickets", params={"status": "open"})
    shown_solved = customer.get("/tickets", params={"status": "solved"})
    internal_name = customer.get("/tickets", params={"status": "on_hold"})

    assert [item["number"] for item in shown_open.json()["items"]] == [ticket["number"]]
    assert shown_open.json()["items"][0]["status"] == "open"
    assert shown_solved.json()["items"] == []
    assert internal_name.status_code == 422
    assert error_of(internal_name)["field"] == "status"
