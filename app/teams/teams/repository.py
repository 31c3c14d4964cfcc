"""SQL for teams, team memberships and team project assignments."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

import asyncpg

from app.core.keyset import Params, keyset_page
from app.core.sql import expect_row, update_set
from app.core.tx import Tx

TEAM_COLUMNS = (
    "t.id, t.name, t.description, t.scim_managed, t.external_id, t.created_at, t.updated_at,"
    " (SELECT count(*) FROM team_memberships m"
    "   WHERE m.tenant_id = t.tenant_id AND m.team_id = t.id) AS member_count,"
    " (SELECT count(*) FROM team_projects tp"
    "   WHERE tp.tenant_id = t.tenant_id AND tp.team_id = t.id) AS project_count")

MEMBER_COLUMNS = (
    "m.user_id, m.role, m.created_at, u.email, u.user_name, u.display_name,"
    " u.role AS tenant_role, u.active")

PROJECT_COLUMNS = "tp.project_id, tp.created_at, p.name, p.slug"


# ---- teams ----

async def insert_team(tx: Tx, *, name: str, description: str | None, now: datetime
                      ) -> asyncpg.Record:
    team_id: UUID = await tx.fetchval(
        "INSERT INTO teams (tenant_id, name, description, created_at, updated_at)"
        " VALUES ($1, $2, $3, $4, $4) RETURNING id", tx.tenant_id, name, description, now)
    row = await get_team(tx, team_id)
    return expect_row(row)


async def get_team(tx: Tx, team_id: UUID, *, for_update: bool = False
                   ) -> asyncpg.Record | None:
    lock = " FOR NO KEY UPDATE OF t" if for_update else ""
    return await tx.fetchrow(f"SELECT {TEAM_COLUMNS} FROM teams t WHERE t.id = $1{lock}",
                             team_id)


async def update_team(tx: Tx, team_id: UUID, fields: dict[str, object], now: datetime
                      ) -> asyncpg.Record | None:
    sets, args = update_set(team_id, now, fields, ("name", "description"))
    done = await tx.fetchval(f"UPDATE teams SET {sets} WHERE id = $1 RETURNING id", *args)
    return None if done is None else await get_team(tx, team_id)


async def delete_team(tx: Tx, team_id: UUID) -> bool:
    """Delete a team; memberships and project assignments go with it (FK cascades)."""
    return await tx.fetchval("DELETE FROM teams WHERE id = $1 RETURNING id", team_id) is not None


async def list_teams(tx: Tx, *, member_id: UUID | None, after: tuple[datetime, UUID] | None,
                     limit: int) -> tuple[list[asyncpg.Record], int]:
    """A page of teams by (created_at, id); with `member_id`, only that user's teams."""
    params = Params()
    where = [f"EXISTS (SELECT 1 FROM team_memberships m WHERE m.tenant_id = t.tenant_id"
             f" AND m.team_id = t.id AND m.user_id = {params.add(member_id)})"
             ] if member_id is not None else []
    return await keyset_page(tx, columns=TEAM_COLUMNS, source="teams t", params=params,
                             where=where, key=("t.created_at", "t.id"), after=after,
                             limit=limit)


# ---- memberships ----

async def is_member(tx: Tx, team_id: UUID, user_id: UUID) -> bool:
    return bool(await tx.fetchval(
        "SELECT EXISTS (SELECT 1 FROM team_memberships WHERE team_id = $1 AND user_id = $2)",
        team_id, user_id))


async def find_user(tx: Tx, *, user_id: UUID | None = None, email: str | None = None
                    ) -> asyncpg.Record | None:
    """A user of this tenant by id, or by email (case-insensitive)."""
    columns = "id, email, user_name, display_name, role, active"
    if user_id is not None:
        return await tx.fetchrow(f"SELECT {columns} FROM users WHERE id = $1", user_id)
    return await tx.fetchrow(
        f"SELECT {columns} FROM users WHERE email_key = lower($1)", email)


async def insert_membership(tx: Tx, team_id: UUID, user_id: UUID, role: str, now: datetime
                            ) -> bool:
    """Add a member; False if they already are one."""
    done = await tx.fetchval(
        "INSERT INTO team_memberships (tenant_id, team_id, user_id, role, created_at)"
        " VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING RETURNING user_id",
        tx.tenant_id, team_id, user_id, role, now)
    return done is not None


async def get_membership(tx: Tx, team_id: UUID, user_id: UUID, *, for_update: bool = False
                         ) -> asyncpg.Record | None:
    lock = " FOR NO KEY UPDATE OF m" if for_update else ""
    return await tx.fetchrow(
        f"SELECT {MEMBER_COLUMNS} FROM team_memberships m JOIN users u"
        " ON u.tenant_id = m.tenant_id AND u.id = m.user_id"
        f" WHERE m.team_id = $1 AND m.user_id = $2{lock}", team_id, user_id)


async def set_membership_role(tx: Tx, team_id: UUID, user_id: UUID, role: str) -> None:
    await tx.execute("UPDATE team_memberships SET role = $3 WHERE team_id = $1 AND user_id = $2",
                     team_id, user_id, role)


async def delete_membership(tx: Tx, team_id: UUID, user_id: UUID) -> bool:
    return await tx.fetchval(
        "DELETE FROM team_memberships WHERE team_id = $1 AND user_id = $2 RETURNING user_id",
        team_id, user_id) is not None


async def list_members(tx: Tx, team_id: UUID, *, after: tuple[datetime, UUID] | None,
                       limit: int) -> tuple[list[asyncpg.Record], int]:
    params = Params()
    return await keyset_page(
        tx, columns=MEMBER_COLUMNS, params=params, where=[f"m.team_id = {params.add(team_id)}"],
        source="team_memberships m JOIN users u ON u.tenant_id = m.tenant_id AND u.id = m.user_id",
        count_source="team_memberships m", key=("m.created_at", "m.user_id"), after=after,
        limit=limit)


# ---- project assignments ----

async def insert_team_project(tx: Tx, team_id: UUID, project_id: UUID, now: datetime) -> bool:
    """Assign a project; False if it already is assigned to this team."""
    done = await tx.fetchval(
        "INSERT INTO team_projects (tenant_id, team_id, project_id, created_at)"
        " VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING RETURNING project_id",
        tx.tenant_id, team_id, project_id, now)
    return done is not None


async def get_team_project(tx: Tx, team_id: UUID, project_id: UUID) -> asyncpg.Record | None:
    return await tx.fetchrow(
        f"SELECT {PROJECT_COLUMNS} FROM team_projects tp JOIN projects p"
        " ON p.tenant_id = tp.tenant_id AND p.id = tp.project_id"
        " WHERE tp.team_id = $1 AND tp.project_id = $2", team_id, project_id)


async def delete_team_project(tx: Tx, team_id: UUID, project_id: UUID) -> bool:
    return await tx.fetchval(
        "DELETE FROM team_projects WHERE team_id = $1 AND project_id = $2 RETURNING project_id",
        team_id, project_id) is not None


async def list_team_projects(tx: Tx, team_id: UUID, *, after: tuple[datetime, UUID] | None,
                             limit: int) -> tuple[list[asyncpg.Record], int]:
    params = Params()
    return await keyset_page(
        tx, columns=PROJECT_COLUMNS, params=params,
        where=[f"tp.team_id = {params.add(team_id)}"],
        source=("team_projects tp JOIN projects p"
                " ON p.tenant_id = tp.tenant_id AND p.id = tp.project_id"),
        count_source="team_projects tp", key=("tp.created_at", "tp.project_id"), after=after,
        limit=limit)
