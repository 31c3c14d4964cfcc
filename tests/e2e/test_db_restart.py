"""PostgreSQL restarted under a running service and worker (a database of this test's own).

While the database is down every request that needs it gets a 503 (problem+json; SCIM's own
error format under /scim/v2), never a 500 and never a 401 for a valid credential. When it is
back the service recovers by itself: the pool reconnects, the IP allowlist listener, the
worker's LISTEN and the audit stream's listener reconnect. No webhook event or audit event is
lost or duplicated: each committed change has exactly one audit event and one outbox event,
and every event reaches the receiver at least once (redelivery keeps the webhook id).
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections import Counter
from typing import Any

import httpx

from app.config import Settings
from app.core.runtime import Runtime
from app.core.tx import own_tx
from app.ipallow.cache import cache_for
from app.tenants.service import create_tenant
from app.webhooks import dispatcher
from app.worker import Job, Worker
from tests.audit.conftest import SseReader
from tests.conftest import LiveServer, bearer
from tests.e2e.conftest import FreshDatabase
from tests.scim.conftest import ERROR_URN, SCIM_JSON
from tests.webhooks.conftest import Receiver, Reply

WAIT = 30.0
STREAM_TIMEOUT = httpx.Timeout(10.0, read=60.0)  # heartbeats come every 15 s


async def until(what: str, check: Any, timeout: float = WAIT) -> Any:
    """Poll `check()` (sync or async) until it returns something truthy."""
    deadline = time.monotonic() + timeout
    while True:
        got = check()
        if asyncio.iscoroutine(got):
            got = await got
        if got:
            return got
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout}s")
        await asyncio.sleep(0.1)


def assert_503_problem(r: httpx.Response) -> None:
    assert r.status_code == 503, (r.request.method, r.request.url.path, r.status_code, r.text)
    assert r.headers["content-type"] == "application/problem+json"
    body = r.json()
    assert body["status"] == 503 and body["code"] == "database_unavailable", body
    assert "retry-after" in r.headers


async def test_postgres_restart_under_load_loses_and_duplicates_nothing(
        fresh_db: FreshDatabase, settings: Settings, receiver: Receiver) -> None:
    s = fresh_db.settings(settings, db_pool_min=1, db_pool_max=6, db_connect_timeout=2.0)
    setup = Runtime.create(s, fresh_db.urls.app_url)
    await setup.start()
    created = await create_tenant(setup.db, name="Restart Co", slug="restart-co",
                                  owner_email="owner@restart.example", plan="enterprise")
    tenant_id = uuid.UUID(created["tenant_id"])
    owner = bearer(created["api_key"])
    await setup.close()

    hook = receiver.hook(Reply(200, delay=0.5))  # slow: sends are in flight at the stop
    server = LiveServer(s).start()  # the API (its own pool, allowlist listener, audit hub)
    server_rt: Runtime = server.server.config.app.state.runtime
    # The worker: webhooks only, and a one-hour poll, so after the restart only its LISTEN
    # connection (reconnected) can wake it.
    worker_rt = Runtime.create(s, fresh_db.urls.app_url)
    await worker_rt.start()
    worker = Worker(worker_rt, jobs=[Job("webhooks", dispatcher.run_once, interval=3600.0,
                                         channels=("drift_webhooks",))])
    worker_task = asyncio.create_task(worker.run())
    api = httpx.AsyncClient(base_url=server.url, timeout=15)
    stream_events: list[dict[str, Any]] = []
    stream_task: asyncio.Task[None] | None = None
    try:
        r = await api.post("/api/v1/webhooks", headers=owner, json={
            "url": hook.url, "events": ["project.created", "project.deleted"]})
        assert r.status_code == 201, r.text
        r = await api.post("/api/v1/settings/scim", headers=owner, json={"name": "IdP"})
        assert r.status_code == 201, r.text
        scim_headers = {**bearer(r.json()["token"]), "Accept": SCIM_JSON}
        # a second admin whose key this process has never seen (no cached principal)
        r = await api.post("/api/v1/api-keys", headers=owner, json={"name": "unused"})
        assert r.status_code == 201, r.text
        fresh_key = bearer(r.json()["key"])
        # an allowlist that lets loopback in: every request goes through the allowlist cache
        r = await api.post("/api/v1/settings/ip-allowlist", headers=owner,
                           json={"cidr": "127.0.0.0/8"})
        assert r.status_code == 201, r.text
        await until("allowlist listener ready", lambda: cache_for(server_rt.db).ready)

        # the live audit stream, read like EventSource does: when it ends, reconnect after a
        # moment with the Last-Event-ID it had reached
        stream_ends: list[str] = []

        async def read_stream() -> None:
            last_id: str | None = None
            async with httpx.AsyncClient(base_url=server.url, timeout=STREAM_TIMEOUT) as c:
                while True:
                    headers = {**owner, **({"Last-Event-ID": last_id} if last_id else {})}
                    try:
                        async with c.stream("GET", "/api/v1/audit/stream", headers=headers,
                                            params={"action": "project.*"}) as resp:
                            if resp.status_code == 200:
                                reader = SseReader(resp, last_id=last_id)
                                while (ev := await reader.next()) is not None:
                                    if ev.event == "audit":
                                        stream_events.append(json.loads(ev.data))
                                    else:
                                        stream_ends.append(json.loads(ev.data)["code"])
                                last_id = reader.last_id
                            else:
                                stream_ends.append(str(resp.status_code))
                    except httpx.HTTPError as exc:  # a broken stream is a bug: record it
                        stream_ends.append(f"broken: {exc!r}")
                    await asyncio.sleep(0.5)

        stream_task = asyncio.create_task(read_stream())
        await asyncio.sleep(0.5)

        created_ids: list[str] = []

        async def create_projects(prefix: str, n: int) -> None:
            for i in range(n):
                r = await api.post("/api/v1/projects", headers=owner,
                                   json={"name": f"{prefix} {i}"})
                assert r.status_code == 201, r.text
                created_ids.append(r.json()["id"])

        await create_projects("before", 5)
        await hook.wait_for(5)

        # ---- the outage, hitting requests in flight ----
        load: list[httpx.Response] = []
        stop_load = asyncio.Event()

        async def keep_creating(n: int) -> None:
            async with httpx.AsyncClient(base_url=server.url, timeout=15) as c:
                i = 0
                while not stop_load.is_set():
                    i += 1
                    load.append(await c.post("/api/v1/projects", headers=owner,
                                             json={"name": f"load {n}-{i}"}))

        loaders = [asyncio.create_task(keep_creating(n)) for n in range(3)]
        await until("load running", lambda: len(load) >= 6)
        await asyncio.to_thread(fresh_db.stop)
        await until("load meeting the outage", lambda: load[-1].status_code == 503)
        stop_load.set()
        await asyncio.gather(*loaders)
        for r in load:  # committed before the stop, or refused: nothing in between
            if r.status_code != 201:
                assert r.status_code == 503, (r.status_code, r.text)
                assert r.headers["content-type"] == "application/problem+json"
                assert r.json()["code"] in ("database_unavailable", "commit_failed"), r.text
        load_ok = {r.json()["id"] for r in load if r.status_code == 201}
        ambiguous = sum(r.status_code == 503 and r.json()["code"] == "commit_failed"
                        for r in load)
        assert load_ok and len(load_ok) < len(load)

        calls: list[tuple[str, str, dict[str, Any]]] = [
            ("GET", "/api/v1/projects", {"headers": owner}),
            ("POST", "/api/v1/projects", {"headers": owner, "json": {"name": "lost"}}),
            ("GET", "/api/v1/me", {"headers": fresh_key}),
            ("GET", "/api/v1/audit", {"headers": owner}),
            ("DELETE", f"/api/v1/projects/{created_ids[0]}", {"headers": owner}),
            ("POST", "/api/v1/auth/login", {"json": {"tenant": "restart-co",
                                                     "email": "owner@restart.example",
                                                     "password": "whatever-password"}}),
        ]
        for _ in range(2):
            for method, path, kw in calls:
                assert_503_problem(await api.request(method, path, **kw))
            scim = await api.get("/scim/v2/Users", headers=scim_headers)
            assert scim.status_code == 503, scim.text
            assert scim.json()["schemas"] == [ERROR_URN] and scim.json()["status"] == "503"
        ready = await api.get("/readyz")
        assert ready.status_code == 503 and ready.json()["database"] == "unreachable"
        assert (await api.get("/healthz")).status_code == 200  # the process itself is up

        # ---- back ----
        await asyncio.to_thread(fresh_db.restart)

        async def serving() -> bool:
            return (await api.get("/api/v1/projects", headers=owner)).status_code == 200

        await until("the API serves again", serving)
        await until("allowlist listener reconnected", lambda: cache_for(server_rt.db).ready)
        assert (await api.get("/api/v1/me", headers=fresh_key)).status_code == 200
        assert (await api.get("/scim/v2/Users", headers=scim_headers)).status_code == 200
        assert (await api.get("/readyz")).status_code == 200
        await create_projects("after", 5)
        r = await api.delete(f"/api/v1/projects/{created_ids[0]}", headers=owner)
        assert r.status_code == 204, r.text
        deleted = created_ids[0]

        # every event arrives; the worker was woken by NOTIFY on its reconnected listener
        expected = len(created_ids) + len(load_ok) + 1
        await hook.wait_for(expected, timeout=WAIT)
        await until("every project event on the audit stream",
                    lambda: len(stream_events) >= expected)

        # an allowlist change made elsewhere is enforced at once (listener back, not stale)
        db = Runtime.create(s, fresh_db.urls.app_url)
        await db.start()
        try:
            async with own_tx(db.db, tenant_id) as tx:
                await tx.execute("UPDATE ip_allowlist SET cidr = '10.0.0.0/8'")
            r = await api.get("/api/v1/projects", headers=owner)
            assert r.status_code == 403 and r.json()["code"] == "ip_not_allowed", r.text
            async with own_tx(db.db, tenant_id) as tx:
                await tx.execute("DELETE FROM ip_allowlist")
            assert (await api.get("/api/v1/projects", headers=owner)).status_code == 200

            # ---- nothing lost, nothing duplicated ----
            async def all_recorded() -> bool:
                async with own_tx(db.db, tenant_id) as tx:
                    return not await tx.fetchval(
                        "SELECT count(*) FROM webhook_deliveries"
                        " WHERE status <> 'delivered' OR locked_until IS NOT NULL")

            # results of sends that finished while the database was down were kept and
            # recorded when it came back: nothing waits for its lease to run out
            await until("every delivery recorded as delivered", all_recorded)
            async with own_tx(db.db, tenant_id) as tx:
                # the project events this test causes (not the endpoint alerts a restart can
                # emit: webhook.endpoint.*, which never go to the endpoint they are about)
                events = await tx.fetch("SELECT id, type, data FROM outbox_events"
                                        " WHERE type LIKE 'project.%'")
                audit = await tx.fetch("SELECT action, resource_id FROM audit_events"
                                       " WHERE action LIKE 'project.%' ORDER BY seq")
                rows = await tx.fetch("SELECT status, locked_until FROM webhook_deliveries")
                names = {r["name"] for r in await tx.fetch("SELECT name FROM projects")}
                stored = {str(r["id"]) for r in await tx.fetch("SELECT id FROM projects")}
        finally:
            await db.close()
        assert "lost" not in names
        # each committed change has exactly one audit event and one outbox event
        committed = [a["resource_id"] for a in audit if a["action"] == "project.create"]
        assert len(committed) == len(set(committed))
        assert set(committed) == stored | {deleted}
        assert [(a["action"], a["resource_id"]) for a in audit] == [
            ("project.create", p) for p in committed] + [("project.delete", deleted)]
        assert Counter((e["type"], e["data"]["project_id"]) for e in events) == Counter(
            [("project.created", p) for p in committed] + [("project.deleted", deleted)])
        # every success was committed; anything else committed was a commit whose answer
        # was lost with the connection (reported as 503 commit_failed)
        assert set(created_ids) | load_ok <= set(committed)
        assert len(set(committed) - set(created_ids) - load_ok) <= ambiguous
        assert {(r["status"], r["locked_until"]) for r in rows} == {("delivered", None)}
        assert set(hook.ids()) == {str(e["id"]) for e in events}  # at least once each
        # the stream: each event once, in order, across reconnections; it ended properly
        assert [(e["action"], e["resource"]["id"]) for e in stream_events] == [
            (a["action"], a["resource_id"]) for a in audit]
        assert not [e for e in stream_ends if e.startswith("broken")], stream_ends
        verify = await api.get("/api/v1/audit/verify", headers=owner)
        assert verify.status_code == 200 and verify.json()["valid"] is True, verify.text
    finally:
        if stream_task is not None:
            stream_task.cancel()
            await asyncio.gather(stream_task, return_exceptions=True)
        await api.aclose()
        worker.stop()
        await worker_task
        await worker_rt.close()
        server.stop()
