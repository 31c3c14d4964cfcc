"""Fixtures for the IP allowlist tests: clients that come from chosen addresses, entries
written straight into the database, and a second "process" (its own pool, cache and listener).
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from typing import Any

import httpx
import pytest

from app.config import Settings
from app.core.runtime import Runtime
from app.ipallow.cache import AllowlistCache, cache_for
from app.main import create_app
from tests.conftest import DbInfo, Tenant, asgi_client

PREFIX = "/api/v1/settings/ip-allowlist"

ClientFactory = Callable[..., httpx.AsyncClient]


@pytest.fixture
async def client_from(app: Any) -> AsyncIterator[ClientFactory]:
    """client_from("192.168.1.1") -> a client whose socket peer is that address (optionally
    over another app: client_from(ip, app=other))."""
    made: list[httpx.AsyncClient] = []

    def factory(ip: str, *, app: Any = app) -> httpx.AsyncClient:
        c = asgi_client(app, ip=ip)
        made.append(c)
        return c

    yield factory
    for c in made:
        await c.aclose()


async def add_entry(t: Tenant, cidr: str, *, expires_at: datetime | None = None,
                    description: str | None = None, scope: str = "all", mode: str = "enforce"
                    ) -> uuid.UUID:
    """An entry written straight into the database (as the runtime role, in the tenant)."""
    rows = await t.sql(
        "INSERT INTO ip_allowlist (tenant_id, cidr, description, expires_at, scope, mode)"
        " VALUES ($1, $2::cidr, $3, $4, $5, $6) RETURNING id", t.id, cidr, description,
        expires_at, scope, mode)
    entry_id: uuid.UUID = rows[0]["id"]
    return entry_id


async def entry_cidrs(t: Tenant) -> list[str]:
    return [str(r["cidr"]) for r in await t.sql("SELECT cidr FROM ip_allowlist ORDER BY cidr")]


class Process:
    """A second API process: its own pool, allowlist cache and LISTEN connection."""

    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
        self.app = create_app(rt.settings, runtime=rt, run_worker=False)

    @property
    def cache(self) -> AllowlistCache:
        return cache_for(self.rt.db)

    def client(self, ip: str = "127.0.0.1") -> httpx.AsyncClient:
        return asgi_client(self.app, ip=ip)


@pytest.fixture
async def second_process(settings: Settings, test_db: DbInfo) -> AsyncIterator[Process]:
    rt = Runtime.create(settings.model_copy(update={"db_pool_max": 4, "db_pool_min": 1}),
                        test_db.app_url)
    await rt.start()
    proc = Process(rt)
    assert await proc.cache.wait_ready()
    try:
        yield proc
    finally:
        await proc.cache.stop()
        await rt.close()
