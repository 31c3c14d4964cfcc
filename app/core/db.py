"""PostgreSQL access for the running service (the runtime role, under RLS).

Repositories run SQL through asyncpg directly: measured on the projects GET path, SQLAlchemy's
async execution layer cost ~45% of throughput (docs/ARCHITECTURE.md, "Data access").
SQLAlchemy stays where it earns its keep: table metadata (models.py) and Alembic migrations.

Tenant isolation: every tenant transaction is `BEGIN; SELECT set_config('app.tenant_id', ..,
true)` sent as one round trip; the setting is transaction-local, so a pooled connection never
carries a tenant into the next request.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit
from uuid import UUID

import asyncpg
import orjson

from app.core.context import RequestContext

log = logging.getLogger("drift.db")


class UnsafeDatabaseRole(RuntimeError):
    """The runtime role could bypass row-level security; the service will not start."""


def asyncpg_connect_kwargs(url: str) -> dict[str, Any]:
    """Split a plain postgresql:// URL into asyncpg.connect() keyword arguments."""
    parts = urlsplit(url)
    kwargs: dict[str, Any] = {
        "user": unquote(parts.username) if parts.username else None,
        "password": unquote(parts.password) if parts.password else None,
        "database": unquote(parts.path.lstrip("/")) or None,
        "host": parts.hostname,
        "port": parts.port,
    }
    for key, value in parse_qsl(parts.query):
        if key == "host":
            kwargs["host"] = value
        elif key == "port":
            kwargs["port"] = int(value)
        elif key == "sslmode":
            kwargs["ssl"] = value
    return {k: v for k, v in kwargs.items() if v is not None}


async def _init_connection(conn: asyncpg.Connection) -> None:
    await conn.set_type_codec("jsonb", encoder=lambda v: orjson.dumps(v).decode(),
                              decoder=orjson.loads, schema="pg_catalog")
    await conn.set_type_codec("json", encoder=lambda v: orjson.dumps(v).decode(),
                              decoder=orjson.loads, schema="pg_catalog")


async def _reset_connection(conn: asyncpg.Connection) -> None:
    # We never change session state (tenant is SET LOCAL, no session LISTEN on pooled
    # connections), so the only thing to undo is a transaction left open by an error path.
    if conn.is_in_transaction():
        await conn.execute("ROLLBACK")


def connection_gone(conn: asyncpg.Connection) -> bool:
    """True when the connection cannot be used any more. When the server ends the session of
    a pooled connection (a restart, a terminated backend), asyncpg detaches it from its pool
    proxy at once, and every call on the proxy, is_closed() included, then raises
    InterfaceError: that connection is gone too."""
    try:
        return bool(conn.is_closed())
    except asyncpg.exceptions.InterfaceError:
        return True


def discard(conn: asyncpg.Connection) -> None:
    """Terminate a connection that may already be gone."""
    if not connection_gone(conn):
        conn.terminate()


async def connect(url: str, connect_timeout: float = 5.0) -> asyncpg.Connection:
    conn = await asyncpg.connect(timeout=connect_timeout, **asyncpg_connect_kwargs(url))
    await _init_connection(conn)
    return conn


class Tx:
    """A transaction with the tenant set. Repositories receive this; services pass it on.

    `principal` is the verified caller when the transaction belongs to a request."""

    __slots__ = ("conn", "ctx", "principal", "tenant_id")

    def __init__(self, conn: asyncpg.Connection, tenant_id: UUID, ctx: RequestContext,
                 principal: Any = None) -> None:
        self.conn = conn
        self.tenant_id = tenant_id
        self.ctx = ctx
        self.principal = principal

    async def fetch(self, sql: str, *args: Any) -> list[asyncpg.Record]:
        return await self.conn.fetch(sql, *args)  # type: ignore[no-any-return]

    async def fetchrow(self, sql: str, *args: Any) -> asyncpg.Record | None:
        return await self.conn.fetchrow(sql, *args)

    async def fetchval(self, sql: str, *args: Any) -> Any:
        return await self.conn.fetchval(sql, *args)

    async def execute(self, sql: str, *args: Any) -> str:
        return await self.conn.execute(sql, *args)  # type: ignore[no-any-return]

    async def executemany(self, sql: str, args: Any) -> None:
        await self.conn.executemany(sql, args)


def begin_tenant_sql(tenant_id: UUID) -> str:
    # tenant_id is a uuid.UUID, so its text form is exactly 36 hex-and-dash characters:
    # safe to inline, which lets BEGIN and the tenant setting share one round trip.
    tid = str(UUID(str(tenant_id)))
    return f"BEGIN; SELECT set_config('app.tenant_id', '{tid}', true)"


