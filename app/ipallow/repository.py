"""SQL for the IP allowlist: entries, reset tokens, the enforcement lookups, denial dedupe."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

from app.config import Network
from app.core.keyset import keyset_page
from app.core.net import IPAddress
from app.core.sql import expect_row, insert_returning, update_set
from app.core.tx import Tx

COLUMNS = "id, cidr, description, expires_at, scope, mode, created_by, created_at, updated_at"
RESET_COLUMNS = ("id, token_hash, requested_by, email, requested_ip, expires_at, used_at,"
                 " used_ip, superseded_at, created_at")

# ---- before the tenant transaction (definer functions; see the 0500 migration) ----

SEQ_SQL = "SELECT drift_api.ip_allowlist_seq()"
ENTRIES_SQL = ("SELECT seq, id, cidr, expires_at, scope, mode"
               " FROM drift_api.ip_allowlist_entries($1)")


async def current_seq(conn: asyncpg.Connection) -> int:
    """The global allowlist change counter (committed state, read now)."""
    return int(await conn.fetchval(SEQ_SQL))


async def load_entries(conn: asyncpg.Connection, tenant_id: UUID
                       ) -> tuple[int, list[asyncpg.Record]]:
    """A tenant's entries and the counter value they correspond to (one snapshot)."""
    rows = await conn.fetch(ENTRIES_SQL, tenant_id)
    seq = int(rows[0]["seq"]) if rows else 0
    return seq, [r for r in rows if r["id"] is not None]


# ---- entries ----

async def lock_tenant_list(tx: Tx) -> None:
    """Serialise allowlist changes of one tenant (lock-out checks see each other's result)."""
    await tx.execute("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))",
                     f"drift.ipallow:{tx.tenant_id}")


# The entries that refuse user credentials (sessions, API keys): the ones lock-out protection
# and the emailed emergency reset are about.
USERS_ENFORCED = "mode = 'enforce' AND scope IN ('all', 'users')"


async def count(tx: Tx, where: str = "true") -> int:
    return int(await tx.fetchval(f"SELECT count(*) FROM ip_allowlist WHERE {where}"))


async def insert(tx: Tx, *, cidr: Network, description: str | None,
                 expires_at: datetime | None, scope: str, mode: str, created_by: UUID | None,
                 now: datetime) -> asyncpg.Record:
    row = await tx.fetchrow(
        "INSERT INTO ip_allowlist (tenant_id, cidr, description, expires_at, scope, mode,"
        " created_by, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8)"
        f" RETURNING {COLUMNS}",
        tx.tenant_id, cidr, description, expires_at, scope, mode, created_by, now)
    return expect_row(row)


async def get(tx: Tx, entry_id: UUID, *, for_update: bool = False) -> asyncpg.Record | None:
    lock = " FOR NO KEY UPDATE" if for_update else ""
    return await tx.fetchrow(f"SELECT {COLUMNS} FROM ip_allowlist WHERE id = $1{lock}",
                             entry_id)


async def update(tx: Tx, entry_id: UUID, fields: dict[str, Any], now: datetime
                 ) -> asyncpg.Record | None:
    sets, args = update_set(entry_id, now, fields, ("description", "expires_at", "scope", "mode"))
    return await tx.fetchrow(
        f"UPDATE ip_allowlist SET {sets} WHERE id = $1 RETURNING {COLUMNS}", *args)


async def delete(tx: Tx, entry_id: UUID) -> asyncpg.Record | None:
    return await tx.fetchrow(f"DELETE FROM ip_allowlist WHERE id = $1 RETURNING {COLUMNS}",
                             entry_id)


async def delete_all(tx: Tx, where: str = "true") -> list[asyncpg.Record]:
    return await tx.fetch(f"DELETE FROM ip_allowlist WHERE {where} RETURNING {COLUMNS}")


async def promote_candidates(tx: Tx, now: datetime) -> tuple[list[asyncpg.Record],
                                                              list[asyncpg.Record]]:
    """Replace the enforced entries with the report-only ones: (removed, promoted)."""
    removed = await tx.fetch(
        f"DELETE FROM ip_allowlist WHERE mode = 'enforce' RETURNING {COLUMNS}")
    promoted = await tx.fetch(
        "UPDATE ip_allowlist SET mode = 'enforce', updated_at = $1"
        f" WHERE mode = 'report_only' RETURNING {COLUMNS}", now)
    return removed, promoted


async def list_page(tx: Tx, *, after: tuple[datetime, UUID] | None, limit: int
                    ) -> tuple[list[asyncpg.Record], int]:
    return await keyset_page(tx, columns=COLUMNS, source="ip_allowlist", after=after,
                             limit=limit)


async def match(tx: Tx, ip: IPAddress | None, now: datetime) -> tuple[int, asyncpg.Record | None]:
    """(number of enforced entries that apply to user credentials, the most specific live one
    containing `ip`), in the database: `cidr >>= ip` is served by the GiST inet_ops index."""
    return await match_in(tx, ip, now, USERS_ENFORCED)


