"""The mail template API: admins only, per workspace, checked on save, with defaults."""

from __future__ import annotations

from tests.apps.ticketcloud.api.conftest import ApiWorkspace, error_of

TEMPLATES = "/settings/mail-templates"
REPLY = {"subject": "Re: {{ subject }}", "text": "{{ reply_text }}\n-- {{ workspace_name }}",
         "html": "<p>{{ reply_text }}</p>"}


def kinds(body: dict[str, object]) -> dict[str, dict[str, object]]:
    items = body["items"]
    assert isinstance(items, list)
    return {item["kind"]: item for item in items}


def test_templates_list_defaults(fresh_api: ApiWorkspace) -> None:
    body = fresh_api.client("admin").get(TEMPLATES).json()
    listed = kinds(body)

    assert sorted(listed) == ["confirmation", "rating_request", "reply"]
    assert all(item["is_default"] for item in listed.values())
    assert "rating_link" in body["variables"]
    assert listed["reply"]["subject"] == listed["reply"]["default"]["subject"]


def test_templates_agent_forbidden(fresh_api: ApiWorkspace) -> None:
    listing = fresh_api.client("agent").get(TEMPLATES)
    change = fresh_api.client("agent").put(f"{TEMPLATES}/reply", json=REPLY)

    assert listing.status_code == 403
    assert change.status_code == 403


def test_templates_set_and_reset(fresh_api: ApiWorkspace, other_api: ApiWorkspace) -> None:
    admin = fresh_api.client("admin")
    saved = admin.put(f"{TEMPLATES}/reply", json=REPLY)
    mine = kinds(admin.get(TEMPLATES).json())["reply"]
    theirs = kinds(other_api.client("admin").get(TEMPLATES).json())["reply"]
    reset = admin.delete(f"{TEMPLATES}/reply")
    after = kinds(admin.get(TEMPLATES).json())["reply"]

    assert saved.status_code == 200, saved.text
    assert mine["is_default"] is False
    assert mine["html"] == REPLY["html"]
    assert theirs["is_default"] is True
    assert reset.status_code == 204
    assert after["is_default"] is True


def test_templates_syntax_error_rejected_with_line(fresh_api: ApiWorkspace) -> None:
    response = fresh_api.client("admin").put(f"{TEMPLATES}/confirmation", json={
        "subject": "Hi", "text": "Line one\n{{ subject }\n"})

    assert response.status_code == 422
    assert error_of(response)["field"] == "text"
    assert "line 2" in error_of(response)["message"]


def test_templates_hostile_code_rejected(fresh_api: ApiWorkspace) -> None:
    response = fresh_api.client("admin").put(f"{TEMPLATES}/reply", json={
        "subject": "Hi", "text": "{{ cycler.__init__.__globals__.os }}"})

    assert response.status_code == 422
    assert error_of(response)["field"] == "text"
    assert "sandbox" in error_of(response)["message"]


def test_templates_unknown_kind_404(fresh_api: ApiWorkspace) -> None:
    response = fresh_api.client("admin").put(f"{TEMPLATES}/welcome", json=REPLY)

    assert response.status_code == 404
    assert error_of(response)["field"] == "kind"


def test_templates_preview_renders_sample(fresh_api: ApiWorkspace) -> None:
    response = fresh_api.client("admin").post(f"{TEMPLATES}/reply/preview", json=REPLY)
    body = response.json()

    assert response.status_code == 200, response.text
    assert body["subject"] == "Re: Printer on fire"
    assert body["html"] == "<p>We replaced the toner.\nPlease try again.</p>"
    assert kinds(fresh_api.client("admin").get(TEMPLATES).json())["reply"]["is_default"]
