"""SQL for verified domains."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

import asyncpg

from app.core.db import Database
from app.core.keyset import keyset_page
from app.core.sql import expect_row
from app.core.tx import Tx

COLUMNS = "id, domain, token, status, verified_at, created_by, created_at"


async def insert(tx: Tx, *, domain: str, token: str, created_by: UUID | None, now: datetime
                 ) -> asyncpg.Record:
    row = await tx.fetchrow(
        "INSERT INTO verified_domains (tenant_id, domain, token, created_by, created_at)"
        f" VALUES ($1, $2, $3, $4, $5) RETURNING {COLUMNS}",
        tx.tenant_id, domain, token, created_by, now)
    return expect_row(row)


async def get(tx: Tx, domain_id: UUID) -> asyncpg.Record | None:
    return await tx.fetchrow(f"SELECT {COLUMNS} FROM verified_domains WHERE id = $1", domain_id)


async def list_page(tx: Tx, *, after: tuple[datetime, UUID] | None, limit: int
                    ) -> tuple[list[asyncpg.Record], int]:
    """A page ordered by (created_at, id), and the total (app.core.keyset)."""
    return await keyset_page(tx, columns=COLUMNS, source="verified_domains", after=after,
                             limit=limit)


async def mark_verified(tx: Tx, domain_id: UUID, now: datetime) -> asyncpg.Record | None:
    """Verified now. The index trigger raises unique_violation if another tenant holds the
    domain (drift_private.domain_index)."""
    return await tx.fetchrow(
        "UPDATE verified_domains SET status = 'verified', verified_at = $2"
        f" WHERE id = $1 RETURNING {COLUMNS}", domain_id, now)


async def delete(tx: Tx, domain_id: UUID) -> asyncpg.Record | None:
    return await tx.fetchrow(f"DELETE FROM verified_domains WHERE id = $1 RETURNING {COLUMNS}",
                             domain_id)


async def domain_tenant(conn: Database | Tx | asyncpg.Connection, domain: str) -> UUID | None:
    """Which tenant verified `domain` (drift_api.domain_tenant: a definer function over the
    private cross-tenant index), whatever tenant the connection is in, if any."""
    tenant: UUID | None = await conn.fetchval("SELECT drift_api.domain_tenant($1)", domain)
    return tenant
