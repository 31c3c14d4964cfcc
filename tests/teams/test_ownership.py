"""Ownership transfer: only the owner, to an active member, roles swapped in one transaction,
two audit events; afterwards the old owner can no longer transfer."""

from __future__ import annotations

import uuid

import httpx

from tests.conftest import Tenant, assert_problem, audit_events

URL = "/api/v1/settings/transfer-ownership"


async def _roles(t: Tenant) -> dict[uuid.UUID, str]:
    return {r["id"]: r["role"] for r in await t.sql("SELECT id, role FROM users")}


async def test_transfer_swaps_roles_and_is_audited_twice(client: httpx.AsyncClient,
                                                         tenant: Tenant) -> None:
    old = tenant.owner
    new = await tenant.add_user("member")
    r = await client.post(URL, headers=old.headers, json={"new_owner_id": str(new.id)})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["id"] == str(tenant.id) and body["owner_id"] == str(new.id)
    assert body["slug"] == tenant.slug
    roles = await _roles(tenant)
    assert (roles[old.id], roles[new.id]) == ("admin", "owner")
    assert list(roles.values()).count("owner") == 1
    owner_id = (await tenant.sql("SELECT owner_id FROM tenants"))[0][0]
    assert owner_id == new.id

    events = await audit_events(tenant, action="tenant.ownership_transfer")
    assert len(events) == 2
    assert [(e["resource_type"], e["resource_id"], e["metadata"]["role"]) for e in events] == [
        ("user", str(old.id), {"from": "owner", "to": "admin"}),
        ("user", str(new.id), {"from": "member", "to": "owner"})]
    assert {e["request_id"] for e in events} == {r.headers["x-request-id"]}
    assert all(e["actor_id"] == old.id for e in events)
    assert all(e["metadata"]["new_owner_id"] == str(new.id) for e in events)

    # the old owner (same API key) is an admin now: cannot transfer, can still administer
    again = await client.post(URL, headers=old.headers, json={"new_owner_id": str(old.id)})
    assert again.status_code == 403 and again.json()["code"] == "insufficient_role"
    me = (await client.get("/api/v1/me", headers=old.headers)).json()
    assert me["user"]["role"] == "admin"
    assert (await client.post("/api/v1/teams", headers=old.headers, json={"name": "ok"})
            ).status_code == 201
    # ... and the new owner is protected like the old one was
    r = await client.delete(f"/api/v1/members/{new.id}", headers=old.headers)
    assert r.status_code == 409 and r.json()["code"] == "owner_protected"
    # the new owner can hand it back
    back = await client.post(URL, headers=new.headers, json={"new_owner_id": str(old.id)})
    assert back.status_code == 200
    roles = await _roles(tenant)
    assert (roles[old.id], roles[new.id]) == ("owner", "admin")
    assert len(await audit_events(tenant, action="tenant.ownership_transfer")) == 4


async def test_transfer_rules(client: httpx.AsyncClient, tenant: Tenant,
                              other_tenant: Tenant) -> None:
    h = tenant.headers
    admin = await tenant.add_user("admin")
    gone = await tenant.add_user("member")
    await client.delete(f"/api/v1/members/{gone.id}", headers=h)
    stranger = await other_tenant.add_user("member")
    cases = [
        (h, tenant.owner.id, 409, "already_owner"),
        (h, gone.id, 409, "user_inactive"),
        (h, uuid.uuid4(), 404, "user_not_found"),
        (h, stranger.id, 404, "user_not_found"),  # another tenant's user does not exist here
        (admin.headers, admin.id, 403, "insufficient_role"),  # only the owner transfers
    ]
    for headers, target, status, code in cases:
        r = await client.post(URL, headers=headers, json={"new_owner_id": str(target)})
        assert (r.status_code, r.json()["code"]) == (status, code), r.text
    assert_problem(await client.post(URL, headers=h, json={"new_owner_id": "nope"}),
                   422, "validation_error")
    roles = await _roles(tenant)
    assert roles[tenant.owner.id] == "owner" and list(roles.values()).count("owner") == 1
    assert await audit_events(tenant, action="tenant.ownership_transfer") == []
    assert (await other_tenant.sql("SELECT role FROM users WHERE id = $1",
                                   stranger.id))[0][0] == "member"
