"""Idempotency-Key on the POST routes that create something (app.core.idempotency): a retry
gets the first response and creates nothing; another request under the same key is 422; a
duplicate while the first runs is 409; keys expire after 24 h; keys belong to a tenant."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

import httpx
import pytest

from app.core import clock
from tests.conftest import Tenant, assert_problem

Body = Callable[[httpx.AsyncClient, Tenant], Awaitable[dict[str, Any]]]


async def _project(client: httpx.AsyncClient, t: Tenant) -> str:
    r = await client.post("/api/v1/projects", headers=t.headers,
                          json={"name": f"p-{uuid.uuid4().hex[:8]}"})
    assert r.status_code == 201, r.text
    pid: str = r.json()["id"]
    return pid


async def _projects(client: httpx.AsyncClient, t: Tenant) -> dict[str, Any]:
    return {"name": "Idempotent project"}


async def _webhooks(client: httpx.AsyncClient, t: Tenant) -> dict[str, Any]:
    return {"url": "http://127.0.0.1:9/hook", "events": ["project.created"]}


async def _invitations(client: httpx.AsyncClient, t: Tenant) -> dict[str, Any]:
    return {"email": f"invitee-{uuid.uuid4().hex[:6]}@{t.slug}.example"}


async def _api_keys(client: httpx.AsyncClient, t: Tenant) -> dict[str, Any]:
    return {"name": "ci"}


async def _sync(client: httpx.AsyncClient, t: Tenant) -> dict[str, Any]:
    return {"project_id": await _project(client, t),
            "scan": {"id": "scan-1", "started_at": "2026-11-21T10:00:00Z",
                     "completed_at": "2026-11-21T10:00:01Z", "files_scanned": 1,
                     "duration_ms": 1000, "counts": {}},
            "gate_results": [], "violations": []}


async def _events(client: httpx.AsyncClient, t: Tenant) -> dict[str, Any]:
    return {"type": "grounding.degraded",
            "data": {"project_id": await _project(client, t), "memory_id": "m1",
                     "old_score": 0.8, "new_score": 0.2}}


# route, body, the table its creation adds a row to
FAMILIES: list[tuple[str, Body, str]] = [
    ("/api/v1/projects", _projects, "projects"),
    ("/api/v1/webhooks", _webhooks, "webhook_endpoints"),
    ("/api/v1/invitations", _invitations, "invitations"),
    ("/api/v1/api-keys", _api_keys, "api_keys"),
    ("/api/v1/sync", _sync, "scans"),
    ("/api/v1/events", _events, "outbox_events"),
]


async def _count(t: Tenant, table: str) -> int:
    return int((await t.sql(f"SELECT count(*) AS n FROM {table}"))[0]["n"])


def _key() -> dict[str, str]:
    return {"Idempotency-Key": str(uuid.uuid4())}


@pytest.mark.parametrize(("path", "make_body", "table"), FAMILIES,
                         ids=[f[0].rsplit("/", 1)[-1] for f in FAMILIES])
async def test_a_retry_gets_the_first_response_and_creates_nothing(
        client: httpx.AsyncClient, tenant: Tenant, path: str, make_body: Body,
        table: str) -> None:
    body = await make_body(client, tenant)
    headers = {**tenant.headers, **_key()}
    before = await _count(tenant, table)
    first = await client.post(path, headers=headers, json=body)
    assert first.status_code == 201, first.text
    assert "idempotent-replayed" not in first.headers
    created = await _count(tenant, table)
    assert created > before

    again = await client.post(path, headers=headers, json=body)
    assert again.status_code == first.status_code
    assert again.content == first.content
    assert again.headers.get("location") == first.headers.get("location")
    assert again.headers["content-type"] == first.headers["content-type"]
    assert again.headers["idempotent-replayed"] == "true"
    assert await _count(tenant, table) == created

    other = _altered(body)
    reused = await client.post(path, headers=headers, json=other)
    assert reused.status_code == 422, reused.text
    assert reused.json()["code"] == "idempotency_key_reused"
    assert await _count(tenant, table) == created


def _altered(body: dict[str, Any]) -> dict[str, Any]:
    """The same kind of request with one value changed."""
    if "scan" in body:
        return {**body, "scan": {**body["scan"], "files_scanned": 2}}
    if "data" in body:
        return {**body, "data": {**body["data"], "memory_id": "m2"}}
    if "email" in body:
        return {**body, "email": "x" + body["email"]}
    if "url" in body:
        return {**body, "description": "changed"}
    return {**body, "name": body["name"] + " 2"}


async def test_the_api_key_secret_is_replayed_but_never_stored_in_clear(
        client: httpx.AsyncClient, tenant: Tenant) -> None:
    headers = {**tenant.headers, **_key()}
    first = await client.post("/api/v1/api-keys", headers=headers, json={"name": "lost reply"})
    secret = first.json()["key"]
    again = await client.post("/api/v1/api-keys", headers=headers, json={"name": "lost reply"})
    assert again.json()["key"] == secret
    stored = await tenant.sql("SELECT body, headers FROM idempotency_keys WHERE key = $1",
                              headers["Idempotency-Key"])
    assert len(stored) == 1
    assert secret.encode() not in bytes(stored[0]["body"])
    assert b"dck_" not in bytes(stored[0]["body"])


async def test_another_caller_cannot_replay_someone_elses_response(
        client: httpx.AsyncClient, tenant: Tenant) -> None:
    admin = await tenant.add_user("admin")
    key = _key()
    first = await client.post("/api/v1/api-keys", headers={**tenant.headers, **key},
                              json={"name": "mine"})
    assert first.status_code == 201
    r = await client.post("/api/v1/api-keys", headers={**admin.headers, **key},
                          json={"name": "mine"})
    assert r.status_code == 422, r.text
    assert r.json()["code"] == "idempotency_key_reused"
    assert first.json()["key"] not in r.text


async def test_a_refused_request_stores_nothing_and_the_key_stays_usable(
        client: httpx.AsyncClient, tenant: Tenant) -> None:
    headers = {**tenant.headers, **_key()}
    await client.post("/api/v1/projects", headers=tenant.headers, json={"name": "Taken"})
    refused = await client.post("/api/v1/projects", headers=headers, json={"name": "Taken"})
    assert_problem(refused, 409, "slug_taken")
    ok = await client.post("/api/v1/projects", headers=headers, json={"name": "Free"})
    assert ok.status_code == 201, ok.text


@pytest.mark.parametrize("key", ["", "x" * 256, "has space", "caf\u00e9"])
async def test_an_invalid_key_is_a_clear_400(client: httpx.AsyncClient, tenant: Tenant,
                                            key: str) -> None:
    r = await client.post("/api/v1/projects",
                          headers={**tenant.headers, "Idempotency-Key": key.encode()},
                          json={"name": "never"})
    assert r.status_code == 400, r.text
    assert r.json()["code"] == "invalid_idempotency_key"
    assert await _count(tenant, "projects") == 0


async def test_a_quoted_key_is_the_same_key(client: httpx.AsyncClient, tenant: Tenant) -> None:
    first = await client.post("/api/v1/projects", json={"name": "Quoted"},
                              headers={**tenant.headers, "Idempotency-Key": '"k-1"'})
    again = await client.post("/api/v1/projects", json={"name": "Quoted"},
                              headers={**tenant.headers, "Idempotency-Key": "k-1"})
    assert first.status_code == 201 and again.headers["idempotent-replayed"] == "true"


async def test_keys_expire_after_24_hours(client: httpx.AsyncClient, tenant: Tenant) -> None:
    headers = {**tenant.headers, **_key()}
    first = await client.post("/api/v1/projects", headers=headers, json={"name": "Day one"})
    assert first.status_code == 201
    clock.advance(timedelta(hours=23, minutes=59))
    r = await client.post("/api/v1/projects", headers=headers, json={"name": "Day two"})
    assert r.status_code == 422 and r.json()["code"] == "idempotency_key_reused"
    clock.advance(timedelta(minutes=2))
    r = await client.post("/api/v1/projects", headers=headers, json={"name": "Day two"})
    assert r.status_code == 201, r.text
    assert "idempotent-replayed" not in r.headers and r.json()["name"] == "Day two"
    # another tenant key that expired long ago is purged by the next store
    other = {**tenant.headers, **_key()}
    await client.post("/api/v1/projects", headers=other, json={"name": "Day three"})
    clock.advance(timedelta(hours=25))
    await client.post("/api/v1/projects", headers={**tenant.headers, **_key()},
                      json={"name": "Day four"})
    keys = [r["key"] for r in await tenant.sql("SELECT key FROM idempotency_keys")]
    assert other["Idempotency-Key"] not in keys and headers["Idempotency-Key"] not in keys


async def test_keys_belong_to_a_tenant(client: httpx.AsyncClient, tenant: Tenant,
                                       other_tenant: Tenant) -> None:
    key = _key()
    mine = await client.post("/api/v1/projects", headers={**tenant.headers, **key},
                             json={"name": "Shared name"})
    theirs = await client.post("/api/v1/projects", headers={**other_tenant.headers, **key},
                               json={"name": "Shared name"})
    assert mine.status_code == theirs.status_code == 201
    assert "idempotent-replayed" not in theirs.headers
    assert theirs.json()["id"] != mine.json()["id"]
    assert len(await other_tenant.sql("SELECT 1 FROM idempotency_keys")) == 1
    assert await _count(other_tenant, "projects") == 1


async def test_a_duplicate_while_the_first_is_in_flight_is_409(
        client: httpx.AsyncClient, tenant: Tenant) -> None:
    headers = {**tenant.headers, **_key()}
    body = {"name": "Contended"}
    # an uncommitted project with the same slug makes the first request wait on the unique
    # index inside its transaction, holding the key
    async with tenant.rt.db.pool.acquire() as blocker:
        tx = blocker.transaction()
        await tx.start()
        await blocker.execute("SELECT set_config('app.tenant_id', $1, true)", str(tenant.id))
        await blocker.execute(
            "INSERT INTO projects (tenant_id, name, slug) VALUES ($1, 'Contended', 'contended')",
            tenant.id)
        first = asyncio.create_task(client.post("/api/v1/projects", headers=headers, json=body))
        for _ in range(500):
            waiting = await tenant.rt.db.pool.fetchval(
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
                " AND query LIKE 'INSERT INTO projects%'")
            if waiting:
                break
            await asyncio.sleep(0.02)
        assert waiting, "the first request never reached the projects insert"
        second = await client.post("/api/v1/projects", headers=headers, json=body)
        assert second.status_code == 409, second.text
        assert second.json()["code"] == "idempotency_key_in_flight"
        assert second.headers["retry-after"] == "1"
        await tx.rollback()
    done = await first
    assert done.status_code == 201, done.text
    replay = await client.post("/api/v1/projects", headers=headers, json=body)
    assert replay.status_code == 201 and replay.content == done.content
    assert replay.headers["idempotent-replayed"] == "true"
