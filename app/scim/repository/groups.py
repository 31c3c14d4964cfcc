"""SQL for SCIM groups: the tenant's scim_managed teams and their memberships."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

import asyncpg

from app.core.sql import expect_row
from app.core.tx import Tx
from app.scim.repository.search import GROUP_COLUMNS, GROUP_MEMBERS_SQL


async def get(tx: Tx, group_id: UUID, *, for_update: bool = False, with_members: bool = True
              ) -> asyncpg.Record | None:
    rel = f", {GROUP_MEMBERS_SQL.format(a='t')} AS rel" if with_members else ""
    lock = " FOR NO KEY UPDATE OF t" if for_update else ""
    return await tx.fetchrow(
        f"SELECT {GROUP_COLUMNS}{rel} FROM teams t WHERE t.id = $1 AND t.scim_managed{lock}",
        group_id)


async def insert(tx: Tx, *, name: str, external_id: str | None, now: datetime
                 ) -> asyncpg.Record:
    row = await tx.fetchrow(
        "INSERT INTO teams AS t (tenant_id, name, external_id, scim_managed, created_at,"
        f" updated_at) VALUES ($1, $2, $3, true, $4, $4) RETURNING {GROUP_COLUMNS}",
        tx.tenant_id, name, external_id, now)
    return expect_row(row)


async def update(tx: Tx, group_id: UUID, *, name: str, external_id: str | None,
                 now: datetime) -> None:
    await tx.execute("UPDATE teams SET name = $2, external_id = $3, updated_at = $4"
                     " WHERE id = $1", group_id, name, external_id, now)


async def touch(tx: Tx, group_id: UUID, now: datetime) -> None:
    await tx.execute("UPDATE teams SET updated_at = $2 WHERE id = $1", group_id, now)


async def delete(tx: Tx, group_id: UUID) -> None:
    await tx.execute("DELETE FROM teams WHERE id = $1 AND scim_managed", group_id)


async def member_ids(tx: Tx, group_id: UUID) -> list[UUID]:
    rows = await tx.fetch("SELECT user_id FROM team_memberships WHERE team_id = $1"
                          " ORDER BY created_at, user_id", group_id)
    return [r["user_id"] for r in rows]


async def add_members(tx: Tx, group_id: UUID, user_ids: list[UUID], now: datetime
                      ) -> list[asyncpg.Record]:
    """Add memberships (existing ones are left alone); the users actually added, in the
    order given: user_id, role (in the team) and email (for team.member.added)."""
    if not user_ids:
        return []
    return await tx.fetch(
        "WITH ins AS (INSERT INTO team_memberships (tenant_id, team_id, user_id, role,"
        " created_at)"
        " SELECT $1, $2, x, 'member', $4 FROM unnest($3::uuid[]) WITH ORDINALITY AS m(x, n)"
        " ORDER BY n ON CONFLICT DO NOTHING RETURNING user_id, role)"
        " SELECT ins.user_id, ins.role, u.email FROM ins LEFT JOIN users u ON u.id = ins.user_id"
        " ORDER BY array_position($3::uuid[], ins.user_id)",
        tx.tenant_id, group_id, user_ids, now)


async def remove_members(tx: Tx, group_id: UUID, user_ids: list[UUID]
                         ) -> list[asyncpg.Record]:
    """Remove memberships; the users actually removed, in the order given: user_id, the role
    they had and email (for team.member.removed)."""
    if not user_ids:
        return []
    return await tx.fetch(
        "WITH del AS (DELETE FROM team_memberships WHERE team_id = $1"
        " AND user_id = ANY($2::uuid[]) RETURNING user_id, role)"
        " SELECT del.user_id, del.role, u.email FROM del LEFT JOIN users u ON u.id = del.user_id"
        " ORDER BY array_position($2::uuid[], del.user_id)", group_id, user_ids)
