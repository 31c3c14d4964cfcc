"""SQL for projects."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

import asyncpg

from app.core.keyset import Params, keyset_page
from app.core.project_access import REACHABLE_SQL
from app.core.sql import expect_row, update_set
from app.core.tx import Tx

COLUMNS = "id, name, slug, description, created_at, updated_at"


async def get(tx: Tx, project_id: UUID) -> asyncpg.Record | None:
    """Any project of the tenant (no reach filter): for trusted callers and existence checks."""
    return await tx.fetchrow(f"SELECT {COLUMNS} FROM projects WHERE id = $1", project_id)


async def get_reachable(tx: Tx, project_id: UUID) -> asyncpg.Record | None:
    """The project if the entered user may reach it, decided by the database: the
    reachable_projects view (security barrier) shows owners/admins every project and members/
    viewers their teams' projects, from app.user_id/app.role set by drift_api.enter_*."""
    return await tx.fetchrow(f"SELECT {COLUMNS} FROM reachable_projects WHERE id = $1",
                             project_id)


async def exists(tx: Tx, project_id: UUID) -> bool:
    return bool(await tx.fetchval("SELECT EXISTS (SELECT 1 FROM projects WHERE id = $1)",
                                  project_id))


async def insert(tx: Tx, *, name: str, slug: str, description: str | None, now: datetime
                 ) -> asyncpg.Record:
    row = await tx.fetchrow(
        "INSERT INTO projects (tenant_id, name, slug, description, created_at, updated_at)"
        f" VALUES ($1, $2, $3, $4, $5, $5) RETURNING {COLUMNS}",
        tx.tenant_id, name, slug, description, now)
    return expect_row(row)


async def update(tx: Tx, project_id: UUID, fields: dict[str, object], now: datetime
                 ) -> asyncpg.Record | None:
    sets, args = update_set(project_id, now, fields, ("name", "slug", "description"))
    return await tx.fetchrow(
        f"UPDATE projects SET {sets} WHERE id = $1 RETURNING {COLUMNS}", *args)


async def delete(tx: Tx, project_id: UUID) -> asyncpg.Record | None:
    return await tx.fetchrow(f"DELETE FROM projects WHERE id = $1 RETURNING {COLUMNS}",
                             project_id)


async def list_page(tx: Tx, *, after: tuple[datetime, UUID] | None, limit: int,
                    reachable_by: UUID | None = None) -> tuple[list[asyncpg.Record], int]:
    """A page ordered by (created_at, id) of the projects the entered user reaches (the
    reachable_projects view); with `reachable_by`, also filtered in SQL by that user's teams."""
    params = Params()
    where = [f"id IN ({REACHABLE_SQL.replace('$1', params.add(reachable_by))})"
             ] if reachable_by is not None else []
    return await keyset_page(tx, columns=COLUMNS, source="reachable_projects", params=params,
                             where=where, after=after, limit=limit)
