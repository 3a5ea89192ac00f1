"""Attachments through the REST API: size caps, safe downloads, and who may read them."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.apps.ticketcloud.api.conftest import ApiWorkspace, create_ticket, error_of
from tests.support import Factory, PortalServer
from ticketcloud.attachments import MAX_ATTACHMENT_BYTES, MAX_TOTAL_BYTES

HOSTILE_NAME = "../../evil.html"
HOSTILE_HTML = b"<html><script>alert(document.cookie)</script></html>"


def upload(api: ApiWorkspace, role: str, number: int, files: list[tuple[str, Any]],
           **fields: str) -> Any:
    return api.client(role).post(f"/tickets/{number}/attachments", files=files, data=fields)


def stored_files(server: PortalServer, api: ApiWorkspace) -> set[str]:
    """Return the names of the files in the workspace's attachment folder."""
    folder = server.data_dir / "apps" / "ticketcloud" / str(api.tenant.id)
    return {path.name for path in folder.iterdir()} if folder.exists() else set()


def attachment_rows(factory: Factory, api: ApiWorkspace) -> list[tuple[Any, ...]]:
    return factory.execute("SELECT stored_name, filename, content_type FROM "
                           "ticketcloud_attachment WHERE tenant_id = :tenant ORDER BY id",
                           tenant=api.tenant.id)


def test_upload_hostile_file_served_as_download(api: ApiWorkspace, server: PortalServer,
                                                factory: Factory) -> None:
    ticket = create_ticket(api.client("customer"))
    rows_before = set(attachment_rows(factory, api))
    files_before = stored_files(server, api)

    response = upload(api, "customer", ticket["number"],
                      [("file", (HOSTILE_NAME, HOSTILE_HTML, "text/html"))])
    attachment = response.json()["attachments"][0]
    download = api.client("agent").get(f"/attachments/{attachment['id']}")
    new_rows = set(attachment_rows(factory, api)) - rows_before
    new_files = stored_files(server, api) - files_before

    assert response.status_code == 201, response.text
    assert response.json()["body"] == f"Attached {attachment['filename']}"
    assert "/" not in attachment["filename"]
    assert download.status_code == 200
    assert download.content == HOSTILE_HTML
    assert download.headers["content-type"] == "application/octet-stream"
    assert download.headers["x-content-type-options"] == "nosniff"
    assert download.headers["content-disposition"] == (
        "attachment; filename*=UTF-8''_.._evil.html")
    assert len(new_rows) == 1
    stored_name, filename, content_type = new_rows.pop()
    assert re.fullmatch(r"[0-9a-f]{32}", stored_name)
    assert filename == "_.._evil.html"
    assert content_type == "text/html"
    assert new_files == {stored_name}


def test_upload_safe_type_keeps_content_type(api: ApiWorkspace) -> None:
    ticket = create_ticket(api.client("customer"))
    response = upload(api, "customer", ticket["number"],
                      [("file", ("notes; v2 ü.txt", b"plain text", "text/plain"))],
                      body="See file")
    download = api.client("customer").get(f"/attachments/{response.json()['attachments'][0]['id']}")

    assert response.json()["body"] == "See file"
    assert download.headers["content-type"].startswith("text/plain")
    assert download.headers["content-disposition"] == (
        "attachment; filename*=UTF-8''notes%3B%20v2%20%C3%BC.txt")


def test_upload_oversized_file_rejected(api: ApiWorkspace, server: PortalServer,
                                        factory: Factory) -> None:
    ticket = create_ticket(api.client("customer"))
    rows_before = attachment_rows(factory, api)
    files_before = stored_files(server, api)
    too_big = b"x" * (MAX_ATTACHMENT_BYTES + 1)

    response = upload(api, "customer", ticket["number"],
                      [("file", ("small.txt", b"ok", "text/plain")),
                       ("file", ("big.bin", too_big, "application/octet-stream"))])
    messages = api.client("agent").get(f"/tickets/{ticket['number']}/messages")

    assert response.status_code == 422
    assert error_of(response)["field"] == "attachments"
    assert "big.bin" in error_of(response)["message"]
    assert f"{MAX_ATTACHMENT_BYTES:,}" in error_of(response)["message"]
    assert attachment_rows(factory, api) == rows_before
    assert stored_files(server, api) == files_before
    assert len(messages.json()["items"]) == 1


