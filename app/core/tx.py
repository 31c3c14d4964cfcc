"""Transactions: the platform's two verbs, and the one place that opens a tenant transaction.

1. **The request's transaction** (`TenantTx` / `ScimTx` dependencies, a `RequestTx` on the
   request's pooled connection). Write requests open it with `BEGIN; SELECT drift_api.enter_*`
   in one round trip (the credential re-verified, the tenant set for this transaction only);
   read-only requests (GET/HEAD) run each SELECT as an implicit transaction of its own with the
   credential check fused in ("one-flight reads", docs/adr/0003-one-flight-reads.md). The
   middleware commits before the response starts when the status is < 400 and rolls back
   otherwise. A handler that must do slow I/O (an HTTP call) calls `await tx.detach()`: the
   transaction commits now and the connection goes back to the pool; whatever it does after
   that goes in a transaction of its own.
2. **A transaction of my own** (`own_tx(db, tenant_id, ctx)`: commits when the block ends,
   rolls back on an exception; `OwnTx.open(..., snapshot=True)` for a long REPEATABLE READ
   read such as the NDJSON export). For the worker, the CLI, denial audit events that must
   survive the request's rollback, and logins/acceptances that know their tenant only from a
   token.

Services never commit; repositories take a `Tx` and never know which verb opened it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, NoReturn
from uuid import UUID

import asyncpg

from app.core.context import RequestContext
from app.core.db import Database, connection_gone, discard
from app.core.metrics import DB_ACQUIRE

log = logging.getLogger("drift.db")


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

    PENDING, READING, OPEN, DETACHED = 0, 1, 2, 3

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
        self._check_attached()
        try:
            self.conn = await self._rconn.begin(self.enter.script)
        except asyncpg.PostgresError as exc:
            await self._refused_or_raise(exc)
        self._state = self.OPEN

    async def detach(self) -> None:
        """Finish the request's transaction now (COMMIT if one is open) and give the
        connection back, so the handler can do slow I/O; nothing may use this Tx after it."""
        if self._state == self.OPEN:
            await self._rconn.commit()
        await self._rconn.release()
        self._state = self.DETACHED

    async def verify(self) -> None:
        """Re-verify the credential when no statement has done it yet (one round trip)."""
        if self._state != self.PENDING:
            return
        await self._gated("fetchval", "SELECT true", ())

    def _check_attached(self) -> None:
        if self._state == self.DETACHED:
            raise RuntimeError("the request transaction was detached; open a transaction of "
                               "your own (own_tx) for work after it")

    async def _refused_or_raise(self, exc: asyncpg.PostgresError) -> NoReturn:
        if getattr(exc, "sqlstate", None) == CREDENTIAL_SQLSTATE:
            await self._on_refused(str(getattr(exc, "message", "") or exc))
        raise exc

    async def _gated(self, kind: str, sql: str, args: tuple[Any, ...]) -> Any:
        self._check_attached()
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


@asynccontextmanager
async def own_tx(db: Database, tenant_id: UUID, ctx: RequestContext | None = None, *,
                 enter: Enter | None = None) -> AsyncIterator[Tx]:
    """A transaction of my own in one tenant: commits on success, rolls back on error. With
    `enter` (a credential's BEGIN script) the credential is re-verified as it opens: a
    refused one raises the database's DR401 error, as the request transaction does."""
    # No acquire timeout: asyncio.wait_for per request costs ~8% of the hot path, and
    # new connections already time out (pool `timeout`); statement_timeout bounds holders.
    async with db.pool.acquire() as conn:
        try:
            await conn.execute(enter.script if enter is not None else begin_tenant_sql(tenant_id))
        except BaseException:
            # A refused credential fails inside `BEGIN; SELECT enter(...)`: end the aborted
            # transaction here, or the pool warns "Resetting connection with an active
            # transaction" when the connection goes back.
            if not connection_gone(conn) and conn.is_in_transaction():
                with contextlib.suppress(Exception):
                    await asyncio.shield(conn.execute("ROLLBACK"))
            raise
        try:
            yield Tx(conn, tenant_id, ctx or RequestContext())
        except BaseException:
            if not connection_gone(conn):
                await conn.execute("ROLLBACK")
            raise
        else:
            await conn.execute("COMMIT")


class OwnTx:
    """A transaction of my own that outlives a `with` block (a streamed response): open it,
    use `.tx`, `close()` it (rolled back: it only reads). `snapshot=True` makes it REPEATABLE
    READ READ ONLY, so every page of a long read sees one snapshot."""

    def __init__(self, db: Database, conn: asyncpg.Connection, tx: Tx) -> None:
        self._db = db
        self._conn: asyncpg.Connection | None = conn
        self.tx = tx

    @classmethod
    async def open(cls, db: Database, tenant_id: UUID, ctx: RequestContext, *,
                   snapshot: bool = False, idle_timeout: str | None = None) -> OwnTx:
        tid = str(UUID(str(tenant_id)))  # a UUID's text form: safe to inline
        begin = "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY;" if snapshot else "BEGIN;"
        script = f"{begin} SELECT set_config('app.tenant_id', '{tid}', true)"
        if idle_timeout is not None:
            seconds = int(idle_timeout.rstrip("s"))  # e.g. "300s": a number we produced
            script += f"; SET LOCAL idle_in_transaction_session_timeout = '{seconds}s'"
        conn = await db.pool.acquire()
        try:
            await conn.execute(script)
        except BaseException:
            await asyncio.shield(_give_back(db, conn))
            raise
        return cls(db, conn, Tx(conn, tenant_id, ctx))

    async def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            await asyncio.shield(_give_back(self._db, conn))


async def _give_back(db: Database, conn: asyncpg.Connection) -> None:
    try:
        if not connection_gone(conn) and conn.is_in_transaction():
            await conn.execute("ROLLBACK")
        await db.pool.release(conn)
    except Exception:
        log.warning("could not return a connection cleanly; discarding it", exc_info=True)
        discard(conn)
        with contextlib.suppress(Exception):
            await db.pool.release(conn)