async def match_in(tx: Tx, ip: IPAddress | None, now: datetime, where: str
                   ) -> tuple[int, asyncpg.Record | None]:
    """`match` over the entries `where` selects (a constant predicate of this module)."""
    total = await count(tx, where)
    if ip is None or total == 0:
        return total, None
    row = await tx.fetchrow(
        f"SELECT {COLUMNS} FROM ip_allowlist"
        f" WHERE {where} AND cidr >>= $1::inet AND (expires_at IS NULL OR expires_at > $2)"
        " ORDER BY masklen(cidr) DESC LIMIT 1", ip, now)
    return total, row


def list_filter(scope: str, mode: str) -> str:
    """The predicate for one (credential kind, mode) list; both values come from Literals."""
    kinds = {"users": "('all', 'users')", "scim": "('all', 'scim')"}[scope]
    modes = {"enforce": "'enforce'", "report_only": "'report_only'"}[mode]
    return f"mode = {modes} AND scope IN {kinds}"


# ---- emergency-reset tokens ----

async def recent_reset_requests(tx: Tx, since: datetime) -> int:
    return int(await tx.fetchval(
        "SELECT count(*) FROM ip_allowlist_resets WHERE created_at >= $1", since))


async def supersede_pending_resets(tx: Tx, now: datetime) -> int:
    status = await tx.execute(
        "UPDATE ip_allowlist_resets SET superseded_at = $1"
        " WHERE used_at IS NULL AND superseded_at IS NULL AND expires_at > $1", now)
    return int(status.split()[-1])


async def insert_reset(tx: Tx, *, digest: bytes, requested_by: UUID, email: str,
                       requested_ip: IPAddress | None, expires_at: datetime, now: datetime
                       ) -> asyncpg.Record:
    return await insert_returning(tx, "ip_allowlist_resets", {
        "token_hash": digest, "requested_by": requested_by, "email": email,
        "requested_ip": requested_ip, "expires_at": expires_at, "created_at": now}, RESET_COLUMNS)


async def get_reset_for_update(tx: Tx, reset_id: UUID, digest: bytes) -> asyncpg.Record | None:
    return await tx.fetchrow(
        f"SELECT {RESET_COLUMNS} FROM ip_allowlist_resets WHERE id = $1 AND token_hash = $2"
        " FOR NO KEY UPDATE", reset_id, digest)


async def get_reset(tx: Tx, reset_id: UUID, digest: bytes) -> asyncpg.Record | None:
    return await tx.fetchrow(
        f"SELECT {RESET_COLUMNS} FROM ip_allowlist_resets WHERE id = $1 AND token_hash = $2",
        reset_id, digest)


async def mark_reset_used(tx: Tx, reset_id: UUID, used_ip: IPAddress | None, now: datetime
                          ) -> None:
    await tx.execute("UPDATE ip_allowlist_resets SET used_at = $2, used_ip = $3 WHERE id = $1",
                     reset_id, now, used_ip)


async def tenant_slug(tx: Tx) -> str | None:
    value: str | None = await tx.fetchval("SELECT slug FROM tenants")
    return value


# ---- denial dedupe (one event per tenant, address and minute across processes) ----

async def lock_and_check_denial(tx: Tx, ip: IPAddress | None, minute_start: datetime,
                                minute_end: datetime) -> bool:
    """Serialise recorders of the same (tenant, address, minute) and say whether an
    ip_allowlist.denied event already exists for it."""
    key = f"drift.ipallow.denied:{tx.tenant_id}:{ip}:{minute_start.isoformat()}"
    await tx.execute("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", key)
    return bool(await tx.fetchval(
        "SELECT EXISTS (SELECT 1 FROM audit_events WHERE action = 'ip_allowlist.denied'"
        " AND created_at >= $1 AND created_at < $2 AND ip IS NOT DISTINCT FROM $3::inet)",
        minute_start, minute_end, ip))


# ---- the report of the candidate (report-only) list ----

REPORT_COLUMNS = "id, credential_type, ip, user_id, count, first_seen, last_seen"


async def upsert_report(tx: Tx, *, credential: str, ip: IPAddress | None, user_id: UUID | None,
                        hits: int, now: datetime) -> None:
    await tx.execute(
        "INSERT INTO ip_allowlist_report (tenant_id, credential_type, ip, user_id, count,"
        " first_seen, last_seen) VALUES ($1, $2, $3, $4, $5, $6, $6)"
        " ON CONFLICT ON CONSTRAINT ip_allowlist_report_key DO UPDATE"
        " SET count = ip_allowlist_report.count + EXCLUDED.count,"
        " last_seen = greatest(ip_allowlist_report.last_seen, EXCLUDED.last_seen)",
        tx.tenant_id, credential, ip, user_id, hits, now)


async def report_page(tx: Tx, *, after: tuple[datetime, UUID] | None, limit: int
                      ) -> tuple[list[asyncpg.Record], int]:
    return await keyset_page(tx, columns=REPORT_COLUMNS, source="ip_allowlist_report",
                             key=("last_seen", "id"), newest_first=True, after=after,
                             limit=limit)


async def clear_report(tx: Tx) -> int:
    status = await tx.execute("DELETE FROM ip_allowlist_report")
    return int(status.split()[-1])
