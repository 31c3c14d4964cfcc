"""SQL for tenants."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

import asyncpg

from app.core.db import Database
from app.core.tx import Tx

TENANT_COLUMNS = ("tenant_id AS id, name, slug, plan, seat_limit, owner_id, owner_managed_by_idp,"
                  " audit_retention_days,"
                  " created_at, updated_at")


async def insert_tenant(tx: Tx, *, name: str, slug: str, plan: str, seat_limit: int | None,
                        now: datetime) -> None:
    await tx.execute(
        "INSERT INTO tenants (tenant_id, name, slug, plan, seat_limit, created_at, updated_at)"
        " VALUES ($1, $2, $3, $4, $5, $6, $6)",
        tx.tenant_id, name, slug, plan, seat_limit, now)


async def set_owner(tx: Tx, owner_id: UUID) -> None:
    await tx.execute("UPDATE tenants SET owner_id = $1, updated_at = now() WHERE tenant_id = $2",
                     owner_id, tx.tenant_id)


async def get_tenant(tx: Tx) -> asyncpg.Record | None:
    return await tx.fetchrow(f"SELECT {TENANT_COLUMNS} FROM tenants")


async def get_tenant_for_update(tx: Tx) -> asyncpg.Record | None:
    return await tx.fetchrow(f"SELECT {TENANT_COLUMNS} FROM tenants FOR NO KEY UPDATE")


async def list_tenants(db: Database) -> list[asyncpg.Record]:
    return await db.fetch(
        "SELECT tenant_id AS id, slug, name, plan, seat_limit, created_at"
        " FROM drift_api.list_tenants()")


async def all_tenant_ids(db: Database) -> list[UUID]:
    return [r[0] for r in await db.fetch("SELECT drift_api.all_tenant_ids()")]
