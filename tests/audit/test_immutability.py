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


@pytest.mark.parametrize("statement", [
    "UPDATE audit_events SET action = 'tampered.event'",
    "DELETE FROM audit_events",
    "TRUNCATE audit_events",
])
async def test_runtime_role_cannot_change_events(test_db: DbInfo, tenant: Tenant,
                                                 statement: str) -> None:
    before = await audit_events(tenant)
    assert before, "tenant creation should have left events"
    conn = await _as_tenant(test_db.app_url, tenant)
    try:
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await conn.execute(statement)
    finally:
        await conn.close()
    assert [tuple(r) for r in await audit_events(tenant)] == [tuple(r) for r in before]


@pytest.mark.parametrize("statement", [
    "UPDATE audit_events SET action = 'tampered.event'",
    "DELETE FROM audit_events",
    "TRUNCATE audit_events",
])
async def test_even_the_owner_cannot_change_events(test_db: DbInfo, tenant: Tenant,
                                                   statement: str) -> None:
    before = await audit_events(tenant)
    conn = await _as_tenant(test_db.owner_url, tenant)
    try:
        with pytest.raises(asyncpg.InsufficientPrivilegeError, match="immutable"):
            await conn.execute(statement)
    finally:
        await conn.close()
    assert len(await audit_events(tenant)) == len(before)


async def test_another_tenant_cannot_see_events_even_by_sql(
        test_db: DbInfo, tenant: Tenant, other_tenant: Tenant) -> None:
    conn = await _as_tenant(test_db.app_url, other_tenant)
    try:
        seen = await conn.fetchval("SELECT count(*) FROM audit_events WHERE tenant_id = $1",
                                   tenant.id)
    finally:
        await conn.close()
    assert seen == 0
