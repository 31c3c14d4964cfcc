"""What a transaction pooler cannot carry (LISTEN/NOTIFY) goes to DRIFT_DIRECT_DATABASE_URL;
without it the service says at start and in /readyz which features run degraded, and each of
them degrades safely: nothing breaks silently."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from app.audit.live import close_hub, hub_for
from app.config import Settings
from app.core.db import SESSION_FEATURES
from app.core.runtime import Runtime
from app.ipallow.cache import cache_for
from app.main import create_app
from tests.conftest import Tenant, asgi_client, started_runtime
from tests.ipallow.conftest import add_entry
from tests.scale.conftest import Bouncer, pooled_settings

pytestmark = pytest.mark.isolation


@pytest.fixture
async def undirected(settings: Settings, pgbouncer: Bouncer) -> AsyncIterator[Runtime]:
    """A runtime behind pgbouncer with no DRIFT_DIRECT_DATABASE_URL."""
    async with started_runtime(pooled_settings(settings, pgbouncer, direct=False)) as rt:
        yield rt


async def test_without_direct_url_the_service_says_what_is_degraded(
        undirected: Runtime, pooled_tenant_factory: Any, caplog: pytest.LogCaptureFixture
) -> None:
    t: Tenant = await pooled_tenant_factory()
    app = create_app(undirected.settings, runtime=undirected, run_worker=False)
    with caplog.at_level(logging.WARNING, logger="drift.runtime"):
        async with app.router.lifespan_context(app):
            said = [r.getMessage() for r in caplog.records if r.name == "drift.runtime"]
            for feature in ("ip_allowlist_cache", "audit_live_stream", "worker_wakeups"):
                assert any(m.startswith(feature) and "DRIFT_DIRECT_DATABASE_URL" in m
                           for m in said), (feature, said)

            async with asgi_client(app) as c:
                ready = await c.get("/readyz")
                assert ready.status_code == 200, ready.text
                assert ready.json()["degraded"] == {"needs": "DRIFT_DIRECT_DATABASE_URL",
                                                    "features": SESSION_FEATURES}

                # the live stream refuses clearly instead of waiting for NOTIFYs never sent
                r = await c.get("/api/v1/audit/stream", headers=t.headers)
                assert r.status_code == 503, r.text
                assert r.json()["code"] == "direct_database_required"
                assert "DRIFT_DIRECT_DATABASE_URL" in r.json()["detail"]

            # the allowlist is still enforced, read from the database on every check
            await add_entry(t, "10.0.0.0/8")
            async with asgi_client(app, ip="127.0.0.1") as outside, \
                    asgi_client(app, ip="10.1.2.3") as inside:
                refused = await outside.get("/api/v1/me", headers=t.headers)
                assert refused.status_code == 403 and refused.json()["code"] == "ip_not_allowed"
                assert (await inside.get("/api/v1/me", headers=t.headers)).status_code == 200
            cache = cache_for(undirected.db)
            assert cache.ready is False and cache.stats.untrusted >= 2


async def test_with_direct_url_nothing_is_degraded_and_listen_goes_direct(
        pooled_runtime: Runtime, pooled_client: httpx.AsyncClient,
        pooled_tenant_factory: Any) -> None:
    t: Tenant = await pooled_tenant_factory()
    ready = await pooled_client.get("/readyz")
    assert ready.status_code == 200 and "degraded" not in ready.json()
    assert pooled_runtime.db.listen_url == pooled_runtime.settings.direct_database_url
    hub = hub_for(pooled_runtime)
    sub = await hub.subscribe(t.id)
    try:
        assert hub.listening
        r = await pooled_client.post("/api/v1/projects", headers=t.headers,
                                     json={"name": "Streamed"})
        assert r.status_code == 201
        await asyncio.wait_for(sub.wake.wait(), timeout=10)  # NOTIFY came over the direct URL
    finally:
        hub.unsubscribe(sub)
        await close_hub(pooled_runtime)