def test_upload_oversized_request_rejected(api: ApiWorkspace, server: PortalServer,
                                           factory: Factory) -> None:
    ticket = create_ticket(api.client("customer"))
    rows_before = attachment_rows(factory, api)
    files_before = stored_files(server, api)
    part = b"x" * (MAX_TOTAL_BYTES // 3 + 1)

    response = upload(api, "customer", ticket["number"],
                      [("file", (f"part{index}.bin", part, "application/octet-stream"))
                       for index in range(4)])

    assert response.status_code == 413
    assert error_of(response)["code"] == "too_large"
    assert f"{MAX_TOTAL_BYTES:,}" in error_of(response)["message"]
    assert attachment_rows(factory, api) == rows_before
    assert stored_files(server, api) == files_before


A_FILE = ("a.txt", b"a", "text/plain")


@pytest.mark.parametrize(("files", "fields", "field"), [
    ({"other": A_FILE}, {}, "other"),
    ({"file": A_FILE}, {"colour": "red"}, "colour"),
    ({"body": (None, b"No file here")}, {}, "file"),
])
def test_upload_invalid_form(api: ApiWorkspace, files: dict[str, Any], fields: dict[str, str],
                             field: str) -> None:
    ticket = create_ticket(api.client("customer"))
    response = api.client("customer").post(
        f"/tickets/{ticket['number']}/attachments", files=files,
        data=fields)

    assert response.status_code == 422
    assert error_of(response)["field"] == field


def test_upload_internal_customer_forbidden(api: ApiWorkspace) -> None:
    ticket = create_ticket(api.client("customer"))
    response = upload(api, "customer", ticket["number"],
                      [("file", ("a.txt", b"a", "text/plain"))], visibility="internal")

    assert response.status_code == 403


def test_download_access_per_role_and_tenant(api: ApiWorkspace, other_api: ApiWorkspace) -> None:
    ticket = create_ticket(api.client("customer"))
    public = upload(api, "customer", ticket["number"],
                    [("file", ("public.txt", b"public", "text/plain"))]).json()
    internal = upload(api, "agent", ticket["number"],
                      [("file", ("internal.txt", b"secret", "text/plain"))],
                      visibility="internal").json()
    public_id = public["attachments"][0]["id"]
    internal_id = internal["attachments"][0]["id"]

    assert api.client("customer").get(f"/attachments/{public_id}").status_code == 200
    assert api.client("agent").get(f"/attachments/{internal_id}").status_code == 200
    assert api.client("customer").get(f"/attachments/{internal_id}").status_code == 404
    assert api.client("other_customer").get(f"/attachments/{public_id}").status_code == 404
    assert other_api.client("agent").get(f"/attachments/{public_id}").status_code == 404
    assert other_api.client("admin").get(f"/attachments/{internal_id}").status_code == 404
    assert api.client("agent").get("/attachments/999999999").status_code == 404
    customer_view = api.client("customer").get(f"/tickets/{ticket['number']}").text
    assert "internal.txt" not in customer_view


def test_upload_other_customer_not_found(api: ApiWorkspace, other_api: ApiWorkspace,
                                         factory: Factory) -> None:
    ticket = create_ticket(api.client("customer"))
    before = len(attachment_rows(factory, api))
    files = [("file", ("a.txt", b"a", "text/plain"))]

    assert upload(api, "other_customer", ticket["number"], files).status_code == 404
    assert upload(other_api, "agent", ticket["number"], files).status_code == 404
    assert len(attachment_rows(factory, api)) == before
