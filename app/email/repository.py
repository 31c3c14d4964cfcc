"""SQL for the email outbox."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

import asyncpg

from app.core.db import Database
from app.core.tx import Tx

COLUMNS = ("id, kind, to_address, subject, body_encrypted, status, attempts, next_attempt_at,"
           " last_error, created_at, sent_at")


async def insert(tx: Tx, *, kind: str, to_address: str, subject: str, body_encrypted: bytes,
                 now: datetime) -> UUID:
    value: UUID = await tx.fetchval(
        "INSERT INTO email_outbox (tenant_id, kind, to_address, subject, body_encrypted,"
        " next_attempt_at, created_at) VALUES ($1, $2, $3, $4, $5, $6, $6) RETURNING id",
        tx.tenant_id, kind, to_address, subject, body_encrypted, now)
    return value


async def tenants_with_due_email(db: Database, now: datetime) -> list[UUID]:
    return [r[0] for r in await db.fetch("SELECT drift_api.tenants_with_due_email($1)", now)]


async def claim_due(tx: Tx, now: datetime, lock_until: datetime, limit: int
                    ) -> list[asyncpg.Record]:
    """Take due messages for this worker: SKIP LOCKED so two workers never take the same one,
    and a lease (locked_until) so a crashed worker's messages come back."""
    return await tx.fetch(
        f"UPDATE email_outbox SET locked_until = $2, attempts = attempts + 1"
        f" WHERE (tenant_id, id) IN ("
        f"   SELECT tenant_id, id FROM email_outbox"
        f"   WHERE status = 'pending' AND next_attempt_at <= $1"
        f"     AND (locked_until IS NULL OR locked_until <= $1)"
        f"   ORDER BY next_attempt_at LIMIT $3 FOR UPDATE SKIP LOCKED)"
        f" RETURNING {COLUMNS}", now, lock_until, limit)


async def hand_back(tx: Tx, ids: list[UUID], lock_until: datetime) -> int:
    """Clear this worker's lease on messages it claimed but did not finish (it is stopping):
    another worker takes them at once, and the claim's attempt is not counted."""
    status = await tx.execute(
        "UPDATE email_outbox SET locked_until = NULL, attempts = greatest(0, attempts - 1)"
        " WHERE id = ANY ($1) AND status = 'pending' AND locked_until = $2", ids, lock_until)
    return int(status.split()[-1])


async def mark_done(tx: Tx, email_id: UUID, status: str, now: datetime) -> None:
    await tx.execute(
        "UPDATE email_outbox SET status = $2, sent_at = $3, locked_until = NULL,"
        " last_error = NULL WHERE id = $1", email_id, status, now)


async def mark_retry(tx: Tx, email_id: UUID, error: str, next_attempt_at: datetime | None
                     ) -> None:
    if next_attempt_at is None:
        await tx.execute(
            "UPDATE email_outbox SET status = 'failed', last_error = $2, locked_until = NULL"
            " WHERE id = $1", email_id, error[:1000])
    else:
        await tx.execute(
            "UPDATE email_outbox SET last_error = $2, next_attempt_at = $3, locked_until = NULL"
            " WHERE id = $1", email_id, error[:1000], next_attempt_at)


async def get(tx: Tx, email_id: UUID) -> asyncpg.Record | None:
    return await tx.fetchrow(f"SELECT {COLUMNS} FROM email_outbox WHERE id = $1", email_id)
