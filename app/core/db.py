"""PostgreSQL access for the running service (the runtime role, under RLS).

Repositories run SQL through asyncpg directly: measured on the projects GET path, SQLAlchemy's
async execution layer cost ~45% of throughput (docs/ARCHITECTURE.md, "Data access").
SQLAlchemy stays where it earns its keep: table metadata (models.py) and Alembic migrations.

This module holds the pool and plain connections; every tenant transaction is opened by
app.core.tx (the request's transaction, or a transaction of one's own).
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

import asyncpg
import orjson

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


class _Pool(asyncpg.Pool):  # type: ignore[misc]  # asyncpg has no type stubs
    """asyncpg's pool, releasing an idle connection in place.

    `Pool.release` runs the holder's release in a task of its own (`asyncio.shield`), so that
    a caller cancelled half-way cannot leave the connection neither in use nor free: a task,
    its scheduling and a loop cycle on every release, i.e. every request. A connection outside
    a transaction needs no I/O to be released (`_reset_connection` only rolls back an open
    transaction; there is no reset query), so its release never suspends and no cancellation
    can interrupt it: it is released right here, by the same holder method, without the
    task. Anything else (a transaction left open, a cancellation in progress, a closed or
    foreign connection) takes asyncpg's own path."""

    async def release(self, connection: Any, *,
                      timeout: float | None = None) -> None:  # noqa: ASYNC109 - asyncpg API
        holder = getattr(connection, "_holder", None)
        con = getattr(connection, "_con", None)
        if (holder is None or con is None or holder._pool is not self or con.is_closed()
                or con.is_in_transaction() or con._protocol._is_cancelling()):
            await super().release(connection, timeout=timeout)
            return
        con._on_release()  # what Pool.release does before handing over to the holder
        await holder.release(holder._timeout if timeout is None else timeout)


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


async def connect(url: str, connect_timeout: float = 5.0, *, statement_cache_size: int = 100
                  ) -> asyncpg.Connection:
    conn = await asyncpg.connect(timeout=connect_timeout, statement_cache_size=statement_cache_size,
                                 **asyncpg_connect_kwargs(url))
    await _init_connection(conn)
    return conn


# What needs a session of its own (LISTEN/NOTIFY), so cannot run through a transaction pooler:
# feature -> what happens without DRIFT_DIRECT_DATABASE_URL (docs/scaling.md).
SESSION_FEATURES = {
    "ip_allowlist_cache": "IP allowlist checks read the database on every request (correct, "
                          "slower)",
    "audit_live_stream": "the audit live stream (GET /api/v1/audit/stream) answers 503",
    "worker_wakeups": "worker jobs start on their polling interval instead of at once",
}


class Database:
    """The runtime role's pool. `pooled`: `url` is a transaction pooler (pgbouncer), so no
    named prepared statements; `direct_url`: the same database without the pooler, for the
    session-level LISTEN connections (`listen_url`)."""

    def __init__(self, url: str, *, min_size: int = 2, max_size: int = 10,
                 connect_timeout: float = 5.0, pooled: bool = False,
                 direct_url: str | None = None) -> None:
        self.url = url
        self.min_size = min_size
        self.max_size = max_size
        self.connect_timeout = connect_timeout
        self.pooled = pooled
        self.direct_url = direct_url
        self._pool: asyncpg.Pool | None = None

    @property
    def statement_cache_size(self) -> int:
        # A transaction pooler hands each transaction any server connection: a statement
        # prepared by name on one is unknown on the next (pgbouncer < 1.21 has no
        # max_prepared_statements; docs/scaling.md has the measurement).
        return 0 if self.pooled else 100

    @property
    def listen_url(self) -> str | None:
        """Where a LISTEN connection may go, or None when only a transaction pooler is known."""
        if self.direct_url:
            return self.direct_url
        return None if self.pooled else self.url

    async def connect_listener(self) -> asyncpg.Connection:
        """A session of its own for LISTEN (never through a transaction pooler)."""
        url = self.listen_url
        if url is None:
            raise RuntimeError("LISTEN needs DRIFT_DIRECT_DATABASE_URL behind a pooler")
        return await connect(url, connect_timeout=self.connect_timeout)

    @property
    def pool(self) -> asyncpg.Pool:
        if self._pool is None:
            raise RuntimeError("database not started")
        return self._pool

    async def start(self) -> None:
        # asyncpg.create_pool's own defaults, with the pool class above
        self._pool = await _Pool(
            min_size=self.min_size, max_size=self.max_size, max_queries=50_000,
            init=_init_connection, reset=_reset_connection, timeout=self.connect_timeout,
            max_inactive_connection_lifetime=300.0, loop=None,
            connection_class=asyncpg.Connection, record_class=asyncpg.Record,
            statement_cache_size=self.statement_cache_size,
            **asyncpg_connect_kwargs(self.url),
        )

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()
            self._pool = None

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
    """Refuse to run as a role that RLS does not bind (docs/ARCHITECTURE.md, "PostgreSQL roles")."""
    row = await conn.fetchrow(
        "SELECT current_user AS name, rolsuper, rolbypassrls FROM pg_roles"
        " WHERE rolname = current_user"
    )
    if row is None:
        raise RuntimeError("expected row is not None")
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
