"""Errors are problem+json; a failed COMMIT is never reported as success; health probes."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
from starlette.responses import Response

from app.core.access import TenantTx
from app.core.runtime import Runtime
from tests.conftest import Tenant, app_with, asgi_client, assert_problem


async def test_unknown_route_and_method(client: httpx.AsyncClient) -> None:
    r = await client.get("/api/v1/nope")
    assert r.status_code == 404 and r.headers["content-type"] == "application/problem+json"
    assert r.json()["code"] == "not_found" and "/api/v1/nope" in r.json()["detail"]
    r = await client.put("/healthz")
    assert r.status_code == 405 and r.json()["code"] == "method_not_allowed"
    assert r.headers["allow"] == "GET"


async def test_405_lists_every_method_of_the_path(client: httpx.AsyncClient,
                                                  tenant: Tenant) -> None:
    r = await client.request("PUT", f"/api/v1/projects/{uuid.uuid4()}", headers=tenant.headers)
    assert r.status_code == 405
    assert r.headers["allow"] == "DELETE, GET, PATCH"
    assert "use DELETE, GET, PATCH" in r.json()["detail"]


async def test_request_id_is_echoed_or_generated(client: httpx.AsyncClient) -> None:
    r = await client.get("/healthz", headers={"X-Request-ID": "abc-123"})
    assert r.headers["x-request-id"] == "abc-123"
    r = await client.get("/healthz", headers={"X-Request-ID": "bad id with spaces"})
    assert len(r.headers["x-request-id"]) == 32


async def test_health_and_readiness(client: httpx.AsyncClient) -> None:
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    ready = await client.get("/readyz")
    assert ready.status_code == 200
    body = ready.json()
    assert body["ready"] is True and body["migrations"]["current"] == body["migrations"]["head"]


async def test_a_failed_commit_is_a_503_and_changes_nothing(runtime: Runtime,
                                                            tenant: Tenant) -> None:
    """The tenants.owner_id foreign key is checked at COMMIT (deferred); pointing it at a
    missing user makes COMMIT itself fail, after the handler has finished happily."""
    app = app_with(runtime)

    @app.post("/test/commit-fails", status_code=201)
    async def commit_fails(tx: TenantTx) -> Response:
        await tx.execute("UPDATE tenants SET name = 'changed', owner_id = $1", uuid.uuid4())
        return Response(b'{"ok": true}', status_code=201, media_type="application/json")

    async with asgi_client(app) as c:
        r = await c.post("/test/commit-fails", headers=tenant.headers)
    assert r.status_code == 503
    assert r.json()["code"] == "commit_failed"
    row = (await tenant.sql("SELECT name, owner_id FROM tenants"))[0]
    assert row["name"] != "changed" and row["owner_id"] == tenant.owner.id


async def test_errors_roll_back_the_request_transaction(runtime: Runtime, tenant: Tenant) -> None:
    app = app_with(runtime)

    @app.post("/test/write-then-fail")
    async def write_then_fail(tx: TenantTx) -> Any:
        await tx.execute("INSERT INTO projects (tenant_id, name, slug) VALUES ($1, 'x', 'x')",
                         tx.tenant_id)
        from app.core.errors import Conflict
        raise Conflict("no")

    @app.post("/test/write-then-crash")
    async def write_then_crash(tx: TenantTx) -> Any:
        await tx.execute("INSERT INTO projects (tenant_id, name, slug) VALUES ($1, 'y', 'y')",
                         tx.tenant_id)
        raise RuntimeError("bug")

    async with asgi_client(app, raise_app_exceptions=False) as c:
        assert_problem(await c.post("/test/write-then-fail", headers=tenant.headers),
                       409, "conflict")
        crash = await c.post("/test/write-then-crash", headers=tenant.headers)
    assert crash.status_code == 500 and crash.json()["code"] == "internal_error"
    assert "bug" not in crash.text
    assert await tenant.sql("SELECT * FROM projects") == []


async def test_a_deadlock_is_a_retryable_503_and_writes_nothing(runtime: Runtime,
                                                                 tenant: Tenant) -> None:
    """Two requests lock two rows in opposite orders; PostgreSQL aborts one of them. That one
    must say "retry" (503 + Retry-After), not "bug" (500), and leave nothing behind."""
    import asyncio

    app = app_with(runtime)
    a = (await tenant.sql("INSERT INTO projects (tenant_id, name, slug) VALUES ($1, 'a', 'a')"
                          " RETURNING id", tenant.id))[0]["id"]
    b = (await tenant.sql("INSERT INTO projects (tenant_id, name, slug) VALUES ($1, 'b', 'b')"
                          " RETURNING id", tenant.id))[0]["id"]
    both_locked_first = asyncio.Barrier(2)

    @app.post("/test/lock/{first}/{second}")
    async def lock(first: uuid.UUID, second: uuid.UUID, tx: TenantTx) -> Response:
        await tx.execute("UPDATE projects SET description = 'x' WHERE id = $1", first)
        await both_locked_first.wait()
        await tx.execute("UPDATE projects SET description = 'y' WHERE id = $1", second)
        return Response(status_code=204)

    async with asgi_client(app, raise_app_exceptions=False) as c:
        r1, r2 = await asyncio.gather(c.post(f"/test/lock/{a}/{b}", headers=tenant.headers),
                                      c.post(f"/test/lock/{b}/{a}", headers=tenant.headers))
    statuses = sorted([r1.status_code, r2.status_code])
    assert statuses == [204, 503]
    loser = r1 if r1.status_code == 503 else r2
    assert loser.json()["code"] == "transient_conflict"
    assert loser.headers["retry-after"] == "1"
    descriptions = {r["description"] for r in await tenant.sql("SELECT description FROM projects")}
    assert descriptions == {"y", "x"}  # only the winner's two updates
