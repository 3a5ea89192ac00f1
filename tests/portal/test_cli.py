"""The admin command line, run as `python -m portal` against a running server's database."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import httpx

from portal.auth.api_tokens import MAX_ACTIVE_TOKENS
from portal.auth.signin import MAX_FAILURES_PER_ACCOUNT, do_start_attempt
from portal.auth.tokens import API_TOKEN_PREFIX
from portal.db import Database
from portal.mail.compose import derive_key
from portal.models import Role
from portal.rate_limits import RateLimiter
from portal.settings import REPOSITORY_ROOT, load_or_create_secret_key
from tests.support import (
    CSRF_INPUT,
    Factory,
    PortalServer,
    TenantInfo,
    UserInfo,
    run_sync,
    session_cookie,
    signed_in,
)

FIXTURE_APPS = REPOSITORY_ROOT / "tests" / "fixtures" / "apps"
NEW_PASSWORD = "a brand new password"


def run_cli(data_dir: Path, *args: str, database_url: str | None = None, stdin: str = "",
            env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    environment = {key: value for key, value in os.environ.items()
                   if not key.startswith("MIPORTAL_")}
    if database_url:
        environment["MIPORTAL_DATABASE_URL"] = database_url
    environment.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "portal", "--data-dir", str(data_dir), *args],
        input=stdin, capture_output=True, text=True, env=environment, cwd=REPOSITORY_ROOT,
        timeout=60, check=False)


def run_on(server: PortalServer, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return run_cli(server.data_dir, *args, database_url=server.database_url, stdin=stdin)


def new_slug() -> str:
    return f"cli-{uuid.uuid4().hex[:12]}"


def app_status(output: str, app_id: str) -> str:
    for line in output.splitlines():
        columns = line.split()
        if columns and columns[0] == app_id:
            return columns[2]
    raise AssertionError(f"{app_id} is not in the listing:\n{output}")


def greeting_count(factory: Factory, tenant: TenantInfo) -> int:
    ((count,),) = factory.execute(
        "SELECT count(*) FROM hello_greeting WHERE tenant_id = :tenant_id",
        tenant_id=tenant.id)
    return int(count)


def test_create_tenant(server: PortalServer, factory: Factory) -> None:
    slug = new_slug()

    result = run_on(server, "create-tenant", slug, "--name", "Acme Inc.")

    assert result.returncode == 0, result.stderr
    assert f"Created workspace {slug!r}" in result.stdout
    assert factory.execute("SELECT name FROM portal_tenant WHERE slug = :slug",
                           slug=slug) == [("Acme Inc.",)]


def test_create_tenant_bad_slug(server: PortalServer, factory: Factory) -> None:
    result = run_on(server, "create-tenant", "Bad Slug!", "--name", "Bad")

    assert result.returncode == 1
    assert "error: Invalid workspace name 'Bad Slug!'" in result.stderr
    assert "lowercase letters, digits and hyphens" in result.stderr
    assert "Traceback" not in result.stderr
    assert factory.execute("SELECT count(*) FROM portal_tenant WHERE name = 'Bad'") == [(0,)]


def test_create_tenant_duplicate(server: PortalServer, factory: Factory) -> None:
    tenant = factory.tenant()

    result = run_on(server, "create-tenant", tenant.slug, "--name", "Again")

    assert result.returncode == 1
    assert f"error: Workspace {tenant.slug!r} already exists" in result.stderr
    assert factory.execute("SELECT name FROM portal_tenant WHERE slug = :slug",
                           slug=tenant.slug) == [(f"Tenant {tenant.slug}",)]


def test_create_user_password_stdin(server: PortalServer, factory: Factory) -> None:
    tenant = factory.tenant()

    result = run_on(server, "create-user", "--tenant", tenant.slug, "--email", "Ada@Example.com",
                    "--name", "Ada", "--role", "agent", "--password-stdin",
                    stdin=NEW_PASSWORD + "\n")

    assert result.returncode == 0, result.stderr
    assert NEW_PASSWORD not in result.stdout
    ((user_id,),) = factory.execute(
        "SELECT id FROM portal_user WHERE tenant_id = :tenant_id AND email = 'ada@example.com'",
        tenant_id=tenant.id)
    user = UserInfo(user_id, tenant, "ada@example.com", Role.AGENT, NEW_PASSWORD)
    with signed_in(server, user) as client:
        assert client.get("/api/desktop/apps").status_code == 200


def test_create_user_generated_password(server: PortalServer, factory: Factory) -> None:
    tenant = factory.tenant()

    result = run_on(server, "create-user", "--tenant", tenant.slug, "--email", "gen@example.com",
                    "--name", "Gen", "--role", "admin")

    assert result.returncode == 0, result.stderr
    password = result.stdout.split("Password: ")[1].strip()
    ((user_id,),) = factory.execute("SELECT id FROM portal_user WHERE tenant_id = :tenant_id",
                                    tenant_id=tenant.id)
    with signed_in(server, UserInfo(user_id, tenant, "gen@example.com", Role.ADMIN,
                                    password)) as client:
        assert client.get("/api/admin/apps").status_code == 200


def test_create_user_short_password(server: PortalServer, factory: Factory) -> None:
    tenant = factory.tenant()

    result = run_on(server, "create-user", "--tenant", tenant.slug, "--email", "s@example.com",
                    "--name", "Short", "--role", "agent", "--password-stdin", stdin="short\n")

    assert result.returncode == 1
    assert "error: The password is 5 characters long" in result.stderr
    assert factory.execute("SELECT count(*) FROM portal_user WHERE tenant_id = :tenant_id",
                           tenant_id=tenant.id) == [(0,)]


def test_create_user_unknown_tenant(server: PortalServer) -> None:
    result = run_on(server, "create-user", "--tenant", "no-such-workspace", "--email",
                    "x@example.com", "--name", "X", "--role", "agent", "--password-stdin",
                    stdin=NEW_PASSWORD + "\n")

    assert result.returncode == 1
    assert "error: Workspace 'no-such-workspace' not found" in result.stderr


def test_create_user_duplicate_email(server: PortalServer, factory: Factory) -> None:
    user = factory.user(factory.tenant())

    result = run_on(server, "create-user", "--tenant", user.tenant.slug, "--email",
                    user.email.upper(), "--name", "Twin", "--role", "agent",
                    "--password-stdin", stdin=NEW_PASSWORD + "\n")

    assert result.returncode == 1
    assert "already exists" in result.stderr


def test_reset_password_ends_sessions(server: PortalServer, factory: Factory) -> None:
    user = factory.user(factory.tenant())

    with signed_in(server, user) as old_client:
        session_cookie(old_client)
        result = run_on(server, "reset-password", "--tenant", user.tenant.slug, "--email",
                        user.email, "--password-stdin", stdin=NEW_PASSWORD + "\n")
        after_reset = old_client.get("/api/desktop/apps")

    sessions = factory.execute("SELECT count(*) FROM portal_session WHERE user_id = :user_id",
                               user_id=user.id)
    renamed = UserInfo(user.id, user.tenant, user.email, user.role, NEW_PASSWORD)
    with signed_in(server, renamed) as new_client:
        with_new_password = new_client.get("/api/desktop/apps")

    assert result.returncode == 0, result.stderr
    assert "sessions were ended" in result.stdout
    assert after_reset.status_code == 401
    assert sessions == [(0,)]
    assert with_new_password.status_code == 200


def test_reset_password_lifts_throttle(server: PortalServer, factory: Factory) -> None:
    user = factory.user(factory.tenant())
    # Failures counted as the sign-in form does, from an address no other test uses,
    # so the shared server's per-address count for 127.0.0.1 stays untouched.
    run_sync(count_failures(server, user, MAX_FAILURES_PER_ACCOUNT, address="192.0.2.7"))
    with httpx.Client(base_url=server.base_url) as client:
        before = try_sign_in(client, user)

    result = run_on(server, "reset-password", "--tenant", user.tenant.slug, "--email",
                    user.email, "--password-stdin", stdin=NEW_PASSWORD + "\n")
    renamed = UserInfo(user.id, user.tenant, user.email, user.role, NEW_PASSWORD)
    with httpx.Client(base_url=server.base_url) as client:
        after = try_sign_in(client, renamed)

    assert before == 429
    assert result.returncode == 0, result.stderr
    assert "failed sign-ins cleared" in result.stdout
    assert after == 303


async def count_failures(server: PortalServer, user: UserInfo, count: int, *,
                         address: str) -> None:
    """Count `count` failed sign-ins of `user` from `address` in the server's database."""
    database = Database(server.database_url)
    limiter = RateLimiter(database, derive_key(load_or_create_secret_key(server.data_dir),
                                               "rate-limit"))
    try:
        for _ in range(count):
            await do_start_attempt(limiter, workspace=user.tenant.slug, email=user.email,
                                   client_address=address)
    finally:
        await database.dispose()


