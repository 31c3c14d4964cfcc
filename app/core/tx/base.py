"""`Tx`: a transaction with the tenant set, what repositories receive."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import asyncpg

from app.core.context import RequestContext
from app.core.tx.literals import inline


class Tx:
    """A transaction with the tenant set. Repositories receive this; services pass it on.

    `principal` is the verified caller when the transaction belongs to a request."""

    __slots__ = ("_lasts", "conn", "ctx", "deferred", "principal", "tenant_id")

    def __init__(self, conn: asyncpg.Connection, tenant_id: UUID, ctx: RequestContext,
                 principal: Any = None, *, deferrable: bool = False) -> None:
        self.conn = conn
        self.tenant_id = tenant_id
        self.ctx = ctx
        self.principal = principal
        # Statements that only append (audit events, outbox rows) and that nothing in the
        # transaction reads back: sent in the same flight as COMMIT (see `defer`). None: this
        # transaction's owner cannot flush them, so they run at once.
        self.deferred: list[str] | None = [] if deferrable else None
        self._lasts = 0  # how many of them, at the end, were deferred with `last`

    async def defer(self, sql: str, *args: Any, last: bool = False) -> None:
        """Run an append-only statement now, or, where the transaction's owner sends COMMIT
        (the request's transaction, `own_tx`), in the same round trip as COMMIT. The values
        are inlined as literals (`literal`), which is exactly as safe as binding them; a value
        that cannot be a literal (a NUL character) makes the statement run at once instead.

        `last`: the statement goes after every other deferred one, whatever the call order.
        The audit insert uses it: its trigger locks the tenant's chain row, while an event's
        fan-out takes the tenant's webhook sequence lock, so every transaction takes the two
        in the same order (sequence, then chain) and two writers of a tenant cannot deadlock
        (docs/ARCHITECTURE.md, "Row locks")."""
        if self.deferred is not None:
            try:
                statement = inline(sql, args)
            except ValueError:
                pass
            else:
                if last:
                    self.deferred.append(statement)
                    self._lasts += 1
                else:  # before the ones deferred with `last`
                    self.deferred.insert(len(self.deferred) - self._lasts, statement)
                return
        await self.execute(sql, *args)

    def take_deferred(self) -> str:
        """The deferred statements as a script prefix (`...; `), emptied."""
        if not self.deferred:
            return ""
        script = "; ".join(self.deferred) + "; "
        self.deferred.clear()
        self._lasts = 0
        return script

    async def fetch(self, sql: str, *args: Any) -> list[asyncpg.Record]:
        return await self.conn.fetch(sql, *args)  # type: ignore[no-any-return]

    async def fetchrow(self, sql: str, *args: Any) -> asyncpg.Record | None:
        return await self.conn.fetchrow(sql, *args)

    async def fetchval(self, sql: str, *args: Any) -> Any:
        return await self.conn.fetchval(sql, *args)

    async def execute(self, sql: str, *args: Any) -> str:
        return await self.conn.execute(sql, *args)  # type: ignore[no-any-return]

    async def run(self, sql: str, *args: Any) -> str:
        """A statement whose result is its status (`INSERT 0 1`, `SELECT 0`), which may be
        sent as text: on a write request whose transaction is not open yet it rides in the
        round trip that opens it (`RequestTx.run`), so a write whose first statement needs
        no rows back costs two round trips, that one and COMMIT's. Sent as text, PostgreSQL
        plans it on every call: for a statement that is costly to plan, call a PL/pgSQL
        function that holds it (`SELECT 1 FROM f(...) AS r(ok) WHERE ok`; PL/pgSQL keeps the
        plan). Elsewhere it is `execute`."""
        return await self.execute(sql, *args)

    async def executemany(self, sql: str, args: Any) -> None:
        await self.conn.executemany(sql, args)
