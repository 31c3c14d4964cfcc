"""SQL for users, API keys and sessions."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

import asyncpg

from app.core.db import Database
from app.core.keyset import Params, keyset_page
from app.core.sql import expect_row, insert_returning
from app.core.tx import Tx

USER_COLUMNS = ("id, email, user_name, display_name, role, active, deprovisioned_at, "
                "last_active_at, created_at, updated_at")
KEY_COLUMNS = "id, user_id, name, prefix, created_at, expires_at, last_used_at, revoked_at"


# ---- lookups before the tenant is known (definer functions) ----

async def tenant_id_for_slug(db: Database, slug: str) -> UUID | None:
    value: UUID | None = await db.fetchval("SELECT drift_api.tenant_id_for_slug($1)", slug)
    return value


async def token_tenant(db: Database, digest: bytes, kind: str) -> asyncpg.Record | None:
    return await db.fetchrow("SELECT tenant_id, ref_id FROM drift_api.token_tenant($1, $2)",
                             digest, kind)


# ---- throttling of failed logins and token guesses (drift_private.auth_throttle) ----

async def throttle_locked_until(db: Database, keys: list[bytes], now: datetime
                                ) -> datetime | None:
    value: datetime | None = await db.fetchval(
        "SELECT drift_api.throttle_locked_until($1, $2)", keys, now)
    return value


async def throttle_failure(db: Database, key: bytes, kind: str, now: datetime, *,
                           max_failures: int, window_seconds: int, base_seconds: int,
                           max_seconds: int) -> datetime | None:
    value: datetime | None = await db.fetchval(
        "SELECT drift_api.throttle_failure($1, $2, $3, $4, $5, $6, $7)",
        key, kind, now, max_failures, window_seconds, base_seconds, max_seconds)
    return value


async def throttle_clear(db: Database, key: bytes, now: datetime) -> None:
    await db.fetchval("SELECT drift_api.throttle_clear($1, $2)", key, now)


# ---- users ----

async def get_user(tx: Tx, user_id: UUID) -> asyncpg.Record | None:
    return await tx.fetchrow(f"SELECT {USER_COLUMNS} FROM users WHERE id = $1", user_id)


async def get_user_for_update(tx: Tx, user_id: UUID) -> asyncpg.Record | None:
    return await tx.fetchrow(f"SELECT {USER_COLUMNS} FROM users WHERE id = $1 FOR NO KEY UPDATE",
                             user_id)


async def get_user_login(tx: Tx, email: str) -> asyncpg.Record | None:
    return await tx.fetchrow(
        f"SELECT {USER_COLUMNS}, password_hash FROM users WHERE email_key = lower($1)", email)


async def insert_user(tx: Tx, *, email: str | None, user_name: str, display_name: str | None,
                      role: str, password_hash: str | None, now: datetime) -> asyncpg.Record:
    return await insert_returning(tx, "users", {
        "email": email, "user_name": user_name, "display_name": display_name, "role": role,
        "password_hash": password_hash, "created_at": now, "updated_at": now}, USER_COLUMNS)


async def deactivate_user(tx: Tx, user_id: UUID, now: datetime) -> None:
    await tx.execute(
        "UPDATE users SET active = false, deprovisioned_at = coalesce(deprovisioned_at, $2),"
        " updated_at = $2 WHERE id = $1", user_id, now)


async def reactivate_user(tx: Tx, user_id: UUID, now: datetime) -> None:
    await tx.execute(
        "UPDATE users SET active = true, deprovisioned_at = NULL, updated_at = $2 WHERE id = $1",
        user_id, now)


async def revoke_user_api_keys(tx: Tx, user_id: UUID, now: datetime) -> int:
    status = await tx.execute(
        "UPDATE api_keys SET revoked_at = $2 WHERE user_id = $1 AND revoked_at IS NULL",
        user_id, now)
    return int(status.split()[-1])


async def revoke_user_sessions(tx: Tx, user_id: UUID, now: datetime) -> int:
    status = await tx.execute(
        "UPDATE sessions SET revoked_at = $2 WHERE user_id = $1 AND revoked_at IS NULL",
        user_id, now)
    return int(status.split()[-1])


# ---- API keys ----

async def insert_api_key(tx: Tx, *, user_id: UUID, name: str, prefix: str, digest: bytes,
                         expires_at: datetime | None, now: datetime) -> asyncpg.Record:
    row = await tx.fetchrow(
        "INSERT INTO api_keys (tenant_id, user_id, name, prefix, sha256, expires_at, created_at)"
        f" VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING {KEY_COLUMNS}",
        tx.tenant_id, user_id, name, prefix, digest, expires_at, now)
    return expect_row(row)


async def get_api_key(tx: Tx, key_id: UUID) -> asyncpg.Record | None:
    return await tx.fetchrow(f"SELECT {KEY_COLUMNS} FROM api_keys WHERE id = $1", key_id)


async def list_api_keys(tx: Tx, *, user_id: UUID | None, after: tuple[datetime, UUID] | None,
                        limit: int) -> tuple[list[asyncpg.Record], int]:
    params = Params()
    where = [f"user_id = {params.add(user_id)}"] if user_id is not None else []
    return await keyset_page(tx, columns=KEY_COLUMNS, source="api_keys", params=params,
                             where=where, after=after, limit=limit)


async def revoke_api_key(tx: Tx, key_id: UUID, now: datetime) -> None:
    await tx.execute(
        "UPDATE api_keys SET revoked_at = coalesce(revoked_at, $2) WHERE id = $1", key_id, now)


# ---- sessions ----

async def insert_session(tx: Tx, *, user_id: UUID, refresh_digest: bytes, expires_at: datetime,
                         ip: str | None, user_agent: str | None, now: datetime) -> UUID:
    value: UUID = await tx.fetchval(
        "INSERT INTO sessions (tenant_id, user_id, refresh_hash, expires_at, ip, user_agent,"
        " created_at) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
        tx.tenant_id, user_id, refresh_digest, expires_at, ip, user_agent, now)
    return value


async def get_session_for_update(tx: Tx, session_id: UUID) -> asyncpg.Record | None:
    return await tx.fetchrow(
        "SELECT s.id, s.user_id, s.refresh_hash, s.expires_at, s.revoked_at, u.active"
        " FROM sessions s JOIN users u ON u.tenant_id = s.tenant_id AND u.id = s.user_id"
        " WHERE s.id = $1 FOR NO KEY UPDATE OF s", session_id)


async def rotate_session(tx: Tx, session_id: UUID, refresh_digest: bytes, now: datetime
                         ) -> None:
    await tx.execute("UPDATE sessions SET refresh_hash = $2, refreshed_at = $3 WHERE id = $1",
                     session_id, refresh_digest, now)


async def revoke_session(tx: Tx, session_id: UUID, now: datetime) -> None:
    await tx.execute(
        "UPDATE sessions SET revoked_at = coalesce(revoked_at, $2) WHERE id = $1",
        session_id, now)