def try_sign_in(client: httpx.Client, user: UserInfo) -> int:
    page = client.get("/login")
    match = CSRF_INPUT.search(page.text)
    assert match
    response = client.post("/login", data={
        "csrf_token": match.group(1), "workspace": user.tenant.slug, "email": user.email,
        "password": user.password, "next": "/"})
    return response.status_code


def test_reset_password_unknown_user(server: PortalServer, factory: Factory) -> None:
    tenant = factory.tenant()

    result = run_on(server, "reset-password", "--tenant", tenant.slug, "--email",
                    "nobody@example.com", "--password-stdin", stdin=NEW_PASSWORD + "\n")

    assert result.returncode == 1
    assert "error: No user with email 'nobody@example.com'" in result.stderr


def test_issue_token_works(server: PortalServer, factory: Factory) -> None:
    user = factory.user(factory.tenant(), name="Token Holder")

    result = run_on(server, "issue-token", "--tenant", user.tenant.slug, "--email", user.email,
                    "--name", "backup script")

    assert result.returncode == 0, result.stderr
    token = result.stdout.strip()
    assert token.startswith(API_TOKEN_PREFIX)
    response = httpx.get(server.base_url + "/", headers={"authorization": f"Bearer {token}"})
    assert response.status_code == 200
    assert f'"id":{user.id},"name":"Token Holder"' in response.text
    assert factory.execute("SELECT name FROM portal_api_token WHERE user_id = :user_id",
                           user_id=user.id) == [("backup script",)]


