"""SQL for users as SCIM resources (the tenant's `users` table)."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID, uuid4

import asyncpg

from app.core.tx import Tx
from app.scim.repository.search import NOT_HELD_DELETE, USER_COLUMNS, USER_GROUPS_SQL


async def get(tx: Tx, user_id: UUID, *, for_update: bool = False, with_groups: bool = True
              ) -> asyncpg.Record | None:
    """A user visible over SCIM (not deleted over SCIM, no held DELETE: the identity provider
    sees the state it asked for), with its SCIM groups as `rel`."""
    rel = f", {USER_GROUPS_SQL.format(a='u')} AS rel" if with_groups else ""
    lock = " FOR NO KEY UPDATE OF u" if for_update else ""
    return await tx.fetchrow(
        f"SELECT {USER_COLUMNS}{rel} FROM users u WHERE u.id = $1"
        f" AND u.scim_deleted_at IS NULL AND {NOT_HELD_DELETE}{lock}", user_id)


async def insert(tx: Tx, *, user_name: str, external_id: str | None, display_name: str | None,
                 email: str | None, active: bool, doc: dict[str, Any], now: datetime,
                 unless_seat_limit: bool = False, unless_invited: list[str] | None = None,
                 unless_required_custom: bool = False) -> dict[str, Any] | None:
    """Insert a user (role member) and return the row as written (the columns of
    USER_COLUMNS), or None when a guard holds: `unless_seat_limit`, the tenant has a seat
    limit; `unless_invited`, an invitation is open to one of those addresses;
    `unless_required_custom`, the tenant declares a required custom attribute. The common case
    then needs no seat check, no invitation lookup, no read of the custom attribute
    declarations and no tenant lock of its own.

    One call of public.scim_insert_user, sent with `Tx.run`: when it is the request's first
    statement it rides in the round trip that opens the transaction, so a usual create is two
    round trips. Every value of the row is known here (the id is drawn here), so nothing needs
    to come back but whether it went in."""
    user_id = uuid4()
    status = await tx.run(
        "SELECT 1 FROM public.scim_insert_user($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11,"
        " $12) AS r(ok) WHERE ok", tx.tenant_id, user_id, user_name, external_id,
        display_name, email, active, doc, now, unless_seat_limit, unless_invited or None,
        unless_required_custom)
    if status != "SELECT 1":
        return None
    return {"id": user_id, "user_name": user_name, "external_id": external_id,
            "display_name": display_name, "email": email, "active": active, "role": "member",
            "created_at": now, "updated_at": now, "scim_resource": doc}


async def update(tx: Tx, user_id: UUID, *, user_name: str, external_id: str | None,
                 display_name: str | None, email: str | None, doc: dict[str, Any],
                 now: datetime) -> None:
    await tx.execute(
        "UPDATE users SET user_name = $2, external_id = $3, display_name = $4, email = $5,"
        " scim_resource = $6, updated_at = $7 WHERE id = $1",
        user_id, user_name, external_id, display_name, email, doc, now)


async def owner_identity(tx: Tx) -> asyncpg.Record | None:
    """Who owns the tenant and whether they let the identity provider manage their identity."""
    return await tx.fetchrow("SELECT owner_id, owner_managed_by_idp, name, slug FROM tenants")


async def mark_deleted(tx: Tx, user_id: UUID, now: datetime) -> None:
    """Gone from SCIM, row kept: userName and email are released (so the identity provider can
    create the person again) and kept in the SCIM document under `_deleted`."""
    await tx.execute(
        "UPDATE users SET scim_deleted_at = $2, updated_at = $2,"
        " scim_resource = coalesce(scim_resource, '{}'::jsonb) || jsonb_build_object("
        "'_deleted', jsonb_build_object('userName', user_name, 'email', email,"
        " 'externalId', external_id, 'at', $2::timestamptz)),"
        " user_name = 'scim-deleted:' || id::text, email = NULL WHERE id = $1",
        user_id, now)


async def leave_scim_groups(tx: Tx, user_id: UUID, now: datetime) -> int:
    """Remove the user from every SCIM group; those groups' lastModified (and so their
    version, which does not hash the member list) moves."""
    left = await tx.fetchval(
        "WITH gone AS (DELETE FROM team_memberships m USING teams t"
        "  WHERE t.tenant_id = m.tenant_id AND t.id = m.team_id AND t.scim_managed"
        "  AND m.user_id = $1 RETURNING m.team_id),"
        " touched AS (UPDATE teams SET updated_at = $2 WHERE id IN (SELECT team_id FROM gone)"
        "  RETURNING 1)"
        " SELECT count(*) FROM gone", user_id, now)
    return int(left)


async def visible_ids(tx: Tx, ids: list[UUID]) -> set[UUID]:
    rows = await tx.fetch("SELECT id FROM users WHERE id = ANY($1::uuid[])"
                          " AND scim_deleted_at IS NULL", ids)
    return {r["id"] for r in rows}
