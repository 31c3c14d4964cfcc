"""The service through a real pgbouncer in transaction pooling mode (pool size 2): key flows,
and thousands of interleaved requests of two tenants that never see each other's data."""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from typing import Any

import httpx
import pytest

from app.core.runtime import Runtime
from app.webhooks import dispatcher
from app.worker import Job, Worker
from tests.conftest import Tenant, bearer
from tests.scale.conftest import POOL_SIZE, Bouncer
from tests.webhooks.conftest import Receiver, Reply, quiesce

pytestmark = pytest.mark.isolation


async def test_requests_share_two_server_connections(pooled_runtime: Runtime,
                                                     pgbouncer: Bouncer) -> None:
    """The fixture is what it claims: 16 client connections, 2 PostgreSQL backends."""
    async def backend() -> int:
        async with pooled_runtime.db.pool.acquire() as conn:
            return int(await conn.fetchval("SELECT pg_backend_pid()"))

    pids = await asyncio.gather(*(backend() for _ in range(64)))
    assert 1 <= len(set(pids)) <= POOL_SIZE
    assert f"@127.0.0.1:{pgbouncer.port}/" in pooled_runtime.db.url


async def _project(client: httpx.AsyncClient, t: Tenant, name: str) -> dict[str, Any]:
    r = await client.post("/api/v1/projects", headers=t.headers, json={"name": name})
    assert r.status_code == 201, r.text
    body: dict[str, Any] = r.json()
    return body


async def test_tenant_isolation_through_pgbouncer(pooled_client: httpx.AsyncClient,
                                                  pooled_tenant_factory: Any) -> None:
    a, b = await pooled_tenant_factory(), await pooled_tenant_factory()
    pa = await _project(pooled_client, a, "Alpha")
    pb = await _project(pooled_client, b, "Bravo")
    la = (await pooled_client.get("/api/v1/projects", headers=a.headers)).json()
    assert [p["id"] for p in la["data"]] == [pa["id"]]
    cross = await pooled_client.get(f"/api/v1/projects/{pb['id']}", headers=a.headers)
    assert cross.status_code == 404 and cross.json()["code"] == "not_found"
    patched = await pooled_client.patch(f"/api/v1/projects/{pb['id']}", headers=a.headers,
                                        json={"name": "stolen"})
    assert patched.status_code == 404
    got = await pooled_client.get(f"/api/v1/projects/{pb['id']}", headers=b.headers)
    assert got.status_code == 200 and got.json()["name"] == "Bravo"


async def test_scim_create_and_filter_through_pgbouncer(pooled_client: httpx.AsyncClient,
                                                        pooled_tenant_factory: Any) -> None:
    a, b = await pooled_tenant_factory(), await pooled_tenant_factory()
    headers = {}
    for t in (a, b):
        r = await pooled_client.post("/api/v1/settings/scim", headers=t.headers,
                                     json={"name": "idp"})
        assert r.status_code == 201, r.text
        headers[t.slug] = {**bearer(r.json()["token"]), "Content-Type": "application/scim+json"}
    made = await pooled_client.post("/scim/v2/Users", headers=headers[a.slug],
                                    json={"userName": "ada@example.com",
                                          "name": {"givenName": "Ada"}})
    assert made.status_code == 201, made.text
    found = await pooled_client.get("/scim/v2/Users", headers=headers[a.slug],
                                    params={"filter": 'userName eq "ada@example.com"'})
    assert found.status_code == 200
    assert [u["id"] for u in found.json()["Resources"]] == [made.json()["id"]]
    # the other tenant's token finds nothing and cannot read it
    other = await pooled_client.get("/scim/v2/Users", headers=headers[b.slug],
                                    params={"filter": 'userName eq "ada@example.com"'})
    assert other.status_code == 200 and other.json()["totalResults"] == 0
    assert (await pooled_client.get(f"/scim/v2/Users/{made.json()['id']}",
                                    headers=headers[b.slug])).status_code == 404


async def test_audit_query_through_pgbouncer(pooled_client: httpx.AsyncClient,
                                             pooled_tenant_factory: Any) -> None:
    a, b = await pooled_tenant_factory(), await pooled_tenant_factory()
    await _project(pooled_client, a, "Audited")
    r = await pooled_client.get("/api/v1/audit", headers=a.headers,
                                params={"action": "project.create"})
    assert r.status_code == 200, r.text
    events = r.json()["data"]
    assert [e["action"] for e in events] == ["project.create"]
    other = await pooled_client.get("/api/v1/audit", headers=b.headers,
                                    params={"action": "project.create"})
    assert other.status_code == 200 and other.json()["data"] == []


async def _listening(rt: Runtime, channel: str) -> bool:
    """Some session is LISTENing on `channel` (asyncpg's LISTEN is that backend's last query)."""
    rows = await rt.db.fetch(
        "SELECT 1 FROM pg_stat_activity WHERE query = $1", f'LISTEN "{channel}"')
    return bool(rows)


