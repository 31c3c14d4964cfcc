"""SQL for SSO connections, login states, one-time codes and enforcement settings."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

from app.core.sql import expect_row, insert_row
from app.core.tx import Tx

CONNECTION_COLUMNS = ("id, tenant_id, protocol, name, enabled, config, secret_enc,"
                      " jit_provisioning, default_role, created_at, updated_at")


# ---- connections ----

async def count_connections(tx: Tx) -> int:
    return int(await tx.fetchval("SELECT count(*) FROM sso_connections"))


async def insert_connection(tx: Tx, *, protocol: str, name: str, enabled: bool,
                            config: dict[str, Any], secret_enc: bytes | None,
                            jit_provisioning: bool, default_role: str, now: datetime
                            ) -> asyncpg.Record:
    row = await tx.fetchrow(
        "INSERT INTO sso_connections (tenant_id, protocol, name, enabled, config, secret_enc,"
        " jit_provisioning, default_role, created_at, updated_at)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9)"
        f" RETURNING {CONNECTION_COLUMNS}",
        tx.tenant_id, protocol, name, enabled, config, secret_enc, jit_provisioning,
        default_role, now)
    return expect_row(row)


async def list_connections(tx: Tx) -> list[asyncpg.Record]:
    return await tx.fetch(f"SELECT {CONNECTION_COLUMNS} FROM sso_connections"
                          " ORDER BY created_at, id")


async def get_connection(tx: Tx, connection_id: UUID, *, for_update: bool = False
                         ) -> asyncpg.Record | None:
    lock = " FOR NO KEY UPDATE" if for_update else ""
    return await tx.fetchrow(
        f"SELECT {CONNECTION_COLUMNS} FROM sso_connections WHERE id = $1{lock}", connection_id)


async def enabled_connections(tx: Tx, protocol: str) -> list[asyncpg.Record]:
    return await tx.fetch(
        f"SELECT {CONNECTION_COLUMNS} FROM sso_connections WHERE enabled AND protocol = $1"
        " ORDER BY created_at, id", protocol)


async def update_connection(tx: Tx, connection_id: UUID, *, name: str, enabled: bool,
                            config: dict[str, Any], secret_enc: bytes | None,
                            jit_provisioning: bool, default_role: str, now: datetime
                            ) -> asyncpg.Record:
    row = await tx.fetchrow(
        "UPDATE sso_connections SET name = $2, enabled = $3, config = $4, secret_enc = $5,"
        " jit_provisioning = $6, default_role = $7, updated_at = $8 WHERE id = $1"
        f" RETURNING {CONNECTION_COLUMNS}",
        connection_id, name, enabled, config, secret_enc, jit_provisioning, default_role, now)
    return expect_row(row)


async def delete_connection(tx: Tx, connection_id: UUID) -> None:
    await tx.execute("DELETE FROM sso_connections WHERE id = $1", connection_id)


async def revoke_connection_sessions(tx: Tx, connection_id: UUID, now: datetime) -> int:
    status = await tx.execute(
        "UPDATE sessions SET revoked_at = $2 WHERE sso_connection_id = $1"
        " AND revoked_at IS NULL", connection_id, now)
    return int(status.split()[-1])


# ---- login states ----

async def insert_state(tx: Tx, *, state_hash: bytes, connection_id: UUID, browser_hash: bytes,
                       nonce: str, code_verifier: str, return_to: str, now: datetime,
                       expires_at: datetime) -> None:
    await insert_row(tx, "sso_login_states", {
        "state_hash": state_hash, "connection_id": connection_id, "browser_hash": browser_hash,
        "nonce": nonce, "code_verifier": code_verifier, "return_to": return_to,
        "created_at": now, "expires_at": expires_at})


async def delete_expired_states(tx: Tx, before: datetime) -> None:
    await tx.execute("DELETE FROM sso_login_states WHERE expires_at < $1", before)


async def take_state(tx: Tx, state_hash: bytes) -> asyncpg.Record | None:
    """The state row, locked (its single use is marked by use_state in this transaction)."""
    return await tx.fetchrow(
        "SELECT id, connection_id, browser_hash, nonce, code_verifier, return_to, expires_at,"
        " used_at FROM sso_login_states WHERE state_hash = $1 FOR NO KEY UPDATE", state_hash)


async def use_state(tx: Tx, state_id: UUID, now: datetime) -> None:
    await tx.execute("UPDATE sso_login_states SET used_at = $2 WHERE id = $1", state_id, now)


# ---- users (matching and just-in-time provisioning) ----

USER_MATCH = ("SELECT id, email, user_name, role, active, external_id FROM users"
              " WHERE scim_deleted_at IS NULL AND ")


async def user_by_external_id(tx: Tx, external_id: str) -> asyncpg.Record | None:
    return await tx.fetchrow(USER_MATCH + "external_id = $1 ORDER BY created_at LIMIT 1",
                             external_id)


async def user_by_user_name(tx: Tx, user_name: str) -> asyncpg.Record | None:
    return await tx.fetchrow(USER_MATCH + "user_name_key = lower($1)", user_name)


async def user_by_email(tx: Tx, email: str) -> asyncpg.Record | None:
    return await tx.fetchrow(USER_MATCH + "email_key = lower($1)", email)


async def insert_user(tx: Tx, *, email: str, user_name: str, display_name: str | None,
                      external_id: str | None, role: str, now: datetime) -> asyncpg.Record:
    row = await tx.fetchrow(
        "INSERT INTO users (tenant_id, email, user_name, display_name, external_id, role,"
        " created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $7)"
        " RETURNING id, email, user_name, role, active, external_id",
        tx.tenant_id, email, user_name, display_name, external_id, role, now)
    return expect_row(row)


async def mapped_role(tx: Tx, groups: list[str]) -> str | None:
    """The highest role the SCIM group mappings give these IdP group names (an `owner`
    mapping gives admin, as in SCIM); None when no group is mapped."""
    value: str | None = await tx.fetchval(
        "SELECT CASE max(CASE role WHEN 'owner' THEN 2 WHEN 'admin' THEN 2"
        " WHEN 'member' THEN 1 ELSE 0 END) WHEN 2 THEN 'admin' WHEN 1 THEN 'member'"
        " WHEN 0 THEN 'viewer' END FROM scim_group_mappings"
        " WHERE group_key = ANY(SELECT lower(g) FROM unnest($1::text[]) AS g)", groups)
    return value


async def mark_sso_session(tx: Tx, session_id: UUID, connection_id: UUID) -> None:
    await tx.execute("UPDATE sessions SET sso_connection_id = $2 WHERE id = $1",
                     session_id, connection_id)


# ---- one-time codes ----

async def insert_code(tx: Tx, *, code_hash: bytes, session_id: UUID, now: datetime,
                      expires_at: datetime) -> None:
    await tx.execute(
        "INSERT INTO sso_login_codes (tenant_id, code_hash, session_id, created_at, expires_at)"
        " VALUES ($1, $2, $3, $4, $5)", tx.tenant_id, code_hash, session_id, now, expires_at)


async def take_code(tx: Tx, code_hash: bytes) -> asyncpg.Record | None:
    return await tx.fetchrow(
        "SELECT c.id, c.session_id, c.expires_at, c.used_at, s.user_id, s.revoked_at,"
        " s.expires_at AS session_expires_at, u.active, u.email"
        " FROM sso_login_codes c"
        " JOIN sessions s ON s.tenant_id = c.tenant_id AND s.id = c.session_id"
        " JOIN users u ON u.tenant_id = s.tenant_id AND u.id = s.user_id"
        " WHERE c.code_hash = $1 FOR NO KEY UPDATE OF c", code_hash)


async def use_code(tx: Tx, code_id: UUID, now: datetime) -> None:
    await tx.execute("UPDATE sso_login_codes SET used_at = $2 WHERE id = $1", code_id, now)


# ---- enforcement ----

async def get_settings(tx: Tx) -> asyncpg.Record | None:
    return await tx.fetchrow("SELECT enforced, owner_break_glass, updated_at FROM sso_settings")


async def put_settings(tx: Tx, *, enforced: bool, owner_break_glass: bool, now: datetime
                       ) -> asyncpg.Record:
    row = await tx.fetchrow(
        "INSERT INTO sso_settings (tenant_id, enforced, owner_break_glass, updated_at)"
        " VALUES ($1, $2, $3, $4) ON CONFLICT (tenant_id) DO UPDATE SET"
        " enforced = EXCLUDED.enforced, owner_break_glass = EXCLUDED.owner_break_glass,"
        " updated_at = EXCLUDED.updated_at RETURNING enforced, owner_break_glass, updated_at",
        tx.tenant_id, enforced, owner_break_glass, now)
    return expect_row(row)


async def password_policy(tx: Tx, user_id: UUID, session_id: UUID | None
                          ) -> asyncpg.Record | None:
    """What enforcement needs about a password credential: the tenant's settings, the user's
    role, and (for a refresh) whether the session came from SSO."""
    return await tx.fetchrow(
        "SELECT s.enforced, s.owner_break_glass, u.role,"
        " (SELECT ss.sso_connection_id FROM sessions ss WHERE ss.id = $2) AS sso_connection_id"
        " FROM sso_settings s, users u WHERE u.id = $1", user_id, session_id)
