"""Scale-out as the README documents it: N API replicas (`drift-cloud serve --no-worker`) and M
workers (`drift-cloud worker`) on one PostgreSQL. Two of each, real processes, a database of
this test's own: events created through both APIs reach a healthy receiver exactly once each,
and both workers take part."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections import Counter

import httpx
import psutil

from app.config import Settings
from app.core.runtime import Runtime
from app.core.tx import own_tx
from tests.conftest import bearer
from tests.e2e.conftest import FreshDatabase, Procs, cli
from tests.webhooks.conftest import Receiver, Reply

PROJECTS_PER_API = 60
EVENTS_PER_API = 60


async def test_two_apis_and_two_workers_deliver_every_event_exactly_once(
        fresh_db: FreshDatabase, procs: Procs, receiver: Receiver, settings: Settings) -> None:
    # A receiver that takes a moment per request and a small per-endpoint window per worker:
    # neither worker can take everything, so the two must share the work.
    hook = receiver.hook(Reply(200, delay=0.05))
    env = fresh_db.env(DRIFT_WEBHOOK_ENDPOINT_CONCURRENCY="4")
    api_a, api_b, *workers = await asyncio.gather(
        procs.serve("api-a", env), procs.serve("api-b", env),
        procs.worker("worker-1", env), procs.worker("worker-2", env))
    created = await cli(env, "tenants", "create", "--name", "Scale Co", "--owner-email",
                        "owner@scale.example", "--plan", "enterprise")
    owner = bearer(created["api_key"])

    # which worker process owns which connection to the receiver (sampled while they send)
    sender_of: dict[int, int] = {}
    sampling = True

    async def sample() -> None:
        ps = [psutil.Process(w.popen.pid) for w in workers]
        while sampling:
            for p in ps:
                for c in p.net_connections(kind="tcp"):
                    if c.raddr and c.raddr.port == receiver.port:
                        sender_of[c.laddr.port] = p.pid
            await asyncio.sleep(0.02)

    sampler = asyncio.create_task(sample())
    try:
        async with httpx.AsyncClient(base_url=api_a.url, timeout=30) as a, \
                httpx.AsyncClient(base_url=api_b.url, timeout=30) as b:
            r = await a.post("/api/v1/webhooks", headers=owner, json={
                "url": hook.url, "events": ["project.created", "sync.failed"]})
            assert r.status_code == 201, r.text

            async def through(c: httpx.AsyncClient, name: str) -> list[str]:
                projects = []
                for i in range(PROJECTS_PER_API):
                    r = await c.post("/api/v1/projects", headers=owner,
                                     json={"name": f"{name} {i}"})
                    assert r.status_code == 201, r.text
                    projects.append(r.json()["id"])
                events = []
                for i in range(EVENTS_PER_API):
                    r = await c.post("/api/v1/events", headers=owner, json={
                        "type": "sync.failed", "data": {
                            "project_id": projects[i % len(projects)],
                            "error": f"{name} {i}", "retry_count": i, "error_code": "E_DISK",
                            "occurred_at": "2026-01-01T00:00:00Z"}})
                    assert r.status_code == 201, r.text
                    events.append(r.json()["id"])
                return events

            from_a, from_b = await asyncio.gather(through(a, "a"), through(b, "b"))
            total = 2 * (PROJECTS_PER_API + EVENTS_PER_API)
            await hook.wait_for(total, timeout=120)

            db = Runtime.create(fresh_db.settings(settings), fresh_db.urls.app_url)
            await db.start()
            try:
                tenant_id = uuid.UUID(created["tenant_id"])
                for _ in range(600):  # until both workers recorded their last results
                    async with own_tx(db.db, tenant_id) as tx:
                        rows = await tx.fetch(
                            "SELECT d.status, d.attempt, d.locked_until, (SELECT count(*)"
                            " FROM webhook_delivery_attempts a WHERE a.delivery_id = d.id)"
                            " AS logged FROM webhook_deliveries d")
                        events = await tx.fetch("SELECT id, type FROM outbox_events")
                    if {r["status"] for r in rows} == {"delivered"}:
                        break
                    await asyncio.sleep(0.05)
            finally:
                await db.close()
            await asyncio.sleep(0.5)  # anything sent twice would have arrived by now
    finally:
        sampling = False
        await sampler

    assert all(p.popen.poll() is None for p in procs.running), "a process died"
    ids = hook.ids()
    assert len(events) == total
    assert Counter(e["type"] for e in events) == {"project.created": 2 * PROJECTS_PER_API,
                                                  "sync.failed": 2 * EVENTS_PER_API}
    assert {str(e) for e in from_a + from_b} <= set(ids)
    assert sorted(ids) == sorted(str(e["id"]) for e in events)  # every event exactly once
    assert {(r["status"], r["attempt"], r["logged"], r["locked_until"]) for r in rows} == {
        ("delivered", 1, 1, None)}  # one attempt each, none left in flight
    # both workers delivered: every request came over a connection of one of them
    by_worker = Counter(sender_of.get(r.peer[1]) for r in hook.requests if r.peer)
    assert set(by_worker) <= {w.popen.pid for w in workers} | {None}
    assert all(by_worker[w.popen.pid] > 0 for w in workers), (by_worker, os.getpid())
