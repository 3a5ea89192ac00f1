"""Test helpers: a portal server in a subprocess, and factories for its data.

Tests talk to a real server over HTTP and WebSocket. Factories write through the
portal's own domain functions against the same SQLite (or PostgreSQL) database.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import itertools
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Coroutine, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import httpx
from sqlalchemy import make_url, text
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from portal.auth.sessions import do_issue_api_token
from portal.db import Database
from portal.models import Role, User
from portal.registry import installations
from portal.services import build_services
from portal.settings import REPOSITORY_ROOT, Settings
from portal.tenants import do_create_tenant, do_create_user

T = TypeVar("T")
PASSWORD = "correct horse battery"
_counter = itertools.count(1)

# The suite runs on SQLite unless these name a PostgreSQL cluster and a Redis server
# (scripts/with-pg-redis sets them). Every portal server and every domain test then gets
# a database of its own in that cluster, and the servers share the Redis server, each on
# a channel named after its database.
TEST_DATABASE_URL = os.environ.get("MIPORTAL_TEST_DATABASE_URL", "")
TEST_BUS_URL = os.environ.get("MIPORTAL_TEST_BUS_URL", "")
ON_POSTGRESQL = TEST_DATABASE_URL.startswith("postgresql")
# The database of each data folder that start_server used, on PostgreSQL.
_server_databases: dict[Path, str] = {}


async def create_database(folder: Path, name: str, *, template: str | None = None) -> str:
    """Create an empty database and return its URL: a SQLite file `name` in `folder`, or a
    database in the cluster of MIPORTAL_TEST_DATABASE_URL.

    `template` is the URL of a database that this function made before: the new one
    starts as a copy of it, which is much faster than migrating again.
    """
    if not ON_POSTGRESQL:
        path = folder / f"{name}.sqlite3"
        if template is not None:
            _copy_sqlite(make_url(template).database or "", str(path))
        return f"sqlite+aiosqlite:///{path}"
    database = f"{re.sub(r'[^a-z0-9_]', '_', name.lower())[:30]}_{os.getpid()}_{next(_counter)}"
    statement = f'CREATE DATABASE "{database}"'
    if template is not None:
        statement += f' TEMPLATE "{make_url(template).database}"'
    await _run_on_cluster(statement)
    return make_url(TEST_DATABASE_URL).set(database=database).render_as_string(
        hide_password=False)


def _copy_sqlite(source: str, target: str) -> None:
    # The write-ahead log contains committed pages that the main file may not have yet.
    for suffix in ("", "-wal"):
        if os.path.exists(source + suffix):
            shutil.copyfile(source + suffix, target + suffix)


async def drop_database(url: str) -> None:
    """Drop a PostgreSQL database made by `create_database`; SQLite files stay with
    their temporary folder."""
    if url.startswith("postgresql"):
        await _run_on_cluster(f'DROP DATABASE IF EXISTS "{make_url(url).database}" '
                              "WITH (FORCE)")


async def _run_on_cluster(statement: str) -> None:
    engine = create_async_engine(TEST_DATABASE_URL, isolation_level="AUTOCOMMIT",
                                 poolclass=NullPool)
    try:
        async with engine.connect() as connection:
            await connection.execute(text(statement))
    finally:
        await engine.dispose()


def run_sync(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to completion from synchronous code, even inside a running loop
    (in a thread of its own then)."""
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


def stored_time(value: datetime) -> datetime | str:
    """Return `value` as a raw SQL parameter for a UTCDateTime column of the test
    database: naive UTC text on SQLite, where the column stores that, else the value."""
    if ON_POSTGRESQL:
        return value
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def bus_url_for(database_url: str) -> str:
    """Return the bus URL for a server on `database_url`: the in-process bus on SQLite,
    else MIPORTAL_TEST_BUS_URL with a channel of that database's own."""
    if not TEST_BUS_URL or not database_url.startswith("postgresql"):
        return "memory://"
    separator = "&" if "?" in TEST_BUS_URL else "?"
    return f"{TEST_BUS_URL}{separator}channel={make_url(database_url).database}"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class PortalServer:
    base_url: str
    data_dir: Path
    database_url: str
    process: subprocess.Popen[bytes]
    log_path: Path
    smtp_port: int = 0

    @property
    def ws_url(self) -> str:
        return self.base_url.replace("http://", "ws://") + "/ws"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def start_server(data_dir: Path, *, port: int | None = None, env: dict[str, str] | None = None,
                 seed_demo: bool = True, timeout: float = 30.0) -> PortalServer:
    """Start `python run.py` and wait until /healthz returns ok.

    On PostgreSQL the server gets a new database for a new data folder, unless `env`
    sets MIPORTAL_DATABASE_URL, which lets several servers share one database.
    """
    port = port or free_port()
    data_dir.mkdir(parents=True, exist_ok=True)
    log_path = data_dir / "server.log"
    # Each server gets a free port for its inbound SMTP listener, so that servers of
    # parallel test runs never compete for the default 2525.
    environment = {**os.environ, "MIPORTAL_DEMO_PASSWORD": PASSWORD,
                   "MIPORTAL_SMTP_PORT": str(free_port()), **(env or {})}
    if ON_POSTGRESQL and "MIPORTAL_DATABASE_URL" not in (env or {}):
        # A restart with the same data folder finds its data again, as on SQLite.
        key = data_dir.resolve()
        if key not in _server_databases:
            _server_databases[key] = run_sync(create_database(data_dir, "portal"))
        environment["MIPORTAL_DATABASE_URL"] = _server_databases[key]
    if "MIPORTAL_BUS_URL" not in (env or {}) and environment.get("MIPORTAL_DATABASE_URL"):
        environment["MIPORTAL_BUS_URL"] = bus_url_for(environment["MIPORTAL_DATABASE_URL"])
    if not seed_demo:
        environment.pop("MIPORTAL_DEMO_PASSWORD")
    with log_path.open("ab") as log_file:
        process = subprocess.Popen(
            [sys.executable, str(REPOSITORY_ROOT / "run.py"), "--data-dir", str(data_dir),
             "--port", str(port), "--log-level", "INFO"],
            stdout=log_file, stderr=subprocess.STDOUT, env=environment, cwd=REPOSITORY_ROOT,
        )
    database_url = environment.get("MIPORTAL_DATABASE_URL") or \
        f"sqlite+aiosqlite:///{data_dir.resolve() / 'miportal.sqlite3'}"
    server = PortalServer(f"http://127.0.0.1:{port}", data_dir, database_url, process, log_path,
                          smtp_port=int(environment["MIPORTAL_SMTP_PORT"]))
    wait_until_healthy(server, timeout=timeout)
    return server


