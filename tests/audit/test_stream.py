"""GET /api/v1/audit/stream over a real server: live events, filters, resume, isolation."""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest

from app.core.db import connect
from tests.audit.conftest import SseReader, record_events
from tests.conftest import DbInfo, LiveServer, Tenant, User, asgi_client, audit_events

TIMEOUT = 15.0


@asynccontextmanager
async def sse(server: LiveServer, who: User | Tenant, *, last_event_id: str | None = None,
              **params: Any) -> AsyncIterator[SseReader]:
    headers = dict(who.headers)
    if last_event_id:
        headers["Last-Event-ID"] = last_event_id
    async with httpx.AsyncClient(base_url=server.url, timeout=TIMEOUT) as c, \
            c.stream("GET", "/api/v1/audit/stream", headers=headers, params=params) as r:
        assert r.status_code == 200, await r.aread()
        assert r.headers["content-type"].startswith("text/event-stream")
        reader = SseReader(r)
        yield reader


async def take(reader: SseReader, n: int) -> list[dict[str, Any]]:
    out = []
    async with asyncio.timeout(TIMEOUT):
        while len(out) < n:
            ev = await reader.next()
            assert ev is not None, "the stream ended"
            assert ev.event == "audit", ev
            out.append(json.loads(ev.data))
    return out


async def expect_ids(reader: SseReader, ids: list[uuid.UUID]) -> None:
    """The next events on the stream are exactly these, in this order."""
    assert [e["id"] for e in await take(reader, len(ids))] == [str(i) for i in ids]


@pytest.mark.isolation
async def test_live_events_of_the_own_tenant_only(live_server: LiveServer, tenant: Tenant,
                                                  other_tenant: Tenant) -> None:
    async with sse(live_server, tenant) as reader:
        # the stream starts at "now": the first event is the stream's own audit.stream
        [opened] = await take(reader, 1)
        assert opened["action"] == "audit.stream"
        await record_events(other_tenant, 3, action="project.create")
        mine = await record_events(tenant, 2, action="project.create")
        await record_events(other_tenant, 2, action="project.delete")
        more = await record_events(tenant, 1, action="project.delete")
        await expect_ids(reader, [*mine, *more])
        assert reader.last_id is not None
    # and the other tenant's stream sees none of this tenant's events
    async with sse(live_server, other_tenant, action="project.*") as reader:
        await record_events(tenant, 2, action="project.update")
        await expect_ids(reader, await record_events(other_tenant, 1, action="project.update"))


async def test_filters_and_resume_with_last_event_id(live_server: LiveServer,
                                                     tenant: Tenant) -> None:
    async with sse(live_server, tenant, action="project.delete") as reader:
        await record_events(tenant, 2, action="project.update")  # filtered out
        await expect_ids(reader, await record_events(tenant, 2, action="project.delete"))
        resume_from = reader.last_id
    assert resume_from is not None
    # while disconnected: more events, matching and not
    missed = await record_events(tenant, 3, action="project.delete")
    await record_events(tenant, 3, action="project.update")
    async with sse(live_server, tenant, action="project.delete",
                   last_event_id=resume_from) as reader:
        await expect_ids(reader, missed)
        await expect_ids(reader, await record_events(tenant, 1, action="project.delete"))


async def test_concurrent_writers_every_event_once_in_order(live_server: LiveServer,
                                                            tenant: Tenant) -> None:
    async with sse(live_server, tenant, action="auth.login") as reader:
        written = await asyncio.gather(*[record_events(tenant, 5, action="auth.login")
                                         for _ in range(20)])
        got = await take(reader, 100)
        assert {e["id"] for e in got} == {str(i) for batch in written for i in batch}
        seqs = [e["seq"] for e in got]
        assert seqs == sorted(seqs) and len(set(seqs)) == 100


