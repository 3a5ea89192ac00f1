"""The OpenAPI document: valid OpenAPI 3.1, and complete for every API route."""

from __future__ import annotations

import re
from typing import Any

from jsonschema import Draft202012Validator
from openapi_spec_validator import validate
from starlette.routing import Route

from tests.apps.ticketcloud.api.conftest import ApiWorkspace, add_category, add_team
from tests.support import Factory
from ticketcloud import api_sync
from ticketcloud.api_routes import PREFIX
from ticketcloud.api_routes import routes as ticket_routes
from ticketcloud.openapi import openapi_document

# Every route under the API's prefix; the backend mounts both lists there.
routes = [*ticket_routes, *api_sync.routes]


def document_path(route: Route) -> str:
    """Return a route's path as the document names it: relative to the API's base URL,
    with Starlette's convertors (`{number:int}`) removed."""
    return re.sub(r"\{(\w+):\w+\}", r"{\1}", route.path.removeprefix(PREFIX))


def test_openapi_document_valid() -> None:
    validate(openapi_document("http://127.0.0.1/apps/ticketcloud/api/v1"))


def test_openapi_every_route_documented() -> None:
    paths = openapi_document("http://127.0.0.1")["paths"]
    missing = []
    for route in routes:
        assert isinstance(route, Route)
        for method in sorted((route.methods or set()) - {"HEAD"}):
            operation = paths.get(document_path(route), {}).get(method.lower())
            if operation is None:
                missing.append(f"{method} {route.path}")
    assert missing == []


def test_openapi_every_documented_path_routed() -> None:
    routed = {(document_path(route), method.lower()) for route in routes
              if isinstance(route, Route) for method in route.methods or ()}
    paths = openapi_document("http://127.0.0.1")["paths"]
    documented = {(path, method) for path, item in paths.items() for method in item
                  if method != "parameters"}
    assert documented - routed == set()


def test_openapi_json_served(api: ApiWorkspace) -> None:
    response = api.client("customer").get("/openapi.json")

    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.json()["openapi"] == "3.1.0"
    assert response.json()["servers"][0]["url"].endswith("/apps/ticketcloud/api/v1")
    assert "bearer" in response.json()["components"]["securitySchemes"]


def test_openapi_json_needs_sign_in(api: ApiWorkspace) -> None:
    client = api.client("customer")
    response = client.get("/openapi.json", headers={"Authorization": "Bearer invalid"})

    assert response.status_code == 401


def check_schema(document: dict[str, Any], name: str, instance: object) -> None:
    """Raise when `instance` does not match the document's component schema `name`."""
    schema = {"$ref": f"#/components/schemas/{name}", "components": document["components"]}
    Draft202012Validator(schema).validate(instance)


def test_openapi_schemas_match_responses(api: ApiWorkspace, factory: Factory) -> None:
    add_team(factory, api.tenant, "Schema team", [api.user_id("agent")])
    add_category(factory, api.tenant, "Schema category")
    document = api.client("agent").get("/openapi.json").json()
    ticket = api.client("customer").post("/tickets", json={"subject": "Hi", "body": "Hello"})
    number = ticket.json()["number"]
    api.client("agent").post(f"/tickets/{number}/notes", json={"body": "Note"})
    reply = api.client("agent").post(f"/tickets/{number}/attachments",
                                     files={"file": ("a.txt", b"a", "text/plain")})
    rule = api.client("admin").post("/rules", json={
        "name": "Tag", "conditions": [{"field": "subject", "operator": "contains",
                                       "value": "hi"}],
        "actions": [{"type": "add_tags", "value": ["hi"]}]})

    check_schema(document, "PublicTicket", ticket.json())
    check_schema(document, "AgentTicket", api.client("agent").get(f"/tickets/{number}").json())
    check_schema(document, "PublicTicket",
                 api.client("customer").get(f"/tickets/{number}").json())
    check_schema(document, "AgentMessage", reply.json())
    check_schema(document, "TicketList", api.client("agent").get("/tickets").json())
    check_schema(document, "TicketList", api.client("customer").get("/tickets").json())
    check_schema(document, "Rule", rule.json())
    check_schema(document, "Error", api.client("agent").get("/tickets/999999").json())
    check_schema(document, "DryRun", api.client("admin").post(
        "/rules/dry-run", json={"subject": "hi", "sender_email": "a@example.com"}).json())
    for path, name in [("/teams", "Team"), ("/categories", "Category"), ("/agents", "Agent")]:
        listed = api.client("agent").get(path).json()["items"]
        assert len(listed) >= 1, path
        for item in listed:
            check_schema(document, name, item)
