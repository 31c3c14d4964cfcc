"""Tenant isolation enforced by PostgreSQL itself, tested as the runtime role."""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg
import pytest

from app.core.db import connect
from app.core.tx import own_tx
from tests.conftest import DbInfo, Tenant

pytestmark = pytest.mark.isolation


async def tenant_tables(conn: asyncpg.Connection) -> list[str]:
    rows = await conn.fetch(
        "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
        " JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = 'tenant_id'"
        " WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND NOT c.relispartition"
        " ORDER BY 1")
    return [r[0] for r in rows]


async def _set_tenant(conn: asyncpg.Connection, tenant_id: uuid.UUID) -> None:
    await conn.execute("SELECT set_config('app.tenant_id', $1, true)", str(tenant_id))


async def test_every_public_table_is_a_tenant_table(test_db: DbInfo) -> None:
    conn = await connect(test_db.app_url)
    try:
        tables = await tenant_tables(conn)
        others = await conn.fetch(
            "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND NOT c.relispartition"
            " AND c.relname <> ALL($1::text[]) ORDER BY 1", tables)
    finally:
        await conn.close()
    assert {"tenants", "users", "api_keys", "sessions", "projects", "audit_events",
            "teams", "team_memberships", "team_projects", "invitations"} <= set(tables)
    assert [r[0] for r in others] == ["alembic_version"]


async def test_no_tenant_set_reads_nothing(test_db: DbInfo, tenant: Tenant) -> None:
    conn = await connect(test_db.app_url)
    try:
        for table in await tenant_tables(conn):
            async with conn.transaction():
                count = await conn.fetchval(f'SELECT count(*) FROM "{table}"')
            assert count == 0, f"{table} is readable with no tenant set"
    finally:
        await conn.close()


async def test_other_tenant_rows_are_invisible_and_untouchable(
        test_db: DbInfo, tenant: Tenant, other_tenant: Tenant) -> None:
    """With tenant A set, SELECT, UPDATE, DELETE and INSERT of B's rows all fail or see nothing,
    for every tenant table that the runtime role may touch at all."""
    a, b = tenant, other_tenant
    conn = await connect(test_db.app_url)
    try:
        for table in await tenant_tables(conn):
            async with conn.transaction():
                await _set_tenant(conn, a.id)
                seen = await conn.fetchval(
                    f'SELECT count(*) FROM "{table}" WHERE tenant_id = $1', b.id)
                assert seen == 0, f"{table}: tenant A sees tenant B's rows"
                privileges = await conn.fetchrow(
                    "SELECT has_table_privilege(current_user, $1, 'UPDATE') AS u,"
                    " has_table_privilege(current_user, $1, 'DELETE') AS d", f"public.{table}")
                if privileges["u"]:
                    status = await conn.execute(
                        f'UPDATE "{table}" SET tenant_id = tenant_id WHERE tenant_id = $1', b.id)
                    assert status.endswith(" 0"), f"{table}: A updated B's rows"
                if privileges["d"]:
                    status = await conn.execute(
                        f'DELETE FROM "{table}" WHERE tenant_id = $1', b.id)
                    assert status.endswith(" 0"), f"{table}: A deleted B's rows"
        # B's data is all still there
        async with conn.transaction():
            await _set_tenant(conn, b.id)
            assert await conn.fetchval("SELECT count(*) FROM users") == 1
            assert await conn.fetchval("SELECT count(*) FROM tenants") == 1
    finally:
        await conn.close()


INSERTS: dict[str, tuple[str, list[Any]]] = {  # table -> an INSERT naming $1 as tenant
    "projects": ("INSERT INTO projects (tenant_id, name, slug) VALUES ($1, 'x', 'x')", []),
    "users": ("INSERT INTO users (tenant_id, user_name) VALUES ($1, 'intruder')", []),
    "teams": ("INSERT INTO teams (tenant_id, name) VALUES ($1, 'x')", []),
    "audit_events": ("INSERT INTO audit_events (tenant_id, actor_type, action, resource_type,"
                     " outcome) VALUES ($1, 'system', 'x.y', 'x', 'success')", []),
    "outbox_events": ("INSERT INTO outbox_events (tenant_id, id, type, created_at, data)"
                      " VALUES ($1, gen_random_uuid(), 'x', now(), '{}')", []),
    "tenants": ("INSERT INTO tenants (tenant_id, name, slug) VALUES ($1, 'x', 'xx-intruder')",
                []),
}


@pytest.mark.parametrize("table", sorted(INSERTS))
async def test_insert_with_another_tenants_id_is_refused(
        test_db: DbInfo, tenant: Tenant, other_tenant: Tenant, table: str) -> None:
    sql, _ = INSERTS[table]
    conn = await connect(test_db.app_url)
    target = other_tenant.id if table != "tenants" else uuid.uuid4()
    try:
        async with conn.transaction():
            await _set_tenant(conn, tenant.id)
            with pytest.raises(asyncpg.InsufficientPrivilegeError, match="row-level security"):
                await conn.execute(sql, target)
    finally:
        await conn.close()


async def test_runtime_role_cannot_reach_private_schema(test_db: DbInfo) -> None:
    conn = await connect(test_db.app_url)
    try:
        for table in ("drift_private.token_index", "drift_private.tenant_index"):
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await conn.fetch(f"SELECT * FROM {table}")
    finally:
        await conn.close()


async def test_pooled_connection_carries_no_tenant_after_a_request(
        runtime: Any, client: Any, tenant: Tenant) -> None:
    # make requests that open tenant transactions on pooled connections
    for _ in range(3):
        r = await client.get("/api/v1/projects", headers=tenant.headers)
        assert r.status_code == 200
    pool = runtime.db.pool
    held = [await pool.acquire() for _ in range(pool.get_size())]
    try:
        for conn in held:
            assert await conn.fetchval("SELECT current_setting('app.tenant_id', true)") in (
                None, "")
            assert await conn.fetchval("SELECT count(*) FROM projects") == 0
            assert not conn.is_in_transaction()
    finally:
        for conn in held:
            await pool.release(conn)


async def test_tenant_setting_ends_with_the_transaction(test_db: DbInfo,
                                                       tenant: Tenant) -> None:
    """A one-connection pool guarantees the next user gets the same physical connection."""
    from app.core.db import Database

    db = Database(test_db.app_url, min_size=1, max_size=1)
    await db.start()
    try:
        async with own_tx(db, tenant.id) as tx:
            assert await tx.fetchval("SELECT count(*) FROM tenants") == 1
            pid = await tx.fetchval("SELECT pg_backend_pid()")
        assert await db.fetchval("SELECT pg_backend_pid()") == pid
        assert await db.fetchval("SELECT current_setting('app.tenant_id', true)") in (None, "")
        assert await db.fetchval("SELECT count(*) FROM tenants") == 0
        with pytest.raises(RuntimeError):
            async with own_tx(db, tenant.id):
                raise RuntimeError("boom")
        assert await db.fetchval("SELECT current_setting('app.tenant_id', true)") in (None, "")
    finally:
        await db.close()
