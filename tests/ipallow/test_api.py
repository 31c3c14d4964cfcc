"""The allowlist API: CRUD, CIDR validation, duplicates, expiry, /check, roles, audit, paging."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import pytest

from app.core import clock
from tests.conftest import Tenant, assert_problem, audit_events
from tests.ipallow.conftest import PREFIX, ClientFactory, add_entry


async def test_crud_round_trip_is_audited(client: httpx.AsyncClient, tenant: Tenant) -> None:
    expires = (clock.now() + timedelta(days=7)).replace(microsecond=0)
    r = await client.post(PREFIX, headers=tenant.headers, json={
        "cidr": "127.0.0.0/8", "description": "  office  ", "expires_at": expires.isoformat()})
    assert r.status_code == 201, r.text
    e = r.json()
    assert e["cidr"] == "127.0.0.0/8" and e["description"] == "office"
    assert e["expired"] is False and e["created_by"] == str(tenant.owner.id)
    assert r.headers["location"] == f"{PREFIX}/{e['id']}"
    assert (await client.get(f"{PREFIX}/{e['id']}", headers=tenant.headers)).json() == e

    patched = await client.patch(f"{PREFIX}/{e['id']}", headers=tenant.headers,
                                 json={"description": "HQ", "expires_at": None})
    assert patched.status_code == 200, patched.text
    assert patched.json()["description"] == "HQ" and patched.json()["expires_at"] is None
    assert patched.json()["cidr"] == "127.0.0.0/8"

    listed = (await client.get(PREFIX, headers=tenant.headers)).json()
    assert [x["id"] for x in listed["data"]] == [e["id"]]
    assert listed["pagination"] == {"cursor": None, "has_more": False, "total": 1}

    assert (await client.delete(f"{PREFIX}/{e['id']}", headers=tenant.headers)
            ).status_code == 204
    assert_problem(await client.get(f"{PREFIX}/{e['id']}", headers=tenant.headers),
                   404, "not_found")
    assert_problem(await client.delete(f"{PREFIX}/{e['id']}", headers=tenant.headers),
                   404, "not_found")
    events = await audit_events(tenant, resource_type="ip_allowlist")
    assert [ev["action"] for ev in events] == ["ip_allowlist.add", "ip_allowlist.update",
                                               "ip_allowlist.remove"]
    assert all(str(ev["resource_id"]) == e["id"] for ev in events)
    assert events[0]["metadata"]["cidr"] == "127.0.0.0/8"
    assert events[1]["metadata"]["changes"]["description"] == {"from": "office", "to": "HQ"}
    assert "expires_at" in events[1]["metadata"]["changes"]
    assert events[2]["metadata"]["cidr"] == "127.0.0.0/8"
    assert all(ev["actor_id"] == tenant.owner.id for ev in events)


@pytest.mark.parametrize(("given", "stored"), [
    ("127.0.0.1", "127.0.0.1/32"),
    ("127.0.0.0/8", "127.0.0.0/8"),
    (" 203.0.113.0/24 ", "203.0.113.0/24"),
    ("2001:db8::/32", "2001:db8::/32"),
    ("2001:DB8::1", "2001:db8::1/128"),
    ("::ffff:127.0.0.1", "127.0.0.1/32"),
    ("0.0.0.0/0", "0.0.0.0/0"),
])
async def test_cidr_forms(client: httpx.AsyncClient, tenant: Tenant, given: str,
                          stored: str) -> None:
    await add_entry(tenant, "127.0.0.0/8" if stored != "127.0.0.0/8" else "127.0.0.1/32")
    r = await client.post(PREFIX, headers=tenant.headers, json={"cidr": given})
    assert r.status_code == 201, r.text
    assert r.json()["cidr"] == stored


async def test_host_bits_set_names_the_network_meant(client: httpx.AsyncClient,
                                                     tenant: Tenant) -> None:
    for given, meant in (("10.0.0.1/8", "10.0.0.0/8"), ("192.168.1.77/24", "192.168.1.0/24"),
                         ("2001:db8::1/32", "2001:db8::/32")):
        r = await client.post(PREFIX, headers=tenant.headers, json={"cidr": given})
        assert r.status_code == 400, r.text
        body = r.json()
        assert body["code"] == "cidr_host_bits_set" and body["suggestion"] == meant
        assert meant in body["detail"]
    assert await tenant.sql("SELECT 1 FROM ip_allowlist") == []


@pytest.mark.parametrize("bad", ["", "   ", "10.0.0.0/33", "10/8", "300.1.1.1", "hello",
                                 "10.0.0.0/8/8", "fe80::1%eth0", "010.1.1.1", "10.0.0.0 /8",
                                 "2001:db8::/129"])
async def test_invalid_cidrs_are_400(client: httpx.AsyncClient, tenant: Tenant, bad: str
                                     ) -> None:
    r = await client.post(PREFIX, headers=tenant.headers, json={"cidr": bad})
    assert r.status_code in (400, 422), r.text
    if r.status_code == 400:
        assert r.json()["code"] == "invalid_cidr"
    assert await tenant.sql("SELECT 1 FROM ip_allowlist") == []


async def test_duplicates_are_409(client: httpx.AsyncClient, tenant: Tenant,
                                  other_tenant: Tenant) -> None:
    assert (await client.post(PREFIX, headers=tenant.headers, json={"cidr": "127.0.0.0/8"})
            ).status_code == 201
    for same in ("127.0.0.0/8", "::ffff:127.0.0.0/104"):
        dup = await client.post(PREFIX, headers=tenant.headers, json={"cidr": same})
        assert dup.status_code == 409 and dup.json()["code"] == "duplicate_cidr", dup.text
    # a different prefix is a different network; another tenant may list the same one
    assert (await client.post(PREFIX, headers=tenant.headers, json={"cidr": "127.0.0.1"})
            ).status_code == 201
    assert (await client.post(PREFIX, headers=other_tenant.headers,
                              json={"cidr": "127.0.0.0/8"})).status_code == 201
    assert len(await audit_events(tenant, action="ip_allowlist.add")) == 2


async def test_bad_bodies(client: httpx.AsyncClient, tenant: Tenant) -> None:
    past = (clock.now() - timedelta(minutes=1)).isoformat()
    r = await client.post(PREFIX, headers=tenant.headers,
                          json={"cidr": "127.0.0.1", "expires_at": past})
    assert r.status_code == 400 and r.json()["code"] == "expires_at_in_past"
    naive = await client.post(PREFIX, headers=tenant.headers,
                              json={"cidr": "127.0.0.1", "expires_at": "2030-01-01T00:00:00"})
    assert_problem(naive, 422, "validation_error")
    cases: list[dict[str, Any]] = [{}, {"cidr": "127.0.0.1", "extra": 1},
                                   {"cidr": "127.0.0.1", "description": "x" * 501}]
    for body in cases:
        assert_problem(await client.post(PREFIX, headers=tenant.headers, json=body),
                       422, "validation_error")
    e = await add_entry(tenant, "127.0.0.0/8")
    cidr_change = await client.patch(f"{PREFIX}/{e}", headers=tenant.headers,
                                     json={"cidr": "10.0.0.0/8"})
    assert_problem(cidr_change, 422, "validation_error")  # the network of an entry cannot change
    # a path that cannot name an entry is no route at all
    assert_problem(await client.get(f"{PREFIX}/not-a-uuid", headers=tenant.headers),
                   404, "not_found")
    assert await tenant.sql("SELECT cidr::text FROM ip_allowlist") == [("127.0.0.0/8",)]


async def test_patch_can_expire_an_entry_now(client: httpx.AsyncClient, tenant: Tenant) -> None:
    keep = await add_entry(tenant, "127.0.0.0/8")
    other = await add_entry(tenant, "10.0.0.0/8")
    now = clock.now()
    r = await client.patch(f"{PREFIX}/{other}", headers=tenant.headers,
                           json={"expires_at": now.isoformat()})
    assert r.status_code == 200 and r.json()["expired"] is True
    listed = (await client.get(PREFIX, headers=tenant.headers)).json()["data"]
    assert {x["id"]: x["expired"] for x in listed} == {str(keep): False, str(other): True}


async def test_check_says_whether_and_by_which_entry(client: httpx.AsyncClient,
                                                     tenant: Tenant) -> None:
    async def check(ip: str) -> dict[str, Any]:
        r = await client.post(f"{PREFIX}/check", headers=tenant.headers, json={"ip": ip})
        assert r.status_code == 200, r.text
        out: dict[str, Any] = r.json()
        return out

    assert await check("8.8.8.8") == {"ip": "8.8.8.8", "allowed": True, "reason": "no_entries",
                                      "entry": None}
    wide = await add_entry(tenant, "10.0.0.0/8", description="corp")
    narrow = await add_entry(tenant, "10.1.0.0/16", description="lab")
    await add_entry(tenant, "127.0.0.1")
    gone = await add_entry(tenant, "10.1.2.0/24", expires_at=clock.now() + timedelta(seconds=1))
    clock.advance(timedelta(seconds=2))
    out = await check("10.1.2.3")  # the expired /24 no longer counts; the /16 is most specific
    assert out["allowed"] and out["reason"] == "entry" and out["entry"]["id"] == str(narrow)
    assert out["entry"]["description"] == "lab"
    assert (await check("10.200.0.1"))["entry"]["id"] == str(wide)
    assert (await check("::ffff:10.200.0.1"))["ip"] == "10.200.0.1"
    refused = await check("192.168.1.1")
    assert refused == {"ip": "192.168.1.1", "allowed": False, "reason": "not_listed",
                       "entry": None}
    assert str(gone) not in str(await check("10.1.2.3"))
    bad = await client.post(f"{PREFIX}/check", headers=tenant.headers, json={"ip": "10.0.0.0/8"})
    assert bad.status_code == 400 and bad.json()["code"] == "invalid_ip"
    # read-only: nothing was audited by /check
    assert await audit_events(tenant, action="ip_allowlist.check") == []


async def test_check_reports_bypass_networks(runtime: Any, tenant: Tenant) -> None:
    from tests.conftest import app_with, asgi_client

    await add_entry(tenant, "127.0.0.0/8")
    app = app_with(runtime, ip_allowlist_bypass_cidrs="198.51.100.0/24")
    async with asgi_client(app) as c:
        r = await c.post(f"{PREFIX}/check", headers=tenant.headers, json={"ip": "198.51.100.9"})
    assert r.json()["allowed"] is True and r.json()["reason"] == "bypass"


async def test_only_admins_manage_the_list(client: httpx.AsyncClient, tenant: Tenant) -> None:
    e = await add_entry(tenant, "127.0.0.0/8")
    admin = await tenant.add_user("admin")
    assert (await client.get(PREFIX, headers=admin.headers)).status_code == 200
    for role in ("member", "viewer"):
        user = await tenant.add_user(role)
        calls: list[tuple[str, str, dict[str, Any]]] = [
            ("GET", PREFIX, {}), ("POST", PREFIX, {"json": {"cidr": "10.0.0.0/8"}}),
            ("GET", f"{PREFIX}/{e}", {}), ("PATCH", f"{PREFIX}/{e}", {"json": {}}),
            ("DELETE", f"{PREFIX}/{e}", {}),
            ("POST", f"{PREFIX}/check", {"json": {"ip": "10.0.0.1"}}),
            ("POST", f"{PREFIX}/emergency-reset", {}),
        ]
        for method, url, kw in calls:
            r = await client.request(method, url, headers=user.headers, **kw)
            assert r.status_code == 403, (role, method, url, r.text)
            assert r.json()["code"] == "insufficient_role"
    r = await client.post(f"{PREFIX}/emergency-reset", headers=admin.headers)
    assert r.status_code == 403 and r.json()["code"] == "insufficient_role"  # owner only
    assert await tenant.sql("SELECT cidr::text FROM ip_allowlist") == [("127.0.0.0/8",)]
    assert_problem(await client.get(PREFIX), 401, "missing_credentials")


async def test_paging(client_from: ClientFactory, tenant: Tenant) -> None:
    c = client_from("127.0.0.1")
    ids = [str(await add_entry(tenant, f"127.{i}.0.0/16")) for i in range(5)]
    seen, cursor = [], None
    while True:
        url = f"{PREFIX}?limit=2" + (f"&cursor={cursor}" if cursor else "")
        page = (await c.get(url, headers=tenant.headers)).json()
        assert page["pagination"]["total"] == 5
        seen += [x["id"] for x in page["data"]]
        if not page["pagination"]["has_more"]:
            break
        cursor = page["pagination"]["cursor"]
    assert seen == ids
    assert_problem(await c.get(f"{PREFIX}?limit=201", headers=tenant.headers),
                   422, "validation_error")


async def test_the_list_has_a_size_limit(client: httpx.AsyncClient, tenant: Tenant,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    from app.ipallow import service

    monkeypatch.setattr(service, "MAX_ENTRIES", 2)
    await add_entry(tenant, "127.0.0.0/8")
    assert (await client.post(PREFIX, headers=tenant.headers, json={"cidr": "10.0.0.0/8"})
            ).status_code == 201
    full = await client.post(PREFIX, headers=tenant.headers, json={"cidr": "10.1.0.0/16"})
    assert full.status_code == 409 and full.json()["code"] == "allowlist_full"
