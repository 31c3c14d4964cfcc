"""Tenant isolation on every allowlist endpoint (the route walker checks the id routes too)."""

from __future__ import annotations

import httpx
import pytest

from app.core.runtime import Runtime
from tests.conftest import Tenant, audit_events
from tests.ipallow.conftest import PREFIX, add_entry, entry_cidrs
from tests.ipallow.recipes import reset_token
from tests.recipes import Env

pytestmark = pytest.mark.isolation


async def test_another_tenant_sees_and_changes_nothing(client: httpx.AsyncClient,
                                                       tenant: Tenant, other_tenant: Tenant
                                                       ) -> None:
    mine = await add_entry(tenant, "127.0.0.0/8", description="secret office")
    await add_entry(tenant, "10.0.0.0/8")
    theirs = await other_tenant.add_user("admin")
    h = theirs.headers

    listed = (await client.get(PREFIX, headers=h)).json()
    assert listed["data"] == [] and listed["pagination"]["total"] == 0
    for method, kw in (("GET", {}), ("PATCH", {"json": {"description": "x", "force": True}}),
                       ("DELETE", {"params": {"force": "true"}})):
        r = await client.request(method, f"{PREFIX}/{mine}", headers=h, **kw)
        assert r.status_code == 404 and r.json()["code"] == "not_found", (method, r.text)
    # /check answers from the caller's own (empty) list
    check = (await client.post(f"{PREFIX}/check", headers=h, json={"ip": "10.1.1.1"})).json()
    assert check == {"ip": "10.1.1.1", "allowed": True, "reason": "no_entries", "entry": None}
    # creating the same network in the other tenant is no duplicate of ours
    assert (await client.post(PREFIX, headers=h, json={"cidr": "127.0.0.0/8"})
            ).status_code == 201
    # the other owner's reset request only concerns the other tenant
    assert (await client.post(f"{PREFIX}/emergency-reset", headers=other_tenant.headers)
            ).status_code == 202
    assert await tenant.sql("SELECT 1 FROM ip_allowlist_resets") == []
    assert await entry_cidrs(tenant) == ["10.0.0.0/8", "127.0.0.0/8"]
    assert [r["description"] for r in await tenant.sql(
        "SELECT description FROM ip_allowlist WHERE id = $1", mine)] == ["secret office"]
    assert await audit_events(tenant, action="ip_allowlist.update") == []
    assert await audit_events(tenant, action="ip_allowlist.remove") == []


async def test_a_reset_token_cannot_be_replayed_against_another_tenant(
        client: httpx.AsyncClient, runtime: Runtime, tenant: Tenant,
        other_tenant: Tenant) -> None:
    """The token alone decides the tenant; holding another tenant's credentials changes
    nothing about which list it clears."""
    await add_entry(tenant, "127.0.0.0/8")
    await add_entry(other_tenant, "127.0.0.0/8")
    token = await reset_token(Env(client=client, tenant=tenant, other=other_tenant,
                                  runtime=runtime))
    r = await client.post(f"{PREFIX}/emergency-reset/{token}", headers=other_tenant.headers)
    assert r.status_code == 200 and r.json()["cleared"] == 1
    assert await entry_cidrs(tenant) == []
    assert await entry_cidrs(other_tenant) == ["127.0.0.0/8"]