def test_issue_token_rejects_blank_name(server: PortalServer, factory: Factory) -> None:
    user = factory.user(factory.tenant())

    result = run_on(server, "issue-token", "--tenant", user.tenant.slug, "--email", user.email,
                    "--name", "   ")

    assert result.returncode == 1
    assert "error: The field name is empty" in result.stderr
    assert factory.execute("SELECT count(*) FROM portal_api_token WHERE user_id = :user_id",
                           user_id=user.id) == [(0,)]


def test_issue_token_keeps_active_cap(server: PortalServer, factory: Factory) -> None:
    user = factory.user(factory.tenant())
    for _ in range(MAX_ACTIVE_TOKENS):
        factory.api_token(user)

    result = run_on(server, "issue-token", "--tenant", user.tenant.slug, "--email", user.email)

    assert result.returncode == 1
    assert f"the maximum is {MAX_ACTIVE_TOKENS}" in result.stderr
    assert factory.execute("SELECT count(*) FROM portal_api_token WHERE user_id = :user_id",
                           user_id=user.id) == [(MAX_ACTIVE_TOKENS,)]


def test_list_tokens(server: PortalServer, factory: Factory) -> None:
    tenant = factory.tenant()
    holder = factory.user(tenant)
    other = factory.user(tenant)
    factory.api_token(holder)
    factory.api_token(other)
    factory.api_token(factory.user(factory.tenant()))

    everyone = run_on(server, "list-tokens", "--tenant", tenant.slug)
    one_user = run_on(server, "list-tokens", "--tenant", tenant.slug, "--email", holder.email)

    assert everyone.returncode == 0, everyone.stderr
    rows = everyone.stdout.splitlines()[1:]
    assert len(rows) == 2
    assert {row.split()[-2] for row in rows} == {holder.email, other.email}
    assert one_user.returncode == 0, one_user.stderr
    [row] = one_user.stdout.splitlines()[1:]
    assert holder.email in row
    assert API_TOKEN_PREFIX not in everyone.stdout


def test_list_tokens_unknown_names(server: PortalServer, factory: Factory) -> None:
    tenant = factory.tenant()

    no_tenant = run_on(server, "list-tokens", "--tenant", new_slug())
    no_user = run_on(server, "list-tokens", "--tenant", tenant.slug, "--email",
                     "nobody@example.com")

    assert no_tenant.returncode == 1
    assert "error:" in no_tenant.stderr
    assert no_user.returncode == 1
    assert "error: No user with email 'nobody@example.com'" in no_user.stderr


