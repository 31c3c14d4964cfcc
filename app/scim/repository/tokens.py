"""SQL for SCIM tokens."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

import asyncpg

from app.core.db import Database
from app.core.keyset import keyset_page
from app.core.sql import expect_row
from app.core.tx import Tx

COLUMNS = "id, name, prefix, created_by, created_at, last_used_at, revoked_at"


async def authenticate(db: Database, digest: bytes) -> asyncpg.Record | None:
    return await db.fetchrow(
        "SELECT status, tenant_id, token_id FROM drift_api.authenticate_scim_token($1)", digest)


async def count_active(tx: Tx) -> int:
    return int(await tx.fetchval("SELECT count(*) FROM scim_tokens WHERE revoked_at IS NULL"))


async def insert(tx: Tx, *, name: str, prefix: str, digest: bytes, created_by: UUID | None,
                 now: datetime) -> asyncpg.Record:
    row = await tx.fetchrow(
        "INSERT INTO scim_tokens (tenant_id, name, prefix, token_hash, created_by, created_at)"
        f" VALUES ($1, $2, $3, $4, $5, $6) RETURNING {COLUMNS}",
        tx.tenant_id, name, prefix, digest, created_by, now)
    return expect_row(row)


async def get(tx: Tx, token_id: UUID) -> asyncpg.Record | None:
    return await tx.fetchrow(f"SELECT {COLUMNS} FROM scim_tokens WHERE id = $1", token_id)


async def revoke(tx: Tx, token_id: UUID, now: datetime) -> None:
    await tx.execute(
        "UPDATE scim_tokens SET revoked_at = coalesce(revoked_at, $2) WHERE id = $1",
        token_id, now)


async def list_page(tx: Tx, *, after: tuple[datetime, UUID] | None, limit: int
                    ) -> tuple[list[asyncpg.Record], int]:
    return await keyset_page(tx, columns=COLUMNS, source="scim_tokens", after=after,
                             limit=limit)
