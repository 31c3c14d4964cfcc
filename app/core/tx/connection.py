"""The request's pooled connection (`RequestConnection`), and transactions of one's own
(`own_tx`, `OwnTx`)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING
from uuid import UUID

import asyncpg

from app.core.context import RequestContext
from app.core.db import Database, connection_gone, discard
from app.core.metrics import observe_acquire
from app.core.tx.base import Tx

if TYPE_CHECKING:
    from app.core.tx.request import Enter, RequestTx

log = logging.getLogger("drift.db")


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
            observe_acquire(time.perf_counter() - started)
        return self.conn

    async def begin(self, script: str) -> str:
        """Run `script` (which starts with BEGIN) as one round trip; the status of its last
        statement."""
        conn = await self.get()
        if self.in_tx:
            raise RuntimeError("the request transaction is already open")
        self.in_tx = True
        try:
            status: str = await conn.execute(script)
        except BaseException:
            await self.rollback()
            raise
        return status

    async def run(self, script: str) -> None:
        """A whole transaction as one simple-protocol script (BEGIN ... COMMIT)."""
        conn = await self.get()
        try:
            await conn.execute(script)
        except BaseException:
            if not connection_gone(conn) and conn.is_in_transaction():
                with contextlib.suppress(Exception):
                    await conn.execute("ROLLBACK")
            raise

    async def commit(self) -> None:
        """COMMIT, in the same round trip as the transaction's deferred statements."""
        if self.in_tx and self.conn is not None:
            self.in_tx = False
            script = (self.tx.take_deferred() if self.tx is not None else "") + "COMMIT"
            try:
                await self.conn.execute(script)
            except BaseException:
                if not connection_gone(self.conn) and self.conn.is_in_transaction():
                    with contextlib.suppress(Exception):
                        await self.conn.execute("ROLLBACK")
                raise

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
            tx = Tx(conn, tenant_id, ctx or RequestContext(), deferrable=True)
            yield tx
        except BaseException:
            if not connection_gone(conn):
                await conn.execute("ROLLBACK")
            raise
        try:
            await conn.execute(tx.take_deferred() + "COMMIT")  # one round trip
        except BaseException:
            if not connection_gone(conn) and conn.is_in_transaction():
                with contextlib.suppress(Exception):
                    await asyncio.shield(conn.execute("ROLLBACK"))
            raise


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
                   snapshot: bool = False, idle_timeout: str | None = None,
                   enter: Enter | None = None) -> OwnTx:
        """`enter`: the tenant is entered by the credential's gate (re-verified; on a standby
        nothing is written: how a snapshot on the read replica opens) instead of by setting it."""
        tid = str(UUID(str(tenant_id)))  # a UUID's text form: safe to inline
        begin = "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY;" if snapshot else "BEGIN;"
        entry = (enter.gate_script if enter is not None
                 else f"SELECT set_config('app.tenant_id', '{tid}', true)")
        script = f"{begin} {entry}"
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
