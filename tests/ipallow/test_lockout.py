"""Lock-out protection: a change after which the caller's own address would be refused is a 409
unless forced; forcing it does lock the caller out."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import httpx

from app.core import clock
from tests.conftest import Tenant, app_with, asgi_client, assert_problem, audit_events
from tests.ipallow.conftest import PREFIX, ClientFactory, add_entry, entry_cidrs

ME = "/api/v1/me"


def _lock_out(r: httpx.Response, ip: str) -> None:
    assert r.status_code == 409, r.text
    body = r.json()
    assert body["code"] == "would_lock_out_caller" and body["ip"] == ip
    assert "force" in body["detail"]


async def test_first_entry_that_excludes_the_caller(client_from: ClientFactory,
                                                    tenant: Tenant) -> None:
    c = client_from("192.168.1.1")
    _lock_out(await c.post(PREFIX, headers=tenant.headers, json={"cidr": "10.0.0.0/8"}),
              "192.168.1.1")
    assert await entry_cidrs(tenant) == []
    assert await audit_events(tenant, action="ip_allowlist.add") == []
    # an entry that covers the caller is fine
    assert (await c.post(PREFIX, headers=tenant.headers, json={"cidr": "192.168.0.0/16"})
            ).status_code == 201
    assert (await c.post(PREFIX, headers=tenant.headers, json={"cidr": "10.0.0.0/8"})
            ).status_code == 201


async def test_force_applies_it_and_locks_the_caller_out(client_from: ClientFactory,
                                                         tenant: Tenant) -> None:
    c = client_from("192.168.1.1")
    r = await c.post(PREFIX, headers=tenant.headers, json={"cidr": "10.0.0.0/8", "force": True})
    assert r.status_code == 201, r.text
    event = (await audit_events(tenant, action="ip_allowlist.add"))[0]
    assert event["metadata"]["forced_lock_out"] is True
    nxt = await c.get(ME, headers=tenant.headers)
    assert nxt.status_code == 403 and nxt.json()["code"] == "ip_not_allowed"


async def test_delete_that_would_lock_out(client_from: ClientFactory, tenant: Tenant) -> None:
    mine = await add_entry(tenant, "192.168.0.0/16")
    await add_entry(tenant, "10.0.0.0/8")
    c = client_from("192.168.1.1")
    _lock_out(await c.delete(f"{PREFIX}/{mine}", headers=tenant.headers), "192.168.1.1")
    _lock_out(await c.request("DELETE", f"{PREFIX}/{mine}", headers=tenant.headers,
                              json={"force": False}), "192.168.1.1")
    assert "192.168.0.0/16" in await entry_cidrs(tenant)
    # force as a query parameter
    assert (await c.delete(f"{PREFIX}/{mine}?force=true", headers=tenant.headers)
            ).status_code == 204
    assert_problem(await c.get(ME, headers=tenant.headers), 403, "ip_not_allowed")


async def test_delete_force_in_the_body(client_from: ClientFactory, tenant: Tenant) -> None:
    mine = await add_entry(tenant, "192.168.0.0/16")
    await add_entry(tenant, "10.0.0.0/8")
    c = client_from("192.168.1.1")
    r = await c.request("DELETE", f"{PREFIX}/{mine}", headers=tenant.headers,
                        json={"force": True})
    assert r.status_code == 204, r.text
    assert (await audit_events(tenant, action="ip_allowlist.remove"))[0]["metadata"][
        "forced_lock_out"] is True


async def test_deleting_the_last_entry_opens_the_list(client_from: ClientFactory,
                                                      tenant: Tenant) -> None:
    only = await add_entry(tenant, "192.168.0.0/16")
    c = client_from("192.168.1.1")
    assert (await c.delete(f"{PREFIX}/{only}", headers=tenant.headers)).status_code == 204
    assert (await client_from("8.8.8.8").get(ME, headers=tenant.headers)).status_code == 200


async def test_deleting_one_of_two_covering_entries_is_fine(client_from: ClientFactory,
                                                           tenant: Tenant) -> None:
    narrow = await add_entry(tenant, "192.168.1.0/24")
    await add_entry(tenant, "192.168.0.0/16")
    c = client_from("192.168.1.1")
    assert (await c.delete(f"{PREFIX}/{narrow}", headers=tenant.headers)).status_code == 204


async def test_patch_that_would_lock_out(client_from: ClientFactory, tenant: Tenant) -> None:
    mine = await add_entry(tenant, "192.168.0.0/16")
    await add_entry(tenant, "10.0.0.0/8")
    c = client_from("192.168.1.1")
    now = clock.now().isoformat()
    _lock_out(await c.patch(f"{PREFIX}/{mine}", headers=tenant.headers,
                            json={"expires_at": now}), "192.168.1.1")
    row = (await tenant.sql("SELECT expires_at FROM ip_allowlist WHERE id = $1", mine))[0]
    assert row["expires_at"] is None
    # description changes never lock anyone out; a future expiry does not either (yet)
    later = (clock.now() + timedelta(hours=1)).isoformat()
    assert (await c.patch(f"{PREFIX}/{mine}", headers=tenant.headers,
                          json={"description": "x", "expires_at": later})).status_code == 200
    r = await c.patch(f"{PREFIX}/{mine}", headers=tenant.headers,
                      json={"expires_at": now, "force": True})
    assert r.status_code == 200 and r.json()["expired"] is True
    assert_problem(await c.get(ME, headers=tenant.headers), 403, "ip_not_allowed")


async def test_bypass_networks_count_as_allowed(runtime: Any, tenant: Tenant) -> None:
    app = app_with(runtime, ip_allowlist_bypass_cidrs="198.51.100.0/24")
    async with asgi_client(app, ip="198.51.100.9") as c:
        r = await c.post(PREFIX, headers=tenant.headers, json={"cidr": "10.0.0.0/8"})
        assert r.status_code == 201, r.text


async def test_an_unknown_caller_address_cannot_close_the_list(runtime: Any,
                                                               tenant: Tenant) -> None:
    app = app_with(runtime, trusted_proxies="172.20.0.0/16")
    async with asgi_client(app, ip="172.20.0.2") as c:  # a proxy that sent no X-Forwarded-For
        r = await c.post(PREFIX, headers=tenant.headers, json={"cidr": "10.0.0.0/8"})
        assert r.status_code == 409 and r.json()["code"] == "would_lock_out_caller"
        assert "unknown" in r.json()["detail"]


async def test_concurrent_deletes_cannot_lock_out_together(client_from: ClientFactory,
                                                           tenant: Tenant) -> None:
    """Two admins each remove the entry the *other* one relies on: the per-tenant lock makes the
    second change see the first, so it is refused instead of both succeeding."""
    a_entry = await add_entry(tenant, "10.1.0.0/16")
    b_entry = await add_entry(tenant, "10.2.0.0/16")
    await add_entry(tenant, "10.3.0.0/16")  # so removing both would not empty (open) the list
    a, b = client_from("10.2.0.1"), client_from("10.1.0.1")  # a relies on b_entry and v.v.
    ra, rb = await asyncio.gather(
        a.delete(f"{PREFIX}/{a_entry}", headers=tenant.headers),
        b.delete(f"{PREFIX}/{b_entry}", headers=tenant.headers))
    first, second = sorted([ra, rb], key=lambda r: r.status_code)
    assert first.status_code == 204, first.text
    # refused by lock-out protection, or (if it arrived after the commit) by the allowlist
    assert second.json()["code"] in ("would_lock_out_caller", "ip_not_allowed"), second.text
    assert len(await entry_cidrs(tenant)) == 2