def wait_until_healthy(server: PortalServer, *, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"portal exited with {server.process.returncode}:\n{server.log()}")
        try:
            if httpx.get(server.base_url + "/healthz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.05)
    raise TimeoutError(f"portal not healthy after {timeout} s:\n{server.log()}")


def stop_server(server: PortalServer) -> int:
    server.process.terminate()
    try:
        return server.process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        server.process.kill()
        return server.process.wait()


@dataclass(frozen=True)
class TenantInfo:
    id: int
    slug: str


@dataclass(frozen=True)
class UserInfo:
    id: int
    tenant: TenantInfo
    email: str
    role: Role
    password: str = PASSWORD


class Factory:
    """Creates tenants, users, tokens and installations in the server's database."""

    def __init__(self, server: PortalServer) -> None:
        self.server = server

    def _run(self, coroutine_function, *args, **kwargs):  # type: ignore[no-untyped-def]
        async def run():  # type: ignore[no-untyped-def]
            db = Database(self.server.database_url)
            try:
                return await coroutine_function(db, *args, **kwargs)
            finally:
                await db.dispose()

        return run_sync(run())

    def tenant(self, slug: str | None = None) -> TenantInfo:
        slug = slug or f"t{os.getpid()}-{next(_counter)}"

        async def create(db: Database) -> TenantInfo:
            async with db.transaction() as session:
                tenant = await do_create_tenant(session, slug=slug, name=f"Tenant {slug}")
            assert tenant.id is not None
            return TenantInfo(tenant.id, tenant.slug)

        return self._run(create)

    def user(self, tenant: TenantInfo, role: Role | str = Role.AGENT, *,
             email: str | None = None, name: str = "Test User",
             password: str = PASSWORD) -> UserInfo:
        email = email or f"user{next(_counter)}@{tenant.slug}.example"

        async def create(db: Database) -> UserInfo:
            async with db.transaction() as session:
                user = await do_create_user(session, tenant_id=tenant.id, email=email,
                                            name=name, role=str(Role(role).value),
                                            password=password)
            assert user.id is not None
            return UserInfo(user.id, tenant, user.email, user.role, password)

        return self._run(create)

    def api_token(self, user: UserInfo) -> str:
        async def issue(db: Database) -> str:
            async with db.transaction() as session:
                row = await session.get(User, user.id)
                assert row is not None
                return await do_issue_api_token(session, row, name="test")

        return self._run(issue)

    def install(self, tenant: TenantInfo, app_id: str) -> None:
        async def install(db: Database) -> None:
            settings = Settings(data_dir=self.server.data_dir,
                                database_url=self.server.database_url, secret_key="x" * 40)
            services = build_services(settings)
            try:
                await installations.install(services.db, services.registry,
                                            tenant_id=tenant.id, app_id=app_id)
            finally:
                await services.db.dispose()

        self._run(install)

    def execute(self, statement: str, **params: object) -> list[tuple[Any, ...]]:
        """Run one SQL statement in its own transaction and return its rows, if any.
        Tests use it to arrange states the product has no action for, such as an
        expired session, and to inspect what the server stored."""

        async def execute(db: Database) -> list[tuple[Any, ...]]:
            async with db.transaction() as session:
                connection = await session.connection()
                result = await connection.execute(text(statement), params)
                if not result.returns_rows:
                    return []
                return [tuple(row) for row in result.all()]

        return self._run(execute)  # type: ignore[no-any-return, no-untyped-call]


CSRF_INPUT = re.compile(r'name="csrf_token" value="([^"]+)"')


@contextmanager
def signed_in(server: PortalServer, user: UserInfo) -> Iterator[httpx.Client]:
    """Yield an httpx client signed in as `user` through the real sign-in form; its
    `headers` carry the session's CSRF token for unsafe requests."""
    with httpx.Client(base_url=server.base_url, timeout=10) as client:
        sign_in(client, user)
        yield client


def sign_in(client: httpx.Client, user: UserInfo) -> None:
    page = client.get("/login")
    match = CSRF_INPUT.search(page.text)
    assert match, "sign-in form has no CSRF token"
    response = client.post("/login", data={
        "csrf_token": match.group(1), "workspace": user.tenant.slug, "email": user.email,
        "password": user.password, "next": "/",
    })
    assert response.status_code == 303, response.text
    desktop = client.get("/")
    boot = re.search(r'"csrf_token":"([^"]+)"', desktop.text)
    if boot:
        client.headers["X-CSRF-Token"] = boot.group(1)


def session_cookie(client: httpx.Client) -> str:
    value = client.cookies.get("miportal_session")
    assert value, "client is not signed in"
    return value
