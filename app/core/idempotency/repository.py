"""SQL of idempotency keys (table idempotency_keys, migration 0010_limits_idempotency)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import asyncpg

from app.core.sql import insert_row
from app.core.tx import Tx

# How many expired keys one store removes (the lazy purge; each store adds one row).
PURGE_BATCH = 100


async def try_lock(tx: Tx, key: str) -> bool:
    """A transaction-scoped advisory lock on (tenant, key): held until COMMIT/ROLLBACK, so a
    concurrent request with the same key learns at once that the first is still running."""
    return bool(await tx.fetchval(
        "SELECT pg_try_advisory_xact_lock(hashtextextended('idempotency:' || $1 || ':' || $2,"
        " 0))", str(tx.tenant_id), key))


async def get(tx: Tx, key: str) -> asyncpg.Record | None:
    return await tx.fetchrow(
        "SELECT request_hash, method, path, status, headers, body, expires_at"
        " FROM idempotency_keys WHERE tenant_id = $1 AND key = $2", tx.tenant_id, key)


async def delete(tx: Tx, key: str) -> None:
    await tx.execute("DELETE FROM idempotency_keys WHERE tenant_id = $1 AND key = $2",
                     tx.tenant_id, key)


async def insert(tx: Tx, *, key: str, request_hash: bytes, method: str, path: str,
                 status: int, headers: dict[str, Any], body: bytes, now: datetime,
                 expires_at: datetime) -> None:
    await insert_row(tx, "idempotency_keys", {
        "key": key, "request_hash": request_hash, "method": method, "path": path,
        "status": status, "headers": headers, "body": body, "created_at": now,
        "expires_at": expires_at})


async def purge_expired(tx: Tx, now: datetime) -> int:
    status = await tx.execute(
        "DELETE FROM idempotency_keys WHERE tenant_id = $1 AND key IN ("
        " SELECT key FROM idempotency_keys WHERE tenant_id = $1 AND expires_at <= $2"
        f" LIMIT {PURGE_BATCH})", tx.tenant_id, now)
    return int(status.rsplit(" ", 1)[-1])
