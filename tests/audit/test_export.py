"""GET /api/v1/audit/export: NDJSON, oldest first, continuation cursor, limits, cleanup."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import httpx
import pytest

from app.audit import export as export_module
from app.audit.long_reads import heavy_reads
from app.core.db import connect
from app.core.runtime import Runtime
from tests.audit.conftest import ndjson, record_events
from tests.conftest import DbInfo, LiveServer, Tenant, User, assert_problem, audit_events


async def export(client: httpx.AsyncClient, who: User | Tenant, **params: Any
                 ) -> httpx.Response:
    return await client.get("/api/v1/audit/export", headers=who.headers,
                            params={k: v for k, v in params.items() if v is not None})


async def test_fifty_events_export_as_fifty_ndjson_lines_in_order(
        client: httpx.AsyncClient, tenant: Tenant, runtime: Runtime) -> None:
    ids = await record_events(tenant, 50, action="project.create")
    r = await export(client, tenant, action="project.create")
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/x-ndjson"
    lines = r.content.split(b"\n")
    assert lines[-1] == b"" and len(lines) == 51
    events = ndjson(r.content)
    assert [e["id"] for e in events] == [str(i) for i in ids]
    assert [e["metadata"]["i"] for e in events] == list(range(50))
    seqs = [e["seq"] for e in events]
    assert seqs == sorted(seqs) and len(set(seqs)) == 50
    # the same objects the query API returns
    page = (await client.get("/api/v1/audit", headers=tenant.headers,
                             params={"action": "project.create", "order": "asc",
                                     "limit": 50})).json()
    assert page["data"] == events
    assert heavy_reads(runtime).active == 0


async def test_next_cursor_continues_exactly_after_the_export(
        client: httpx.AsyncClient, tenant: Tenant) -> None:
    await record_events(tenant, 5, action="project.update")
    first = await export(client, tenant)
    everything = ndjson(first.content)
    assert [e["action"] for e in everything][:2] == ["tenant.create", "apikey.create"]
    cursor = first.headers["x-drift-next-cursor"]
    assert first.headers["x-drift-has-more"] == "false"
    assert first.headers["link"] == (f'</api/v1/audit/export?cursor={cursor}>; rel="next"')

    new = await record_events(tenant, 3, action="project.delete")
    second = await export(client, tenant, cursor=cursor)
    got = ndjson(second.content)
    # the first export's own audit.export event, then the new ones: nothing twice, no gap
    assert [e["action"] for e in got] == ["audit.export"] + ["project.delete"] * 3
    assert [e["id"] for e in got[1:]] == [str(i) for i in new]
    assert got[0]["seq"] == everything[-1]["seq"] + 1

    # with filters the cursor still covers everything read, so the next pull starts after it
    filtered = await export(client, tenant, action="project.delete",
                            cursor=second.headers["x-drift-next-cursor"])
    assert ndjson(filtered.content) == []
    later = await record_events(tenant, 1, action="project.delete")
    again = await export(client, tenant, action="project.delete",
                         cursor=filtered.headers["x-drift-next-cursor"])
    assert [e["id"] for e in ndjson(again.content)] == [str(i) for i in later]


async def test_limit_pages_through_a_backlog(client: httpx.AsyncClient,
                                             tenant: Tenant) -> None:
    ids = [str(i) for i in await record_events(tenant, 25, action="auth.login")]
    seen: list[str] = []
    cursor = None
    for _ in range(10):
        r = await export(client, tenant, action="auth.login", limit=10, cursor=cursor)
        seen += [e["id"] for e in ndjson(r.content)]
        cursor = r.headers["x-drift-next-cursor"]
        if r.headers["x-drift-has-more"] == "false":
            break
    assert seen == ids
    for limit in (0, 1_000_001):
        assert_problem(await export(client, tenant, limit=limit), 400, "limit_out_of_range")


async def test_export_is_audited_once(client: httpx.AsyncClient, tenant: Tenant,
                                      admin: User) -> None:
    await record_events(tenant, 30)
    r = await client.get("/api/v1/audit/export", params={"action": "project.update"},
                         headers={**admin.headers, "X-Request-ID": "export-1"})
    assert r.status_code == 200 and len(ndjson(r.content)) == 30
    [event] = await audit_events(tenant, request_id="export-1")
    assert event["action"] == "audit.export" and event["actor_id"] == admin.id
    assert event["metadata"]["filters"] == {"action": "project.update"}
    assert event["metadata"]["through_seq"] >= 30


async def test_export_rejects_newest_first_cursors(client: httpx.AsyncClient,
                                                   tenant: Tenant) -> None:
    await record_events(tenant, 3)
    page = (await client.get("/api/v1/audit", headers=tenant.headers,
                             params={"limit": 1})).json()
    r = await export(client, tenant, cursor=page["pagination"]["cursor"])
    assert r.status_code == 400 and r.json()["code"] == "cursor_direction_mismatch"
    bad = await export(client, tenant, after="soon")
    assert bad.status_code == 400 and bad.json()["code"] == "invalid_timestamp"


async def _app_backends(test_db: DbInfo) -> list[asyncpg.Record]:
    conn = await connect(test_db.superuser_url)
    try:
        return await conn.fetch(
            "SELECT pid, state, query FROM pg_stat_activity WHERE usename = $1"
            " AND state IN ('active', 'idle in transaction')"
            " AND (query LIKE 'DECLARE audit_export %' OR query LIKE 'FETCH % FROM audit_export')"
            " AND pid <> pg_backend_pid()", test_db.app_role)
    finally:
        await conn.close()


async def test_streamed_export_and_client_disconnect_release_the_connection(
        live_server: LiveServer, tenant: Tenant, test_db: DbInfo,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Over a real server: the body streams in chunks from a server-side cursor; a client that
    goes away mid-export leaves no transaction behind."""
    # small, slow chunks (the server runs in this process), so the export is still reading
    # when the client leaves, rather than parked whole in (large) socket buffers
    monkeypatch.setattr(export_module, "CHUNK_ROWS", 20)
    lines = export_module._lines

    async def slow_lines(*args: Any, **kwargs: Any) -> AsyncIterator[bytes]:
        async for chunk in lines(*args, **kwargs):
            yield chunk
            await asyncio.sleep(0.02)

    monkeypatch.setattr(export_module, "_lines", slow_lines)
    for _ in range(6):
        await record_events(tenant, 1000, action="project.update",
                            metadata={"pad": "x" * 5000})
    async with httpx.AsyncClient(base_url=live_server.url, timeout=30) as c:
        async with c.stream("GET", "/api/v1/audit/export", headers=tenant.headers) as r:
            assert r.status_code == 200
            assert r.headers.get("transfer-encoding") == "chunked"
            first = b""
            body = r.aiter_bytes()  # kept referenced: a dropped iterator closes the response
            async for chunk in body:
                first += chunk
                if len(first) > 64_000:
                    break
            assert first.count(b"\n") >= 1
            assert await _app_backends(test_db), "the export should still be reading"
        # the client has gone; the server notices, rolls back and releases the connection
        deadline = time.monotonic() + 20
        while await _app_backends(test_db):
            assert time.monotonic() < deadline, await _app_backends(test_db)
            await asyncio.sleep(0.2)
        full = await c.get("/api/v1/audit/export", headers=tenant.headers,
                           params={"action": "project.update"})
        assert len(ndjson(full.content)) == 6000
