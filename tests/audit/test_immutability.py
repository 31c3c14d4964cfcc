"""The audit log cannot be changed: not by the runtime role, not even by the schema owner."""

from __future__ import annotations

import asyncpg
import pytest

from app.core.db import connect
from tests.conftest import DbInfo, Tenant, audit_events

pytestmark = pytest.mark.isolation


async def _as_tenant(url: str, tenant: Tenant) -> asyncpg.Connection:
    conn = await connect(url)
    await conn.execute("BEGIN")
    await conn.execute("SELECT set_config('app.tenant_id', $1, true)", str(tenant.id))
    return conn


@pytest.mark.parametrize(("role", "refusal"), [
    ("app", None),            # the runtime role has no UPDATE/DELETE/TRUNCATE grant
    ("owner", "immutable"),   # the owner has, and the immutability trigger refuses
])
@pytest.mark.parametrize("statement", [
    "UPDATE audit_events SET action = 'tampered.event'",
    "DELETE FROM audit_events",
    "TRUNCATE audit_events",
])
async def test_neither_the_runtime_role_nor_the_owner_can_change_events(
        test_db: DbInfo, tenant: Tenant, role: str, refusal: str | None, statement: str) -> None:
    before = await audit_events(tenant)
    assert before, "tenant creation should have left events"
    conn = await _as_tenant(test_db.app_url if role == "app" else test_db.owner_url, tenant)
    try:
        with pytest.raises(asyncpg.InsufficientPrivilegeError, match=refusal):
            await conn.execute(statement)
    finally:
        await conn.close()
    assert [tuple(r) for r in await audit_events(tenant)] == [tuple(r) for r in before]


async def test_another_tenant_cannot_see_events_even_by_sql(
        test_db: DbInfo, tenant: Tenant, other_tenant: Tenant) -> None:
    conn = await _as_tenant(test_db.app_url, other_tenant)
    try:
        seen = await conn.fetchval("SELECT count(*) FROM audit_events WHERE tenant_id = $1",
                                   tenant.id)
    finally:
        await conn.close()
    assert seen == 0


async def test_runtime_role_cannot_change_one_event_or_the_chain(test_db: DbInfo,
                                                                 tenant: Tenant) -> None:
    [event] = (await audit_events(tenant))[:1]
    for statement in ("UPDATE audit_events SET metadata = '{}' WHERE id = $1",
                      "DELETE FROM audit_events WHERE id = $1"):
        conn = await _as_tenant(test_db.app_url, tenant)
        try:
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await conn.execute(statement, event["id"])
        finally:
            await conn.close()
    for statement in ("UPDATE audit_chain SET last_seq = 0",
                      "DELETE FROM audit_chain",
                      "INSERT INTO audit_chain (tenant_id) VALUES ($1)"):
        conn = await _as_tenant(test_db.app_url, tenant)
        try:
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await conn.execute(statement, *([tenant.id] if "$1" in statement else []))
        finally:
            await conn.close()
    [after] = (await audit_events(tenant))[:1]
    assert tuple(after) == tuple(event)


async def test_an_event_cannot_be_written_into_another_tenants_log(
        test_db: DbInfo, tenant: Tenant, other_tenant: Tenant) -> None:
    [head_before] = await other_tenant.sql("SELECT last_seq, last_hash FROM audit_chain")
    conn = await _as_tenant(test_db.app_url, tenant)
    try:
        with pytest.raises(asyncpg.PostgresError, match="row-level security"):
            await conn.execute(
                "INSERT INTO audit_events (tenant_id, actor_type, action, resource_type,"
                " outcome) VALUES ($1, 'system', 'project.create', 'project', 'success')",
                other_tenant.id)
    finally:
        await conn.close()
    [head_after] = await other_tenant.sql("SELECT last_seq, last_hash FROM audit_chain")
    assert tuple(head_after) == tuple(head_before)


async def test_another_tenant_sees_no_events_and_no_chain_head(
        test_db: DbInfo, tenant: Tenant, other_tenant: Tenant) -> None:
    [event] = (await audit_events(tenant))[:1]
    conn = await _as_tenant(test_db.app_url, other_tenant)
    try:
        assert await conn.fetchval("SELECT count(*) FROM audit_events WHERE id = $1",
                                   event["id"]) == 0
        assert await conn.fetchval("SELECT count(*) FROM audit_chain WHERE tenant_id = $1",
                                   tenant.id) == 0
        assert await conn.fetchval(
            "SELECT count(*) FROM audit_events WHERE tenant_id <> $1", other_tenant.id) == 0
    finally:
        await conn.close()