async def test_revoked_key_ends_the_stream(live_server: LiveServer, tenant: Tenant,
                                           client: httpx.AsyncClient,
                                           caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING)
    admin = await tenant.add_user("admin")
    async with sse(live_server, admin, action="project.*") as reader:
        await record_events(tenant, 1, action="project.create")
        await take(reader, 1)
        keys = (await client.get("/api/v1/api-keys", headers=admin.headers)).json()["data"]
        [key] = [k for k in keys if k["user_id"] == str(admin.id)]
        r = await client.delete(f"/api/v1/api-keys/{key['id']}", headers=tenant.headers)
        assert r.status_code == 204
        await record_events(tenant, 1, action="project.create")
        async with asyncio.timeout(TIMEOUT):
            ev = await reader.next()
        assert ev is not None and ev.event == "error"
        assert json.loads(ev.data)["code"] == "credential_revoked"
        assert await reader.next() is None  # and the stream is over
    # the refused read's transaction was ended, not left for the pool to reset
    assert "Resetting connection with an active transaction" not in caplog.text


async def test_allowlist_that_refuses_the_client_ends_the_stream(
        live_server: LiveServer, tenant: Tenant, app: Any) -> None:
    """An open stream re-checks the IP allowlist with its credential: once the owner's new
    entry no longer admits the stream's address (127.0.0.1), the stream ends with
    `event: error` `ip_not_allowed`, sends nothing committed after the change (not even the
    change's own audit event), and the denial is audited like a request's."""
    async with sse(live_server, tenant) as reader:
        await take(reader, 1)  # its own audit.stream event: the stream is live
        [live] = await record_events(tenant, 1, action="project.create")
        [e] = await take(reader, 1)
        assert e["id"] == str(live)
        async with asgi_client(app, ip="203.0.113.5") as elsewhere:  # the owner, elsewhere
            r = await elsewhere.post("/api/v1/settings/ip-allowlist", headers=tenant.headers,
                                     json={"cidr": "203.0.113.0/24"})
            assert r.status_code == 201, r.text
        await record_events(tenant, 2, action="project.create")
        async with asyncio.timeout(TIMEOUT):
            ev = await reader.next()
        assert ev is not None and ev.event == "error", ev
        body = json.loads(ev.data)
        assert body["code"] == "ip_not_allowed" and "127.0.0.1" in body["detail"]
        assert await reader.next() is None  # and the stream is over
    [denial] = await audit_events(tenant, action="ip_allowlist.denied")
    assert denial["outcome"] == "denied"
    assert denial["metadata"]["reason"] == "ip_not_allowed"
    assert denial["metadata"]["ip"] == "127.0.0.1"
    assert denial["metadata"]["path"] == "/api/v1/audit/stream"


async def test_stream_rejects_bad_resume_ids(client: httpx.AsyncClient, tenant: Tenant) -> None:
    r = await client.get("/api/v1/audit/stream", headers={**tenant.headers,
                                                          "Last-Event-ID": "garbage"})
    assert r.status_code == 400 and r.json()["code"] == "invalid_cursor"


async def test_events_are_notified_only_while_someone_streams_the_tenant(
        live_server: LiveServer, tenant: Tenant, other_tenant: Tenant, test_db: DbInfo) -> None:
    """A NOTIFY serialises commits database-wide, so the chain trigger sends one only for
    tenants an API process has registered as streamed."""
    payloads: list[str] = []
    conn = await connect(test_db.app_url)
    try:
        await conn.add_listener("drift_audit", lambda *args: payloads.append(args[3]))
        await record_events(tenant, 1)
        await conn.execute("SELECT 1")
        await asyncio.sleep(0.2)
        assert payloads == []
        async with sse(live_server, tenant) as reader:
            await take(reader, 1)  # its own audit.stream event
            await record_events(other_tenant, 1)
            [mine] = await record_events(tenant, 1)
            [e] = await take(reader, 1)
            assert e["id"] == str(mine)
        await conn.execute("SELECT 1")
        await asyncio.sleep(0.2)
        assert payloads and all(p.split()[0] == str(tenant.id) for p in payloads)
    finally:
        await conn.close()