class RequestConnection:
    """One pooled connection for one HTTP request, acquired on first use.

    The request's tenant transaction runs on it; RequestContextMiddleware finishes it just
    before the response starts (COMMIT for status < 400, ROLLBACK otherwise) and releases it.
    Authentication lookups reuse the same connection, so a request acquires at most one."""

    __slots__ = ("_pool", "conn", "in_tx")

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool
        self.conn: asyncpg.Connection | None = None
        self.in_tx = False

    async def get(self) -> asyncpg.Connection:
        if self.conn is None:
            self.conn = await self._pool.acquire()
        return self.conn

    async def begin(self, script: str) -> asyncpg.Connection:
        """Run `script` (which starts with BEGIN) as one round trip."""
        conn = await self.get()
        if self.in_tx:
            raise RuntimeError("the request transaction is already open")
        self.in_tx = True
        try:
            await conn.execute(script)
        except BaseException:
            await self.rollback()
            raise
        return conn

    async def commit(self) -> None:
        if self.in_tx and self.conn is not None:
            self.in_tx = False
            await self.conn.execute("COMMIT")

    async def rollback(self) -> None:
        if self.conn is not None and self.in_tx:
            self.in_tx = False
            if not connection_gone(self.conn):
                try:
                    await self.conn.execute("ROLLBACK")
                except Exception:
                    log.warning("rollback failed; discarding connection", exc_info=True)
                    discard(self.conn)

    async def release(self) -> None:
        conn, self.conn = self.conn, None
        if conn is None:
            return
        if self.in_tx:
            self.in_tx = False
            if not connection_gone(conn):
                try:
                    await conn.execute("ROLLBACK")
                except Exception:
                    discard(conn)
        await self._pool.release(conn)  # a no-op for a connection asyncpg already detached


class Database:
    def __init__(self, url: str, *, min_size: int = 2, max_size: int = 10,
                 connect_timeout: float = 5.0) -> None:
        self.url = url
        self.min_size = min_size
        self.max_size = max_size
        self.connect_timeout = connect_timeout
        self._pool: asyncpg.Pool | None = None

    @property
    def pool(self) -> asyncpg.Pool:
        if self._pool is None:
            raise RuntimeError("database not started")
        return self._pool

    async def start(self) -> None:
        self._pool = await asyncpg.create_pool(
            min_size=self.min_size, max_size=self.max_size, init=_init_connection,
            reset=_reset_connection, timeout=self.connect_timeout,
            max_inactive_connection_lifetime=300.0,
            **asyncpg_connect_kwargs(self.url),
        )

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()
            self._pool = None

    @asynccontextmanager
    async def tenant(self, tenant_id: UUID, ctx: RequestContext | None = None
                     ) -> AsyncIterator[Tx]:
        """A transaction scoped to one tenant; commits on success, rolls back on error."""
        # No acquire timeout: asyncio.wait_for per request costs ~8% of the hot path, and
        # new connections already time out (pool `timeout`); statement_timeout bounds holders.
        async with self.pool.acquire() as conn:
            await conn.execute(begin_tenant_sql(tenant_id))
            try:
                yield Tx(conn, tenant_id, ctx or RequestContext())
            except BaseException:
                if not connection_gone(conn):
                    await conn.execute("ROLLBACK")
                raise
            else:
                await conn.execute("COMMIT")

    def request_connection(self) -> RequestConnection:
        return RequestConnection(self.pool)

    async def fetchrow(self, sql: str, *args: Any) -> asyncpg.Record | None:
        """One statement outside any tenant (definer-function calls before the tenant is known)."""
        async with self.pool.acquire() as conn:
            return await conn.fetchrow(sql, *args)

    async def fetch(self, sql: str, *args: Any) -> list[asyncpg.Record]:
        async with self.pool.acquire() as conn:
            return await conn.fetch(sql, *args)  # type: ignore[no-any-return]

    async def fetchval(self, sql: str, *args: Any) -> Any:
        async with self.pool.acquire() as conn:
            return await conn.fetchval(sql, *args)


async def check_runtime_role(conn: asyncpg.Connection) -> None:
    """Refuse to run as a role that RLS does not bind (DESIGN.md, load-bearing)."""
    row = await conn.fetchrow(
        "SELECT current_user AS name, rolsuper, rolbypassrls FROM pg_roles"
        " WHERE rolname = current_user"
    )
    assert row is not None
    problems = []
    if row["rolsuper"]:
        problems.append("is a superuser")
    if row["rolbypassrls"]:
        problems.append("has BYPASSRLS")
    owned = await conn.fetch(
        "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
        " WHERE c.relkind IN ('r', 'p') AND n.nspname = 'public'"
        " AND pg_get_userbyid(c.relowner) = current_user ORDER BY 1 LIMIT 5"
    )
    if owned:
        problems.append("owns tables (" + ", ".join(r["relname"] for r in owned) + ")")
    if problems:
        raise UnsafeDatabaseRole(
            f"Refusing to start: the runtime database role {row['name']!r} "
            + " and ".join(problems)
            + ", so PostgreSQL row-level security would not isolate tenants. Point "
            "DRIFT_DATABASE_URL at a LOGIN NOSUPERUSER NOBYPASSRLS role that owns nothing "
            "(see `drift-cloud db bootstrap`)."
        )
