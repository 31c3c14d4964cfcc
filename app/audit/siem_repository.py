"""SQL for audit log streams (the audit_streams table) and the worker's claims on them."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

from app.core.db import Database
from app.core.keyset import keyset_page
from app.core.sql import expect_row, update_set
from app.core.tx import Tx

COLUMNS = ("id, name, type, url, filters, options, status, delivered_through_seq,"
           " delivered_events, consecutive_failures, next_attempt_at, last_success_at,"
           " last_error, last_error_at, created_at, updated_at,"
           " coalesce((SELECT c.last_seq FROM audit_chain c"
           " WHERE c.tenant_id = audit_streams.tenant_id), 0) AS head_seq")


async def count_streams(tx: Tx) -> int:
    return int(await tx.fetchval("SELECT count(*) FROM audit_streams"))


async def insert_stream(tx: Tx, *, name: str, type_: str, url: str, token_encrypted: bytes,
                        filters: dict[str, Any], options: dict[str, Any], status: str,
                        through_seq: int, now: datetime) -> asyncpg.Record:
    return expect_row(await tx.fetchrow(
        "INSERT INTO audit_streams (tenant_id, name, type, url, token_encrypted, filters,"
        " options, status, delivered_through_seq, next_attempt_at, created_at, updated_at)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10, $10)"
        f" RETURNING {COLUMNS}",
        tx.tenant_id, name, type_, url, token_encrypted, filters, options, status, through_seq,
        now))


async def get_stream(tx: Tx, stream_id: UUID, *, for_update: bool = False
                     ) -> asyncpg.Record | None:
    lock = " FOR NO KEY UPDATE" if for_update else ""
    return await tx.fetchrow(f"SELECT {COLUMNS} FROM audit_streams WHERE id = $1{lock}",
                             stream_id)


async def list_streams(tx: Tx, *, after: tuple[datetime, UUID] | None, limit: int
                       ) -> tuple[list[asyncpg.Record], int]:
    return await keyset_page(tx, columns=COLUMNS, source="audit_streams", after=after,
                             limit=limit)


_UPDATABLE = ("name", "url", "token_encrypted", "filters", "options", "status",
              "delivered_through_seq", "consecutive_failures", "next_attempt_at",
              "lease_id", "locked_until", "last_error", "last_error_at")


async def update_stream(tx: Tx, stream_id: UUID, fields: dict[str, Any], now: datetime
                        ) -> asyncpg.Record:
    sets, args = update_set(stream_id, now, fields, _UPDATABLE)
    return expect_row(await tx.fetchrow(
        f"UPDATE audit_streams SET {sets} WHERE id = $1 RETURNING {COLUMNS}", *args))


async def delete_stream(tx: Tx, stream_id: UUID) -> asyncpg.Record | None:
    return await tx.fetchrow(
        f"DELETE FROM audit_streams WHERE id = $1 RETURNING {COLUMNS}", stream_id)


# ---- the worker ----

async def tenants_with_streams(db: Database, now: datetime) -> list[tuple[UUID, bool]]:
    """(tenant, has a stream due now) for every tenant with an active stream."""
    rows = await db.fetch("SELECT * FROM drift_api.tenants_with_audit_streams($1)", now)
    return [(r["tenant_id"], bool(r["due"])) for r in rows]


async def claim_due(tx: Tx, *, now: datetime, lease_until: datetime, lease_id: UUID,
                    limit: int) -> list[asyncpg.Record]:
    """Lease up to `limit` active streams that have events past their cursor and are neither
    leased nor backing off. FOR UPDATE SKIP LOCKED: two workers never take the same stream;
    the lease keeps it this worker's after the claim commits, and frees it if the worker
    dies."""
    return await tx.fetch(
        "UPDATE audit_streams s SET lease_id = $3, locked_until = $2"
        " WHERE s.id = ANY (ARRAY("
        "   SELECT x.id FROM audit_streams x"
        "    WHERE x.status = 'active' AND x.next_attempt_at <= $1"
        "      AND (x.locked_until IS NULL OR x.locked_until <= $1)"
        "      AND x.delivered_through_seq < coalesce((SELECT c.last_seq FROM audit_chain c"
        "          WHERE c.tenant_id = $5), 0)"
        "    ORDER BY x.next_attempt_at LIMIT $4 FOR UPDATE SKIP LOCKED))"
        " RETURNING s.id, s.type, s.url, s.token_encrypted, s.filters, s.options,"
        " s.delivered_through_seq, s.consecutive_failures",
        now, lease_until, lease_id, limit, tx.tenant_id)


async def advance(tx: Tx, stream_id: UUID, lease_id: UUID, *, from_seq: int, to_seq: int,
                  events: int, now: datetime, lease_until: datetime) -> bool:
    """Move the cursor after a 2xx, only for the lease that read the batch and only from
    where that batch started (a PATCH backfill in between wins); renews the lease."""
    row = await tx.fetchrow(
        "UPDATE audit_streams SET delivered_through_seq = $4, delivered_events ="
        " delivered_events + $5, last_success_at = $6, consecutive_failures = 0,"
        " locked_until = $7, updated_at = $6"
        " WHERE id = $1 AND lease_id = $2 AND delivered_through_seq = $3 AND status = 'active'"
        " RETURNING id", stream_id, lease_id, from_seq, to_seq, events, now, lease_until)
    return row is not None


async def fail(tx: Tx, stream_id: UUID, lease_id: UUID, *, error: str, now: datetime,
               retry_at: datetime) -> None:
    await tx.execute(
        "UPDATE audit_streams SET consecutive_failures = consecutive_failures + 1,"
        " last_error = $3, last_error_at = $4, next_attempt_at = $5, lease_id = NULL,"
        " locked_until = NULL, updated_at = $4 WHERE id = $1 AND lease_id = $2",
        stream_id, lease_id, error, now, retry_at)


async def release(tx: Tx, stream_id: UUID, lease_id: UUID) -> None:
    await tx.execute(
        "UPDATE audit_streams SET lease_id = NULL, locked_until = NULL"
        " WHERE id = $1 AND lease_id = $2", stream_id, lease_id)
