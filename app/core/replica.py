"""The read replica (DRIFT_READ_DATABASE_URL): which heavy reads go there, and when they do not.

A request whose read may run on the replica calls `read(...)` (single statements: the audit
page) or `open_snapshot(...)` (a REPEATABLE READ snapshot: the NDJSON export, the chain
verification). Both, in this order (docs/scaling.md, "Read replicas"):

1. re-verify the request's credential **on the primary**, the request's own way (the gated
   `SELECT true` of app.core.tx.RequestTx.verify, `last_used_at` bookkeeping included): a
   revoked key is refused there on the very next request, whatever the replica has replayed;
2. run the read on the replica with the tenant entered by the credential's own
   `drift_api.enter_<kind>` (as a read's gate), which checks the credential against the
   replica's data too and, on a hot standby, skips its last-use bookkeeping (a standby refuses
   every write);
3. fall back to the primary, and say why (`drift_db_reads_total{database="primary",reason}`,
   the access log's `db`/`db_reason` fields), when the replica is unreachable, lags more than
   DRIFT_READ_MAX_LAG_SECONDS, refuses a credential the primary accepted (a change not yet
   replayed), cancels the read for a recovery conflict, or has not yet replayed the position
   the client's cursor already reached (`complete`/`accept`: a page never skips an event).

Everything stays on the primary when DRIFT_READ_DATABASE_URL is unset.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import asyncpg

from app.core.context import RequestContext
from app.core.db import Database, check_runtime_role, connect
from app.core.metrics import DB_READS, REPLICA_LAG, REPLICA_UP
from app.core.tx import CREDENTIAL_SQLSTATE, OwnTx, ReplicaTx, RequestTx, Tx

log = logging.getLogger("drift.db.replica")

T = TypeVar("T")

PROBE_SECONDS = 1.0   # the lag is measured at most this often per process
RETRY_SECONDS = 5.0   # after a connection failure, the replica is left alone this long

# The replica's lag: 0 when it has replayed everything it received; otherwise how old the
# last replayed transaction is (its commit time on the primary).
_LAG_SQL = """SELECT pg_is_in_recovery() AS standby,
  CASE WHEN NOT pg_is_in_recovery() THEN 0
       WHEN pg_last_wal_receive_lsn() IS NOT DISTINCT FROM pg_last_wal_replay_lsn() THEN 0
       ELSE coalesce(extract(epoch FROM clock_timestamp() - pg_last_xact_replay_timestamp()),
                     0)::float8 END AS lag"""


class ReadReplica:
    """The replica's pool (the runtime role: under RLS there as on the primary), its last
    measured lag, and whether it is usable now."""

    def __init__(self, db: Database, *, max_lag: float) -> None:
        self.db = db
        self.max_lag = max_lag
        self.lag: float | None = None
        self.standby: bool | None = None
        self.error: str | None = None
        self._checked = 0.0
        self._down_until = 0.0
        self._lock = asyncio.Lock()

    async def start(self) -> None:
        """Refuse an unsafe role (as for the primary); an unreachable replica is not fatal:
        reads go to the primary until it answers."""
        try:
            conn = await connect(self.db.url, connect_timeout=self.db.connect_timeout,
                                 statement_cache_size=self.db.statement_cache_size)
        except (OSError, TimeoutError, asyncpg.PostgresError,
                asyncpg.exceptions.InterfaceError) as exc:
            self.failed(exc)
        else:
            try:
                await check_runtime_role(conn)
            finally:
                await conn.close()
        await self.db.start()

    async def close(self) -> None:
        await self.db.close()

    def failed(self, exc: BaseException) -> None:
        """The replica could not be reached: leave it alone for RETRY_SECONDS."""
        self.error = type(exc).__name__
        self._down_until = time.monotonic() + RETRY_SECONDS
        REPLICA_UP.set(0)
        log.warning("read replica unreachable (%s); reading from the primary for %.0f s",
                    self.error, RETRY_SECONDS)

    async def probe(self, *, force: bool = False) -> None:
        """Measure the lag (at most every PROBE_SECONDS unless forced)."""
        async with self._lock:
            now = time.monotonic()
            if not force and (now < self._down_until or now - self._checked < PROBE_SECONDS):
                return
            try:
                async with self.db.pool.acquire() as conn:
                    row = await conn.fetchrow(_LAG_SQL)
            except (OSError, TimeoutError, asyncpg.PostgresError,
                    asyncpg.exceptions.InterfaceError) as exc:
                self.failed(exc)
                return
            self._checked, self._down_until, self.error = now, 0.0, None
            self.standby, self.lag = bool(row["standby"]), float(row["lag"])
            REPLICA_UP.set(1)
            REPLICA_LAG.set(self.lag)

    async def unusable(self) -> str | None:
        """Why the replica cannot serve a read now, or None."""
        await self.probe()
        if time.monotonic() < self._down_until or self.lag is None:
            return "replica_unavailable"
        if self.lag > self.max_lag:
            return "replica_lagging"
        return None

    async def status(self) -> dict[str, Any]:
        """For /readyz: never fails readiness (reads fall back to the primary)."""
        await self.probe(force=True)
        if self.error is not None:
            return {"status": "unreachable", "error": self.error,
                    "reads": "primary (fallback)"}
        lagging = self.lag is not None and self.lag > self.max_lag
        return {"status": "lagging" if lagging else "ok", "lag_seconds": self.lag,
                "max_lag_seconds": self.max_lag, "in_recovery": self.standby,
                "reads": "primary (fallback)" if lagging else "replica"}


def _fallback_reason(exc: BaseException, replica: ReadReplica) -> str | None:
    """What a failed replica read means, or None for an error the primary would give too."""
    state = getattr(exc, "sqlstate", None) or ""
    if state == CREDENTIAL_SQLSTATE:
        return "replica_stale_credential"   # the primary accepted it: not replayed yet
    if state == "40001":
        return "replica_conflict"           # canceled: conflict with recovery
    if (isinstance(exc, OSError | TimeoutError | asyncpg.exceptions.InterfaceError)
            or state.startswith(("08", "57P"))):
        replica.failed(exc)
        return "replica_unavailable"
    return None


def served(ctx: RequestContext, database: str, reason: str | None = None,
           lag: float | None = None) -> None:
    """Say which database answered (metric, and the access log line's fields)."""
    ctx.db = database
    ctx.db_reason = reason
    ctx.replica_lag = lag
    DB_READS.labels(database=database, reason=reason or "").inc()
    if reason not in (None, "not_configured", "replica_behind_cursor"):
        log.info("read served by the primary: %s", reason,
                 extra={"db": database, "db_reason": reason})


async def _verify(tx: Tx) -> bool:
    """Re-verify a request's credential on the primary; True when it may use the replica."""
    if not isinstance(tx, RequestTx):
        return False
    await tx.verify()
    return tx.enter.on_standby


async def read(replica: ReadReplica | None, tx: Tx, run: Callable[[Tx], Awaitable[T]], *,
               complete: Callable[[T], bool] | None = None) -> T:
    """`run(t)` on the replica when it may serve this request, else on `tx` (the primary).
    `complete(result)`: whether the replica's answer is complete for the client's cursor (it
    has replayed at least the position the cursor reached); if not, the primary answers."""
    if replica is None:  # as before: the gated read itself verifies the credential
        served(tx.ctx, "primary", "not_configured")
        return await run(tx)
    if not await _verify(tx) or not isinstance(tx, RequestTx):
        served(tx.ctx, "primary", "credential_kind")
        return await run(tx)
    reason = await replica.unusable()
    if reason is None:
        try:
            async with replica.db.pool.acquire() as conn:
                result = await run(ReplicaTx(conn, tx))
        except (OSError, TimeoutError, asyncpg.PostgresError,
                asyncpg.exceptions.InterfaceError) as exc:
            reason = _fallback_reason(exc, replica)
            if reason is None:
                raise
        else:
            if complete is None or complete(result):
                served(tx.ctx, "replica", lag=replica.lag)
                return result
            reason = "replica_behind_cursor"
    served(tx.ctx, "primary", reason)
    return await run(tx)


async def open_snapshot(replica: ReadReplica | None, db: Database, tx: Tx, *,
                        idle_timeout: str | None = None,
                        accept: Callable[[OwnTx], Awaitable[bool]] | None = None) -> OwnTx:
    """A REPEATABLE READ READ ONLY snapshot of the tenant on a connection of its own: on the
    replica (entered by the standby gate) when it may serve this request and `accept` says
    its snapshot is complete for the client's cursor, else on the primary (`db`)."""
    reason: str | None = "not_configured" if replica is None else "credential_kind"
    if replica is not None and await _verify(tx) and isinstance(tx, RequestTx):
        reason = await replica.unusable()
        if reason is None:
            snap: OwnTx | None = None
            try:
                snap = await OwnTx.open(replica.db, tx.tenant_id, tx.ctx, snapshot=True,
                                        idle_timeout=idle_timeout, enter=tx.enter)
                ok = accept is None or await accept(snap)
            except (OSError, TimeoutError, asyncpg.PostgresError,
                    asyncpg.exceptions.InterfaceError) as exc:
                if snap is not None:
                    await snap.close()
                reason = _fallback_reason(exc, replica)
                if reason is None:
                    raise
            else:
                if ok:
                    served(tx.ctx, "replica", lag=replica.lag)
                    return snap
                await snap.close()
                reason = "replica_behind_cursor"
    served(tx.ctx, "primary", reason)
    return await OwnTx.open(db, tx.tenant_id, tx.ctx, snapshot=True, idle_timeout=idle_timeout)
