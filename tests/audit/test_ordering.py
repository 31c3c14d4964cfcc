"""Commit order vs created_at: continuous oldest-first polling never misses an event.

created_at comes from the application clock when the event is inserted, so a transaction that
commits later can carry an earlier created_at than events already read (a slow request, a
clock step between processes). A cursor on created_at would skip such an event for good. The
log orders by `seq`, assigned under the tenant's chain lock, which the inserting transaction
holds until it ends: a position becomes visible only after every lower position has committed.
"""

from __future__ import annotations

import asyncio
import random
import uuid
from datetime import timedelta
from typing import Any

import httpx

from app.core import clock
from app.core.audit_record import insert_event
from app.core.context import RequestContext
from app.core.tx import own_tx
from tests.audit.conftest import ndjson, record_events
from tests.conftest import Tenant


async def test_event_with_an_earlier_created_at_committing_later_is_not_missed(
        client: httpx.AsyncClient, tenant: Tenant) -> None:
    t0 = clock.now()
    clock.freeze(t0 + timedelta(seconds=5))
    [first] = await record_events(tenant, 1, action="project.create")
    clock.reset()
    page = (await client.get("/api/v1/audit", headers=tenant.headers,
                             params={"action": "project.create", "order": "asc"})).json()
    export = await client.get("/api/v1/audit/export", headers=tenant.headers,
                              params={"action": "project.create"})
    assert [e["id"] for e in page["data"]] == [str(first)]
    assert [e["id"] for e in ndjson(export.content)] == [str(first)]
    # a slower transaction: its created_at is 5 s before the event already delivered
    clock.freeze(t0)
    [late] = await record_events(tenant, 1, action="project.create")
    clock.reset()
    polled = (await client.get("/api/v1/audit", headers=tenant.headers,
                               params={"action": "project.create",
                                       "cursor": page["pagination"]["cursor"]})).json()
    pulled = await client.get("/api/v1/audit/export", headers=tenant.headers,
                              params={"action": "project.create",
                                      "cursor": export.headers["x-drift-next-cursor"]})
    assert [e["id"] for e in polled["data"]] == [str(late)]
    assert [e["id"] for e in ndjson(pulled.content)] == [str(late)]
    assert polled["data"][0]["created_at"] < page["data"][0]["created_at"]


async def _writer(tenant: Tenant, base: Any, written: list[uuid.UUID]) -> None:
    """A transaction that inserts two events with scrambled created_at values and lingers
    before committing."""
    async with own_tx(tenant.rt.db, tenant.id, RequestContext(request_id="w")) as tx:
        await asyncio.sleep(random.uniform(0, 0.01))
        ids = []
        for _ in range(2):
            event_id = uuid.uuid4()
            await insert_event(
                tx, id_=event_id, created_at=base + timedelta(seconds=random.uniform(-30, 30)),
                actor_type="system", actor_id=None, actor_email=None, action="project.update",
                resource_type="project", resource_id=None, outcome="success", ip=None,
                user_agent=None, request_id="w", metadata={})
            ids.append(event_id)
            await asyncio.sleep(random.uniform(0, 0.01))
    written.extend(ids)


async def _poll_query(client: httpx.AsyncClient, tenant: Tenant, state: dict[str, Any]) -> int:
    r = await client.get("/api/v1/audit", headers=tenant.headers,
                         params={"action": "project.update", "order": "asc", "limit": 7,
                                 "cursor": state.get("cursor")})
    assert r.status_code == 200, r.text
    body = r.json()
    state["seen"] += body["data"]
    state["cursor"] = body["pagination"]["cursor"]
    return len(body["data"])


async def _poll_export(client: httpx.AsyncClient, tenant: Tenant, state: dict[str, Any]) -> int:
    params = {"action": "project.update"}
    if state.get("cursor"):
        params["cursor"] = state["cursor"]
    r = await client.get("/api/v1/audit/export", headers=tenant.headers, params=params)
    assert r.status_code == 200, r.text
    events = ndjson(r.content)
    state["seen"] += events
    state["cursor"] = r.headers["x-drift-next-cursor"]
    return len(events)


async def test_continuous_polling_with_concurrent_writers_sees_every_event_once_in_order(
        client: httpx.AsyncClient, tenant: Tenant) -> None:
    random.seed(7)
    base = clock.now()
    written: list[uuid.UUID] = []
    done = asyncio.Event()
    pollers = {"query": _poll_query, "export": _poll_export}
    states: dict[str, dict[str, Any]] = {name: {"seen": []} for name in pollers}

    async def poll(name: str) -> None:
        while not done.is_set():
            await pollers[name](client, tenant, states[name])
            await asyncio.sleep(0.005)
        while await pollers[name](client, tenant, states[name]):  # drain
            pass

    async def write() -> None:
        try:
            for _ in range(4):
                await asyncio.gather(*[_writer(tenant, base, written) for _ in range(10)])
        finally:
            done.set()

    await asyncio.gather(write(), poll("query"), poll("export"))
    assert len(written) == 80
    for name, state in states.items():
        ids = [e["id"] for e in state["seen"]]
        assert len(ids) == len(set(ids)), f"{name}: an event was delivered twice"
        assert set(ids) == {str(i) for i in written}, f"{name}: events were missed"
        seqs = [e["seq"] for e in state["seen"]]
        assert seqs == sorted(seqs), f"{name}: out of commit order"
    created = [e["created_at"] for e in states["query"]["seen"]]
    assert created != sorted(created), "the test should scramble created_at"
