"""SQL for the members of a tenant (users as seats) and their roles."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

import asyncpg

from app.core.keyset import Params, keyset_page
from app.core.tx import Tx

# A member with the teams they belong to (as a JSON array, ordered by team name).
MEMBER_COLUMNS = (
    "u.id, u.email, u.user_name, u.display_name, u.role, u.active, u.deprovisioned_at,"
    " u.last_active_at, u.created_at,"
    " coalesce((SELECT jsonb_agg(jsonb_build_object('id', t.id, 'name', t.name, 'role', m.role)"
    "           ORDER BY lower(t.name), t.id)"
    "    FROM team_memberships m JOIN teams t ON t.tenant_id = m.tenant_id AND t.id = m.team_id"
    "   WHERE m.tenant_id = u.tenant_id AND m.user_id = u.id), '[]'::jsonb) AS teams")

USER_COLUMNS = "id, email, user_name, display_name, role, active"


async def list_members(tx: Tx, *, active: bool | None, role: str | None,
                       after: tuple[datetime, UUID] | None, limit: int
                       ) -> tuple[list[asyncpg.Record], int]:
    params = Params()
    where = []
    if active is not None:
        where.append(f"u.active = {params.add(active)}")
    if role is not None:
        where.append(f"u.role = {params.add(role)}")
    return await keyset_page(tx, columns=MEMBER_COLUMNS, source="users u", params=params,
                             where=where, key=("u.created_at", "u.id"), after=after,
                             limit=limit)


async def get_member(tx: Tx, user_id: UUID) -> asyncpg.Record | None:
    return await tx.fetchrow(f"SELECT {MEMBER_COLUMNS} FROM users u WHERE u.id = $1", user_id)


async def lock_user(tx: Tx, user_id: UUID) -> asyncpg.Record | None:
    return await tx.fetchrow(f"SELECT {USER_COLUMNS} FROM users WHERE id = $1 FOR NO KEY UPDATE",
                             user_id)


async def find_by_address(tx: Tx, email: str, *, for_update: bool = False
                          ) -> asyncpg.Record | None:
    """The user an email address names: by email, else by user_name (an IdP may have created
    them with userName = the address). Case-insensitive."""
    lock = " FOR NO KEY UPDATE" if for_update else ""
    return await tx.fetchrow(
        f"SELECT {USER_COLUMNS} FROM users"
        " WHERE email_key = lower($1) OR user_name_key = lower($1)"
        f" ORDER BY (email_key = lower($1)) IS TRUE DESC, created_at LIMIT 1{lock}", email)


async def set_role(tx: Tx, user_id: UUID, role: str, now: datetime) -> None:
    await tx.execute("UPDATE users SET role = $2, updated_at = $3 WHERE id = $1",
                     user_id, role, now)


async def reactivate(tx: Tx, user_id: UUID, *, role: str, display_name: str | None,
                     password_hash: str | None, now: datetime) -> None:
    """Activate a deactivated user again with a new role; name and password only if given."""
    await tx.execute(
        "UPDATE users SET active = true, deprovisioned_at = NULL, role = $2,"
        " display_name = coalesce($3, display_name),"
        " password_hash = coalesce($4, password_hash), updated_at = $5 WHERE id = $1",
        user_id, role, display_name, password_hash, now)
