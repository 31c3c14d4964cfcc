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
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, NoReturn
from urllib.parse import parse_qsl, unquote, urlsplit
from uuid import UUID

import asyncpg
import orjson

from app.core.context import RequestContext
from app.core.metrics import DB_ACQUIRE

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


CREDENTIAL_SQLSTATE = "DR401"  # raised by drift_api.enter_* when a credential is refused

SAFE_METHODS = frozenset({"GET", "HEAD"})


class Enter:
    """How a request's credential enters its tenant, two ways:

    - `script`: `BEGIN; SELECT drift_api.enter_*(...)`, one simple-protocol round trip that
      opens the request's transaction (every value inlined is produced from typed values);
    - `gate(args)`: the STABLE `drift_api.gate_*` function, appended as a pseudo-constant
      condition to a read so that the read itself enters (docs/ARCHITECTURE.md, "One-flight
      reads")."""

    __slots__ = ("args", "gate", "script")

    def __init__(self, script: str, gate: str, args: tuple[Any, ...]) -> None:
        self.script = script
        self.gate = gate
        self.args = args


class PrincipalChanged(Exception):
    """The cached principal's role or email no longer matches the database. Raised from the
    first statement of a read-only request; the middleware runs the request again once with
    the credential looked up afresh (GET/HEAD: nothing was read by the client, nothing
    written)."""


RefusedHandler = Callable[[str], Awaitable[NoReturn]]

_wrapped: dict[tuple[str, str, int], str] = {}


def gated(sql: str, gate: str, nargs: int, ngate: int) -> str:
    """`sql` as one statement that first passes the gate (cached: the text is stable, so
    asyncpg's prepared-statement cache keeps working)."""
    key = (sql, gate, nargs)
    text = _wrapped.get(key)
    if text is None:
        params = ", ".join(f"${nargs + i + 1}" for i in range(ngate))
        text = f"SELECT * FROM ({sql}) AS _drift_q WHERE {gate}({params})"
        if len(_wrapped) > 4096:
            _wrapped.clear()
        _wrapped[key] = text
    return text


def _fusable(sql: str) -> bool:
    head = sql.lstrip()[:6].upper()
    return head == "SELECT" or head.startswith("WITH")


class RequestTx(Tx):
    """The request's transaction: the tenant is entered by the first statement.

    Write requests (any method but GET/HEAD) open it eagerly: `BEGIN; SELECT enter(...)` in
    one round trip, then the statements, then COMMIT by the middleware before the response.

    Read-only requests (GET/HEAD) send nothing up front. Each SELECT runs as an implicit
    transaction of its own with the gate inside it: one round trip per statement, the
    credential re-verified and the tenant set in that same statement, the transaction made
    read-only after entering, nothing left set afterwards. Under READ COMMITTED (the
    service's isolation level) statements of one transaction already read separate snapshots,
    so this changes no result a read can see. A statement that is not a SELECT opens a real
    transaction first (a write in a GET, which the database then refuses to treat as
    read-only). A request whose handler ran no statement at all is verified by the middleware
    before its response goes out (`verify`)."""

    __slots__ = ("_on_refused", "_rconn", "_state", "enter", "read_only")

    PENDING, READING, OPEN = 0, 1, 2

    def __init__(self, rconn: RequestConnection, tenant_id: UUID, ctx: RequestContext,
                 principal: Any, enter: Enter, on_refused: RefusedHandler, *,
                 read_only: bool) -> None:
        super().__init__(None, tenant_id, ctx, principal)
        self._rconn = rconn
        self._on_refused = on_refused
        self._state = self.PENDING
        self.enter = enter
        self.read_only = read_only
        rconn.tx = self

    @property
    def pending(self) -> bool:
        return self._state == self.PENDING

    async def open(self) -> None:
        """Open the request's real transaction (BEGIN + enter in one round trip)."""
        if self._state == self.OPEN:
            return
        try:
            self.conn = await self._rconn.begin(self.enter.script)
        except asyncpg.PostgresError as exc:
            await self._refused_or_raise(exc)
        self._state = self.OPEN

    async def verify(self) -> None:
        """Re-verify the credential when no statement has done it yet (one round trip)."""
        if self._state != self.PENDING:
            return
        await self._gated("fetchval", "SELECT true", ())

    async def _refused_or_raise(self, exc: asyncpg.PostgresError) -> NoReturn:
        if getattr(exc, "sqlstate", None) == CREDENTIAL_SQLSTATE:
            await self._on_refused(str(getattr(exc, "message", "") or exc))
        raise exc

    async def _gated(self, kind: str, sql: str, args: tuple[Any, ...]) -> Any:
        conn = await self._rconn.get()
        self.conn = conn
        enter = self.enter
        text = gated(sql, enter.gate, len(args), len(enter.args))
        try:
            result = await getattr(conn, kind)(text, *args, *enter.args)
        except asyncpg.PostgresError as exc:
            await self._refused_or_raise(exc)
        self._state = self.READING
        return result

    async def fetch(self, sql: str, *args: Any) -> list[asyncpg.Record]:
        if self._state != self.OPEN:
            if self.read_only and _fusable(sql):
                return await self._gated("fetch", sql, args)  # type: ignore[no-any-return]
            await self.open()
        return await self.conn.fetch(sql, *args)  # type: ignore[no-any-return]

    async def fetchrow(self, sql: str, *args: Any) -> asyncpg.Record | None:
        if self._state != self.OPEN:
            if self.read_only and _fusable(sql):
                return await self._gated("fetchrow", sql, args)
            await self.open()
        return await self.conn.fetchrow(sql, *args)

    async def fetchval(self, sql: str, *args: Any) -> Any:
        if self._state != self.OPEN:
            if self.read_only and _fusable(sql):
                return await self._gated("fetchval", sql, args)
            await self.open()
        return await self.conn.fetchval(sql, *args)

    async def execute(self, sql: str, *args: Any) -> str:
        if self._state != self.OPEN:
            await self.open()
        return await self.conn.execute(sql, *args)  # type: ignore[no-any-return]

    async def executemany(self, sql: str, args: Any) -> None:
        if self._state != self.OPEN:
            await self.open()
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

    __slots__ = ("_pool", "conn", "in_tx", "tx")

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool
        self.conn: asyncpg.Connection | None = None
        self.in_tx = False
        self.tx: RequestTx | None = None  # the request transaction, once a dependency made it

    async def get(self) -> asyncpg.Connection:
        if self.conn is None:
            started = time.perf_counter()
            self.conn = await self._pool.acquire()
            DB_ACQUIRE.observe(time.perf_counter() - started)
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
