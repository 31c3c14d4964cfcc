"""Heavy audit reads on a real streaming replica (docs/scaling.md, "Read replicas").

The standby is a `pg_basebackup -R` copy of the test server (tests/replica/conftest.py);
`standby.pause()` stops its WAL replay, so what the primary commits afterwards is exactly what
a lagging replica lacks.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import AsyncIterator
from typing import Any

import httpx
import orjson
import pytest
from prometheus_client import REGISTRY

from app.core.db import check_runtime_role, connect
from app.core.runtime import Runtime
from app.main import create_app
from tests.conftest import DbInfo, Tenant, free_port
from tests.replica.conftest import Standby, replica_settings


def reads(database: str, reason: str = "") -> float:
    value = REGISTRY.get_sample_value("drift_db_reads_total",
                                      {"database": database, "reason": reason})
    return value or 0.0


async def make_events(client: httpx.AsyncClient, t: Tenant, n: int) -> None:
    for _ in range(n):
        r = await client.post("/api/v1/projects", headers=t.headers,
                              json={"name": f"p {secrets.token_hex(4)}"})
        assert r.status_code == 201, r.text


async def page(client: httpx.AsyncClient, t: Tenant, **params: Any) -> dict[str, Any]:
    r = await client.get("/api/v1/audit", headers=t.headers,
                         params={"limit": 200, **params})
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


@pytest.fixture
async def paused(standby: Standby, test_db: DbInfo, tenant: Tenant
                 ) -> AsyncIterator[Standby]:
    """The standby, caught up (with the test's tenant) and then paused; resumed (and caught
    up) afterwards."""
    await standby.caught_up(test_db.superuser_url)
    await standby.pause()
    try:
        yield standby
    finally:
        await standby.resume()
        await standby.caught_up(test_db.superuser_url)


async def test_standby_streams_and_rls_isolates_tenants_there(
        standby: Standby, test_db: DbInfo, tenant: Tenant, other_tenant: Tenant,
        replica_client: httpx.AsyncClient) -> None:
    await make_events(replica_client, tenant, 2)
    await standby.caught_up(test_db.superuser_url)
    conn = await connect(standby.app_url)
    try:
        assert await conn.fetchval("SELECT pg_is_in_recovery()") is True
        await check_runtime_role(conn)  # the runtime role: no superuser, no BYPASSRLS
        # no tenant entered: RLS shows nothing, even on the standby
        assert await conn.fetchval("SELECT count(*) FROM audit_events") == 0
        async with conn.transaction():
            await conn.execute("SELECT set_config('app.tenant_id', $1, true)",
                               str(other_tenant.id))
            tenants = await conn.fetch("SELECT DISTINCT tenant_id FROM audit_events")
            assert [r[0] for r in tenants] == [other_tenant.id]
        # the primary's gate writes last_used_at bookkeeping: a hot standby refuses it
        with pytest.raises(Exception, match="read-only transaction"):
            await conn.execute("UPDATE api_keys SET last_used_at = now()")
    finally:
        await conn.close()

    before = reads("replica")
    body = await page(replica_client, other_tenant)
    assert reads("replica") == before + 1
    assert body["data"] and {e["actor"]["type"] for e in body["data"]} <= {"system", "api_key",
                                                                          "user"}
    mine = await page(replica_client, tenant)
    assert {e["action"] for e in mine["data"]} >= {"project.create"}
    assert not {e["id"] for e in mine["data"]} & {e["id"] for e in body["data"]}


async def test_revoked_key_is_refused_at_once_while_the_replica_lags(
        paused: Standby, tenant: Tenant, replica_client: httpx.AsyncClient) -> None:
    admin = await tenant.add_user("admin")
    r = await replica_client.get("/api/v1/audit", headers=admin.headers)
    # the key was created after the pause: the replica does not know it, the primary does
    assert r.status_code == 200
    key_id = (await tenant.sql("SELECT id FROM api_keys WHERE user_id = $1", admin.id))[0][0]
    r = await replica_client.delete(f"/api/v1/api-keys/{key_id}", headers=tenant.headers)
    assert r.status_code == 204
    before = reads("replica")
    for path in ("/api/v1/audit", "/api/v1/audit/export", "/api/v1/audit/verify"):
        r = await replica_client.get(path, headers=admin.headers)
        assert r.status_code == 401, path
        assert r.json()["code"] == "credential_revoked"
    assert reads("replica") == before


async def test_new_key_not_yet_replayed_is_read_from_the_primary(
        paused: Standby, tenant: Tenant, replica_client: httpx.AsyncClient) -> None:
    admin = await tenant.add_user("admin")
    before = reads("primary", "replica_stale_credential")
    r = await replica_client.get("/api/v1/audit", headers=admin.headers)
    assert r.status_code == 200 and r.json()["data"]
    assert reads("primary", "replica_stale_credential") == before + 1


async def test_ascending_cursor_from_a_paused_replica_skips_nothing(
        paused: Standby, test_db: DbInfo, tenant: Tenant,
        replica_client: httpx.AsyncClient) -> None:
    before = reads("replica")
    first = await page(replica_client, tenant, order="asc")
    assert reads("replica") == before + 1
    cursor = first["pagination"]["cursor"]
    seen = [e["seq"] for e in first["data"]]
    # the primary commits events the paused replica does not have
    await make_events(replica_client, tenant, 3)
    again = await page(replica_client, tenant, order="asc", cursor=cursor)
    assert again["data"] == []  # the replica has nothing after the cursor yet...
    assert again["pagination"]["cursor"] == cursor  # ...and the cursor does not move past it
    await paused.resume()
    await paused.caught_up(test_db.superuser_url)
    after = await page(replica_client, tenant, order="asc", cursor=cursor)
    new = [e["seq"] for e in after["data"]]
    assert new[0] == seen[-1] + 1 if seen else new[0] == 1
    assert new == list(range(new[0], new[0] + len(new)))  # dense: no hole
    assert sum(e["action"] == "project.create" for e in after["data"]) == 3


async def test_descending_cursor_ahead_of_the_replica_is_served_by_the_primary(
        paused: Standby, tenant: Tenant, client: httpx.AsyncClient,
        replica_client: httpx.AsyncClient) -> None:
    await make_events(client, tenant, 4)
    # a page from the primary (the cursor is ahead of what the paused replica has)
    top = await page(client, tenant, limit=2)
    cursor = top["pagination"]["cursor"]
    before = reads("primary", "replica_behind_cursor")
    rest = await page(replica_client, tenant, cursor=cursor)
    assert reads("primary", "replica_behind_cursor") == before + 1
    seqs = [e["seq"] for e in top["data"] + rest["data"]]
    assert seqs == list(range(seqs[0], 0, -1))  # everything below the cursor, no hole


async def test_export_from_a_paused_replica_then_the_rest(
        paused: Standby, test_db: DbInfo, tenant: Tenant,
        replica_client: httpx.AsyncClient) -> None:
    before = reads("replica")
    r = await replica_client.get("/api/v1/audit/export", headers=tenant.headers)
    assert r.status_code == 200 and reads("replica") == before + 1
    got = [line for line in r.text.splitlines() if line]
    cursor = r.headers["X-Drift-Next-Cursor"]
    await make_events(replica_client, tenant, 2)
    r = await replica_client.get("/api/v1/audit/export", headers=tenant.headers,
                                 params={"cursor": cursor})
    assert r.status_code == 200 and r.text == ""
    assert r.headers["X-Drift-Next-Cursor"] == cursor
    await paused.resume()
    await paused.caught_up(test_db.superuser_url)
    r = await replica_client.get("/api/v1/audit/export", headers=tenant.headers,
                                 params={"cursor": cursor})
    assert r.status_code == 200
    first, rest = [orjson.loads(x) for x in got], [orjson.loads(x) for x in r.text.splitlines()]
    seqs = [e["seq"] for e in first + rest]
    assert seqs == list(range(1, len(seqs) + 1))
    assert sum(e["action"] == "project.create" for e in rest) == 2


async def test_verify_runs_on_the_replica(standby: Standby, test_db: DbInfo, tenant: Tenant,
                                          replica_client: httpx.AsyncClient) -> None:
    await make_events(replica_client, tenant, 2)
    await standby.caught_up(test_db.superuser_url)
    before = reads("replica")
    r = await replica_client.get("/api/v1/audit/verify", headers=tenant.headers)
    assert r.status_code == 200 and r.json()["valid"] is True and r.json()["checked"] >= 3
    assert reads("replica") == before + 1


async def test_lagging_replica_is_skipped(paused: Standby, tenant: Tenant,
                                          runtime: Runtime) -> None:
    s = replica_settings(runtime.settings, paused, read_max_lag_seconds=0.0)
    rt = Runtime.create(s, s.database_url or "")
    await rt.start()
    try:
        app = create_app(s, runtime=rt, run_worker=False)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                     base_url="http://testserver") as c:
            await make_events(c, tenant, 1)  # the replica now lags behind the primary
            before = reads("primary", "replica_lagging")
            body = await page(c, tenant)
            assert reads("primary", "replica_lagging") == before + 1
            assert body["data"][0]["action"] == "project.create"  # fresh: from the primary
            r = await c.get("/readyz")
            assert r.status_code == 200 and r.json()["replica"]["status"] == "lagging"
    finally:
        await rt.close()


async def test_unreachable_replica_falls_back_and_says_so(
        tenant: Tenant, runtime: Runtime, caplog: pytest.LogCaptureFixture) -> None:
    nowhere = f"postgresql://drift_app:x@127.0.0.1:{free_port()}/drift"
    s = runtime.settings.model_copy(update={"read_database_url": nowhere})
    rt = Runtime.create(s, s.database_url or "")
    await rt.start()  # an unreachable replica does not stop the service
    try:
        app = create_app(s, runtime=rt, run_worker=False)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                     base_url="http://testserver") as c:
            before = reads("primary", "replica_unavailable")
            with caplog.at_level(logging.INFO):
                body = await page(c, tenant)
                r = await c.get("/api/v1/audit/export", headers=tenant.headers)
            assert body["data"] and r.status_code == 200
            assert reads("primary", "replica_unavailable") == before + 2
            access = [rec for rec in caplog.records if rec.name == "drift.access"
                      and getattr(rec, "route", "") == "/api/v1/audit"]
            assert access and access[-1].db == "primary"  # type: ignore[attr-defined]
            assert access[-1].db_reason == "replica_unavailable"  # type: ignore[attr-defined]
            r = await c.get("/readyz")
            assert r.status_code == 200
            assert r.json()["replica"]["status"] == "unreachable"
            assert r.json()["replica"]["reads"] == "primary (fallback)"
    finally:
        await rt.close()


async def test_readyz_and_access_log_report_the_replica(
        standby: Standby, test_db: DbInfo, tenant: Tenant, replica_client: httpx.AsyncClient,
        caplog: pytest.LogCaptureFixture) -> None:
    await standby.caught_up(test_db.superuser_url)
    r = await replica_client.get("/readyz")
    assert r.status_code == 200
    replica = r.json()["replica"]
    assert replica["status"] == "ok" and replica["in_recovery"] is True
    assert replica["lag_seconds"] >= 0
    with caplog.at_level(logging.INFO):
        await page(replica_client, tenant)
    access = [rec for rec in caplog.records if rec.name == "drift.access"
              and getattr(rec, "route", "") == "/api/v1/audit"]
    assert access and access[-1].db == "replica"  # type: ignore[attr-defined]
    assert access[-1].replica_lag_s >= 0  # type: ignore[attr-defined]


async def test_session_reads_on_the_replica_and_logout_is_refused_at_once(
        standby: Standby, test_db: DbInfo, make_tenant: Any,
        replica_client: httpx.AsyncClient) -> None:
    t: Tenant = await make_tenant(owner_password="correct horse battery")
    r = await replica_client.post("/api/v1/auth/login", json={
        "tenant": t.slug, "email": t.owner.email, "password": "correct horse battery"})
    assert r.status_code == 200, r.text
    headers = {"Authorization": f"Bearer {r.json()['access_token']}"}
    await standby.caught_up(test_db.superuser_url)
    before = reads("replica")
    r = await replica_client.get("/api/v1/audit", headers=headers)
    assert r.status_code == 200 and reads("replica") == before + 1  # enter_session on the standby
    await standby.pause()
    try:
        r = await replica_client.post("/api/v1/auth/logout", headers=headers)
        assert r.status_code == 204
        r = await replica_client.get("/api/v1/audit/export", headers=headers)
        assert r.status_code == 401 and r.json()["code"] == "session_revoked"
    finally:
        await standby.resume()
        await standby.caught_up(test_db.superuser_url)
