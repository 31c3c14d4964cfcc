"""SQL for the mass-deprovision breaker: its per-tenant settings and `scim_deprovisions` (every
deprovision a SCIM token asked for: applied ones counted in the window, held ones waiting for
an admin). docs/scim.md, "Mass-deprovision breaker"."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

from app.core.keyset import Params, keyset_page
from app.core.tx import Tx

CHANGE_COLUMNS = ("d.id, d.token_id, d.user_id, d.op, d.status, d.trip_id, d.created_at,"
                  " d.resolved_at, d.resolved_by, u.user_name, u.email")
_CHANGES = ("scim_deprovisions d JOIN users u ON u.tenant_id = d.tenant_id"
            " AND u.id = d.user_id")


async def settings(tx: Tx) -> asyncpg.Record | None:
    return await tx.fetchrow(
        "SELECT enabled, max_share, window_seconds, min_changes, updated_at, updated_by"
        " FROM scim_breaker_settings")


async def save_settings(tx: Tx, *, enabled: bool, max_share: float, window_seconds: int,
                        min_changes: int, by: UUID | None, now: datetime) -> None:
    await tx.execute(
        "INSERT INTO scim_breaker_settings AS s (tenant_id, enabled, max_share, window_seconds,"
        " min_changes, updated_at, updated_by) VALUES ($1, $2, $3, $4, $5, $6, $7)"
        " ON CONFLICT (tenant_id) DO UPDATE SET enabled = $2, max_share = $3,"
        " window_seconds = $4, min_changes = $5, updated_at = $6, updated_by = $7",
        tx.tenant_id, enabled, max_share, window_seconds, min_changes, now, by)


async def lock(tx: Tx) -> None:
    """The tenant's breaker lock, held until COMMIT: two deprovisions of one tenant decide one
    after the other, each seeing what the other applied or held."""
    await tx.execute("SELECT pg_advisory_xact_lock(hashtextextended('scim-breaker:' || $1, 0))",
                     str(tx.tenant_id))


async def open_trip(tx: Tx, token_id: UUID) -> UUID | None:
    """The trip of the token's changes still waiting for an admin, if any."""
    trip: UUID | None = await tx.fetchval(
        "SELECT trip_id FROM scim_deprovisions WHERE token_id = $1 AND status = 'held'"
        " LIMIT 1", token_id)
    return trip


async def window(tx: Tx, token_id: UUID, since: datetime) -> tuple[int, int]:
    """(deprovisions the token applied since `since`, users active now)."""
    row = await tx.fetchrow(
        "SELECT (SELECT count(*) FROM scim_deprovisions WHERE token_id = $1"
        "  AND status = 'applied' AND created_at >= $2) AS applied,"
        " (SELECT count(*) FROM users WHERE active) AS active", token_id, since)
    if row is None:
        raise RuntimeError("expected row is not None")
    return int(row["applied"]), int(row["active"])


async def prune(tx: Tx, token_id: UUID, before: datetime) -> None:
    """Applied changes older than the longest window count for nothing any more."""
    await tx.execute("DELETE FROM scim_deprovisions WHERE token_id = $1 AND status = 'applied'"
                     " AND created_at < $2", token_id, before)


async def insert(tx: Tx, *, change_id: UUID, token_id: UUID, user_id: UUID, op: str,
                 status: str, trip_id: UUID | None, now: datetime) -> None:
    await tx.execute(
        "INSERT INTO scim_deprovisions (tenant_id, id, token_id, user_id, op, status, trip_id,"
        " created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        tx.tenant_id, change_id, token_id, user_id, op, status, trip_id, now)


async def set_op(tx: Tx, change_id: UUID, op: str) -> None:
    await tx.execute("UPDATE scim_deprovisions SET op = $2 WHERE id = $1 AND status = 'held'",
                     change_id, op)


async def resolve(tx: Tx, change_id: UUID, *, status: str, by: UUID | None, now: datetime
                  ) -> None:
    await tx.execute(
        "UPDATE scim_deprovisions SET status = $2, resolved_by = $3, resolved_at = $4"
        " WHERE id = $1 AND status = 'held'", change_id, status, by, now)


async def held_for_update(tx: Tx, ids: list[UUID] | None) -> list[asyncpg.Record]:
    """Held changes (all, or those of `ids`), oldest first, locked for this transaction."""
    where = " AND d.id = ANY($1::uuid[])" if ids is not None else ""
    args: tuple[Any, ...] = (ids,) if ids is not None else ()
    return await tx.fetch(
        f"SELECT {CHANGE_COLUMNS} FROM {_CHANGES} WHERE d.status = 'held'{where}"
        " ORDER BY d.created_at, d.id FOR UPDATE OF d", *args)


async def held_page(tx: Tx, *, after: tuple[datetime, UUID] | None, limit: int
                    ) -> tuple[list[asyncpg.Record], int]:
    return await keyset_page(tx, columns=CHANGE_COLUMNS, source=_CHANGES, params=Params(),
                             where=["d.status = 'held'"], count_source="scim_deprovisions d",
                             key=("d.created_at", "d.id"), after=after, limit=limit)


async def user_for_update(tx: Tx, user_id: UUID) -> asyncpg.Record | None:
    """The user row (whatever its state), locked: approvals re-check it."""
    return await tx.fetchrow(
        "SELECT id, role, active, scim_deleted_at, scim_resource, display_name, email"
        " FROM users WHERE id = $1 FOR NO KEY UPDATE", user_id)


async def set_marker(tx: Tx, user_id: UUID, doc: dict[str, Any], now: datetime) -> None:
    """Write the user's SCIM document carrying (or no longer carrying) the held marker."""
    await tx.execute("UPDATE users SET scim_resource = $2, updated_at = $3 WHERE id = $1",
                     user_id, doc, now)


async def owner_contact(tx: Tx) -> asyncpg.Record | None:
    return await tx.fetchrow(
        "SELECT u.email, t.name, t.slug FROM tenants t JOIN users u"
        " ON u.tenant_id = t.tenant_id AND u.id = t.owner_id")


async def token_name(tx: Tx, token_id: UUID) -> str | None:
    name: str | None = await tx.fetchval("SELECT name FROM scim_tokens WHERE id = $1", token_id)
    return name