async def test_webhook_delivered_by_worker_through_pgbouncer(
        pooled_client: httpx.AsyncClient, pooled_runtime: Runtime,
        pooled_tenant_factory: Any, receiver: Receiver) -> None:
    """The event is emitted in a pooled transaction; the worker (pool through pgbouncer,
    LISTEN on DRIFT_DIRECT_DATABASE_URL) is woken by its NOTIFY and delivers it. The job's
    polling interval is an hour, so only the wakeup can deliver it within the wait."""
    t = await pooled_tenant_factory()
    hook = receiver.hook(Reply(200, b"ok"))
    r = await pooled_client.post("/api/v1/webhooks", headers=t.headers,
                                 json={"url": hook.url, "events": ["project.created"]})
    assert r.status_code == 201, r.text

    async def run(rt: Runtime) -> int:
        return await dispatcher.run_once(rt, tenants={t.id})

    worker = Worker(pooled_runtime, jobs=[Job("webhooks", run, interval=3600.0,
                                              channels=("drift_webhooks",))])
    task = asyncio.create_task(worker.run())
    try:
        deadline = time.monotonic() + 15
        while not await _listening(pooled_runtime, "drift_webhooks"):
            assert time.monotonic() < deadline, "the worker never LISTENed"
            await asyncio.sleep(0.1)
        await asyncio.sleep(0.5)  # the catch-up run after connecting has finished
        project = await _project(pooled_client, t, "Hooked")
        (got,) = await hook.wait_for(1, timeout=20)
        assert got.json()["data"]["project_id"] == project["id"]
        assert got.json()["tenant_id"] == str(t.id)
    finally:
        worker.stop()
        await task
        await quiesce(t)


async def test_two_tenants_interleaved_through_two_server_connections(
        pooled_client: httpx.AsyncClient, pooled_tenant_factory: Any) -> None:
    """2,000 requests of two tenants, 16 at a time, over pgbouncer's 2 server connections:
    reads (each one implicit transaction that enters its tenant), lists, cross-tenant reads
    and writes (BEGIN .. COMMIT). Every answer belongs to the tenant that asked: a tenant
    setting never survives into the next transaction on the same server connection."""
    tenants = [await pooled_tenant_factory(), await pooled_tenant_factory()]
    owned: dict[uuid.UUID, set[str]] = {}
    first: dict[uuid.UUID, str] = {}
    for t in tenants:
        ids = {(await _project(pooled_client, t, f"{t.slug} p{i}"))["id"] for i in range(3)}
        owned[t.id] = ids
        first[t.id] = sorted(ids)[0]
    rng = random.Random(20)
    plan = [(tenants[i % 2], rng.random()) for i in range(2000)]
    sem = asyncio.Semaphore(16)
    wrong: list[str] = []
    listed: list[tuple[int, Tenant, set[str]]] = []
    counts = {"get": 0, "list": 0, "cross": 0, "write": 0}

    async def one(n: int, t: Tenant, roll: float) -> None:
        other = tenants[1] if t is tenants[0] else tenants[0]
        async with sem:
            if roll < 0.4:
                counts["get"] += 1
                pid = sorted(owned[t.id])[n % 3]
                r = await pooled_client.get(f"/api/v1/projects/{pid}", headers=t.headers)
                if r.status_code != 200 or r.json()["id"] != pid:
                    wrong.append(f"get {n}: {r.status_code} {r.text[:200]}")
            elif roll < 0.8:
                counts["list"] += 1
                r = await pooled_client.get("/api/v1/projects", headers=t.headers,
                                            params={"limit": 100})
                ids = {p["id"] for p in r.json().get("data", [])} if r.is_success else None
                if ids is None or not ids:
                    wrong.append(f"list {n}: {r.status_code} {r.text[:200]}")
                else:  # checked once every write has answered (a project commits before
                    listed.append((n, t, ids))  # its 201 reaches `owned`)
            elif roll < 0.9:
                counts["cross"] += 1
                r = await pooled_client.get(f"/api/v1/projects/{first[other.id]}",
                                            headers=t.headers)
                if r.status_code != 404:
                    wrong.append(f"cross {n}: {r.status_code} {r.text[:200]}")
            else:
                counts["write"] += 1
                r = await pooled_client.post("/api/v1/projects", headers=t.headers,
                                             json={"name": f"w{n}"})
                if r.status_code != 201:
                    wrong.append(f"write {n}: {r.status_code} {r.text[:200]}")
                else:
                    owned[t.id].add(r.json()["id"])

    await asyncio.gather(*(one(n, t, roll) for n, (t, roll) in enumerate(plan)))
    wrong += [f"list {n}: {sorted(ids - owned[t.id])} not the tenant's"
              for n, t, ids in listed if not ids <= owned[t.id]]
    assert wrong == [], f"{len(wrong)} wrong answers, first: {wrong[:3]}"
    assert min(counts.values()) > 100, counts
    # and the database agrees: each tenant's rows are exactly what it was told it made
    for t in tenants:
        rows = await t.sql("SELECT id::text FROM projects")
        assert {r["id"] for r in rows} == owned[t.id]
