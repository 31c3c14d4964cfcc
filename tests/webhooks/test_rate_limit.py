"""A per-endpoint rate limit (deliveries per second), honoured across concurrent dispatcher
runs: the capacity is reserved in PostgreSQL by the claim statement."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import httpx

from app.core import clock
from app.core.runtime import Runtime
from tests.conftest import Tenant
from tests.webhooks.conftest import Receiver
from tests.webhooks.helpers import deliver, deliveries, emit_events, register


async def test_rate_limit_caps_deliveries_per_second_across_workers(
        client: httpx.AsyncClient, runtime: Runtime, tenant: Tenant, receiver: Receiver
) -> None:
    limited, free = receiver.hook(), receiver.hook()
    ep = await register(client, tenant, limited.url, ["sync.failed"], rate_limit=2)
    assert ep["rate_limit"] == 2
    await register(client, tenant, free.url, ["sync.failed"])
    clock.freeze()
    await emit_events(tenant, 7)
    # two dispatcher runs at once (two workers): together they send 2 in this second
    await asyncio.gather(deliver(runtime, tenant), deliver(runtime, tenant))
    assert len(limited.requests) == 2
    assert len(free.requests) == 7  # other endpoints are not held back
    await deliver(runtime, tenant)
    assert len(limited.requests) == 2  # same second: nothing more
    clock.advance(timedelta(milliseconds=999))
    await deliver(runtime, tenant)
    assert len(limited.requests) == 2
    clock.advance(timedelta(milliseconds=1))
    await asyncio.gather(deliver(runtime, tenant), deliver(runtime, tenant))
    assert len(limited.requests) == 4
    # lifting the limit: the rest goes at once
    r = await client.patch(f"/api/v1/webhooks/{ep['id']}", headers=tenant.headers,
                           json={"rate_limit": None})
    assert r.status_code == 200 and r.json()["rate_limit"] is None
    await deliver(runtime, tenant)
    assert len(limited.requests) == 7
    assert {r["status"] for r in await deliveries(tenant)} == {"delivered"}


async def test_rate_limit_bounds_are_validated(client: httpx.AsyncClient, tenant: Tenant,
                                               receiver: Receiver) -> None:
    for bad in (0, 10001, "fast"):
        r = await client.post("/api/v1/webhooks", headers=tenant.headers, json={
            "url": receiver.hook().url, "events": ["sync.failed"], "rate_limit": bad})
        assert r.status_code == 422 and "rate_limit" in r.text, r.text
    assert await tenant.sql("SELECT 1 FROM webhook_endpoints") == []