def test_revoke_token_works(server: PortalServer, factory: Factory) -> None:
    user = factory.user(factory.tenant())
    token = factory.api_token(user)
    [(token_id,)] = factory.execute("SELECT id FROM portal_api_token WHERE user_id = :user_id",
                                    user_id=user.id)
    headers = {"authorization": f"Bearer {token}"}
    before = httpx.get(server.base_url + "/api/desktop/layout", headers=headers)

    revoked = run_on(server, "revoke-token", "--tenant", user.tenant.slug, "--id", str(token_id))
    again = run_on(server, "revoke-token", "--tenant", user.tenant.slug, "--id", str(token_id))
    after = httpx.get(server.base_url + "/api/desktop/layout", headers=headers)

    assert before.status_code == 200
    assert revoked.returncode == 0, revoked.stderr
    assert f"Revoked API token {token_id}" in revoked.stdout
    assert again.returncode == 0, again.stderr
    assert "already revoked" in again.stdout
    assert after.status_code == 401


def test_revoke_token_other_tenant(server: PortalServer, factory: Factory) -> None:
    user = factory.user(factory.tenant())
    factory.api_token(user)
    [(token_id,)] = factory.execute("SELECT id FROM portal_api_token WHERE user_id = :user_id",
                                    user_id=user.id)
    other = factory.tenant()

    result = run_on(server, "revoke-token", "--tenant", other.slug, "--id", str(token_id))

    assert result.returncode == 1
    assert f"error: No API token with id {token_id} in workspace {other.slug!r}" in result.stderr
    assert factory.execute("SELECT revoked_at FROM portal_api_token WHERE id = :id",
                           id=token_id) == [(None,)]


def test_apps_install_uninstall(server: PortalServer, factory: Factory) -> None:
    tenant = factory.tenant()
    user = factory.user(tenant)

    before = run_on(server, "apps", "list", "--tenant", tenant.slug)
    installed = run_on(server, "apps", "install", "hello", "--tenant", tenant.slug)
    listed = run_on(server, "apps", "list", "--tenant", tenant.slug)
    with signed_in(server, user) as client:
        created = client.post("/apps/hello/api/greetings", json={"text": "from the CLI test"})
    uninstalled = run_on(server, "apps", "uninstall", "hello", "--tenant", tenant.slug)
    with signed_in(server, user) as client:
        hidden = client.get("/apps/hello/api/greetings")

    assert app_status(before.stdout, "hello") == "available"
    assert installed.returncode == 0, installed.stderr
    assert app_status(listed.stdout, "hello") == "installed"
    assert app_status(listed.stdout, "system") == "installed"
    assert created.status_code == 201
    assert uninstalled.returncode == 0, uninstalled.stderr
    assert hidden.status_code == 404
    assert greeting_count(factory, tenant) == 1


def test_apps_purge_only_own_tenant(server: PortalServer, factory: Factory) -> None:
    purged_tenant = factory.tenant()
    kept_tenant = factory.tenant()
    for tenant in (purged_tenant, kept_tenant):
        factory.install(tenant, "hello")
        with signed_in(server, factory.user(tenant)) as client:
            client.post("/apps/hello/api/greetings", json={"text": "hi"})

    result = run_on(server, "apps", "uninstall", "hello", "--tenant", purged_tenant.slug, "--purge")
    listed = run_on(server, "apps", "list", "--tenant", purged_tenant.slug)

    assert result.returncode == 0, result.stderr
    assert "Purged hello" in result.stdout
    assert greeting_count(factory, purged_tenant) == 0
    assert greeting_count(factory, kept_tenant) == 1
    assert app_status(listed.stdout, "hello") == "available"


def test_apps_builtin_and_unknown(server: PortalServer, factory: Factory) -> None:
    tenant = factory.tenant()

    system = run_on(server, "apps", "uninstall", "system", "--tenant", tenant.slug)
    unknown = run_on(server, "apps", "install", "no_such_app", "--tenant", tenant.slug)

    assert system.returncode == 1
    assert "part of the portal and cannot be uninstalled" in system.stderr
    assert unknown.returncode == 1
    assert "error: App 'no_such_app' not found" in unknown.stderr


def test_apps_broken(tmp_path: Path) -> None:
    env = {"MIPORTAL_APPS_DIR": str(FIXTURE_APPS)}
    created = run_cli(tmp_path, "create-tenant", "acme", "--name", "Acme", env=env)

    listed = run_cli(tmp_path, "apps", "list", env=env)
    install = run_cli(tmp_path, "apps", "install", "fixture_import_error", "--tenant", "acme",
                      env=env)

    assert created.returncode == 0, created.stderr
    broken_lines = [line for line in listed.stdout.splitlines() if "BROKEN" in line]
    assert any(line.startswith("fixture_import_error") and "fails on purpose" in line
               for line in broken_lines), listed.stdout
    assert len(broken_lines) == 7
    assert install.returncode == 1
    assert "'fixture_import_error' is broken and cannot be installed" in install.stderr

