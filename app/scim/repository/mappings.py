"""SQL for group-to-role mappings and the roles they give."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

import asyncpg

from app.core.tx import Tx


async def list_all(tx: Tx) -> list[asyncpg.Record]:
    return await tx.fetch("SELECT group_name, role, created_at FROM scim_group_mappings"
                          " ORDER BY group_key")


async def replace_all(tx: Tx, items: list[tuple[str, str]], now: datetime) -> None:
    await tx.execute("DELETE FROM scim_group_mappings")
    if items:
        await tx.execute(
            "INSERT INTO scim_group_mappings (tenant_id, group_name, role, created_at)"
            " SELECT $1, g, r, $4 FROM unnest($2::text[], $3::text[]) AS x(g, r)",
            tx.tenant_id, [g for g, _ in items], [r for _, r in items], now)


# Highest mapped role of a user's SCIM groups; `owner` mappings give admin (one owner per
# tenant, and ownership moves only by transfer); no mapped group -> member. The owner's role
# is never touched, nor anyone's while the tenant has no mappings at all.
#
# The users are locked first, in a statement of their own (FOR NO KEY UPDATE: it does not
# conflict with the key-share locks that membership inserts take on users, so two group
# changes touching the same user queue instead of deadlocking), and the roles are computed in
# the next statement, whose snapshot then includes the memberships committed by whoever held
# those locks before.
_LOCK = """
SELECT u.id FROM users u
 WHERE u.scim_deleted_at IS NULL AND u.role <> 'owner' AND {scope}
   AND EXISTS (SELECT 1 FROM scim_group_mappings)
 ORDER BY u.id
 FOR NO KEY UPDATE OF u
"""

_RECOMPUTE = """
WITH computed AS (
    SELECT u.id, u.role AS old_role, coalesce((
        SELECT CASE max(CASE g.role WHEN 'owner' THEN 2 WHEN 'admin' THEN 2
                                    WHEN 'member' THEN 1 ELSE 0 END)
                    WHEN 2 THEN 'admin' WHEN 1 THEN 'member' WHEN 0 THEN 'viewer' END
          FROM team_memberships m
          JOIN teams t ON t.tenant_id = m.tenant_id AND t.id = m.team_id AND t.scim_managed
          JOIN scim_group_mappings g ON g.tenant_id = t.tenant_id AND g.group_key = lower(t.name)
         WHERE m.user_id = u.id), 'member') AS new_role
      FROM users u
     WHERE u.id = ANY($1::uuid[]) AND u.role <> 'owner'
)
UPDATE users u SET role = c.new_role FROM computed c
 WHERE u.id = c.id AND u.role <> c.new_role
RETURNING u.id, c.old_role, c.new_role
"""


async def recompute_roles(tx: Tx, user_ids: list[UUID] | None) -> list[asyncpg.Record]:
    """Apply the mappings to `user_ids` (None: every member of a SCIM group); the changes."""
    if user_ids is None:
        scope = ("EXISTS (SELECT 1 FROM team_memberships m JOIN teams t ON t.tenant_id ="
                 " m.tenant_id AND t.id = m.team_id WHERE m.user_id = u.id AND t.scim_managed)")
        locked = await tx.fetch(_LOCK.format(scope=scope))
    elif not user_ids:
        return []
    else:
        locked = await tx.fetch(_LOCK.format(scope="u.id = ANY($1::uuid[])"), user_ids)
    if not locked:
        return []
    return await tx.fetch(_RECOMPUTE, [r["id"] for r in locked])


# The same rule as _RECOMPUTE, read-only, over a proposed set of mappings instead of the saved
# one (the dry run): who would change, from what, to what. Nothing is locked or written.
_PREVIEW = """
WITH proposed AS (
    SELECT lower(g) AS group_key, r AS role FROM unnest($1::text[], $2::text[]) AS x(g, r)
), computed AS (
    SELECT u.id, u.user_name, u.role AS old_role, coalesce((
        SELECT CASE max(CASE g.role WHEN 'owner' THEN 2 WHEN 'admin' THEN 2
                                    WHEN 'member' THEN 1 ELSE 0 END)
                    WHEN 2 THEN 'admin' WHEN 1 THEN 'member' WHEN 0 THEN 'viewer' END
          FROM team_memberships m
          JOIN teams t ON t.tenant_id = m.tenant_id AND t.id = m.team_id AND t.scim_managed
          JOIN proposed g ON g.group_key = lower(t.name)
         WHERE m.user_id = u.id), 'member') AS new_role
      FROM users u
     WHERE u.scim_deleted_at IS NULL AND u.role <> 'owner' AND cardinality($1::text[]) > 0
       AND EXISTS (SELECT 1 FROM team_memberships m JOIN teams t ON t.tenant_id = m.tenant_id
                    AND t.id = m.team_id WHERE m.user_id = u.id AND t.scim_managed)
)
SELECT id, user_name, old_role, new_role FROM computed WHERE old_role <> new_role
 ORDER BY user_name, id
"""


async def preview_roles(tx: Tx, items: list[tuple[str, str]]) -> list[asyncpg.Record]:
    """The role changes saving `items` as the mappings would make (read-only)."""
    return await tx.fetch(_PREVIEW, [g for g, _ in items], [r for _, r in items])
