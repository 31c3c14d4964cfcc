"""One-flight reads on /scim/v2 (see tests/core/test_one_flight.py)."""

from __future__ import annotations

import asyncio

import httpx

from app.ipallow.cache import cache_for
from tests.conftest import Tenant
from tests.scim.conftest import MakeScim


async def test_a_scim_filter_is_one_round_trip(
        make_scim: MakeScim, tenant: Tenant, round_trips: list[str]) -> None:
    scim = await make_scim(tenant)
    await scim.create_user("flight@example.com")
    cache = cache_for(tenant.rt.db)
    for _ in range(50):  # until this process's allowlist cache holds the tenant's list
        await scim.get("/Users?count=1")
        if tenant.id in cache.entries:
            break
        await asyncio.sleep(0.05)
    round_trips.clear()
    r = await scim.get('/Users?filter=userName eq "flight@example.com"')
    assert r.status_code == 200 and r.json()["totalResults"] == 1
    assert len(round_trips) == 1, round_trips
    assert "drift_api.enter_scim_token(" in round_trips[0]
    assert round_trips[0].endswith(", true)")


async def test_a_revoked_scim_token_is_refused_on_the_very_next_read(
        client: httpx.AsyncClient, make_scim: MakeScim, tenant: Tenant) -> None:
    scim = await make_scim(tenant)
    assert (await scim.get("/Users")).status_code == 200
    r = await client.delete(f"/api/v1/settings/scim/{scim.token_id}",
                            headers=tenant.headers)
    assert r.status_code == 204, r.text
    denied = await scim.get("/Users")
    assert denied.status_code == 401
    assert denied.json()["schemas"] == ["urn:ietf:params:scim:api:messages:2.0:Error"]
