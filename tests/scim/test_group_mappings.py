"""Group-to-role mappings: a user's role is the highest mapped role of their SCIM groups."""

from __future__ import annotations

import uuid
from typing import Any

import httpx

from tests.conftest import Tenant, User, assert_problem, audit_events
from tests.scim.conftest import Scim

URL = "/api/v1/settings/scim/group-mappings"


async def _put(client: httpx.AsyncClient, t: Tenant, mappings: list[dict[str, str]]
               ) -> httpx.Response:
    return await client.put(URL, headers=t.headers, json={"mappings": mappings})


async def _role(t: Tenant, user_id: Any) -> str:
    return str((await t.sql("SELECT role FROM users WHERE id = $1",
                            uuid.UUID(str(user_id))))[0]["role"])


async def _join(scim: Scim, group: dict[str, Any], *user_ids: Any) -> None:
    r = await scim.patch(f"/Groups/{group['id']}", Scim.ops(
        {"op": "add", "path": "members", "value": [{"value": str(u)} for u in user_ids]}))
    assert r.status_code == 204, r.text


async def _leave(scim: Scim, group: dict[str, Any], user_id: Any) -> None:
    r = await scim.patch(f"/Groups/{group['id']}", Scim.ops(
        {"op": "remove", "path": f'members[value eq "{user_id}"]'}))
    assert r.status_code == 204, r.text


async def test_get_and_put_mappings(client: httpx.AsyncClient, tenant: Tenant) -> None:
    empty = await client.get(URL, headers=tenant.headers)
    assert empty.status_code == 200 and empty.json() == {
        "data": [], "pagination": {"cursor": None, "has_more": False, "total": 0}}
    r = await _put(client, tenant, [{"group": "Viewers", "role": "viewer"},
                                    {"group": "Drift Admins", "role": "admin"}])
    assert r.status_code == 200, r.text
    assert [(m["group"], m["role"]) for m in r.json()["data"]] == [
        ("Drift Admins", "admin"), ("Viewers", "viewer")]
    assert (await client.get(URL, headers=tenant.headers)).json()["data"] == r.json()["data"]
    dup = await _put(client, tenant, [{"group": "A", "role": "admin"},
                                      {"group": "a", "role": "member"}])
    assert dup.status_code == 400 and dup.json()["code"] == "duplicate_group_mapping"
    for bad in ([{"group": "A", "role": "superuser"}], [{"group": "", "role": "admin"}]):
        assert_problem(await _put(client, tenant, bad), 422, "validation_error", context=bad)
    assert_problem(await client.put(URL, headers=tenant.headers, json={}),
                   422, "validation_error")
    member = await tenant.add_user("member")
    assert (await client.get(URL, headers=member.headers)).status_code == 403
    assert (await client.put(URL, headers=member.headers, json={"mappings": []})
            ).status_code == 403
    assert len((await client.get(URL, headers=tenant.headers)).json()["data"]) == 2
    events = await audit_events(tenant, action="scim.group_mappings_updated")
    assert len(events) == 1 and events[0]["metadata"]["previous"] == []


async def test_roles_follow_the_highest_mapped_group(
        client: httpx.AsyncClient, tenant: Tenant, scim: Scim) -> None:
    person: User = await tenant.add_user("member", email="pat@example.com")
    assert_problem(await client.get("/api/v1/settings/scim", headers=person.headers),
                   403, "insufficient_role")
    await _put(client, tenant, [{"group": "drift-admins", "role": "admin"},
                                {"group": "Contractors", "role": "viewer"},
                                {"group": "Founders", "role": "owner"}])
    admins = await scim.create_group("Drift-Admins")
    contractors = await scim.create_group("contractors")
    founders = await scim.create_group("Founders")
    unmapped = await scim.create_group("Book Club")

    await _join(scim, contractors, person.id)
    assert await _role(tenant, person.id) == "viewer"
    await _join(scim, admins, person.id)
    assert await _role(tenant, person.id) == "admin"
    # the promotion applies to the very next request
    assert (await client.get("/api/v1/settings/scim", headers=person.headers)).status_code == 200
    await _join(scim, unmapped, person.id)
    assert await _role(tenant, person.id) == "admin"
    await _leave(scim, admins, person.id)
    assert await _role(tenant, person.id) == "viewer"
    await _leave(scim, contractors, person.id)
    assert await _role(tenant, person.id) == "member"  # no mapped group: the default
    # an owner mapping gives admin: there is one owner, and SCIM never makes or unmakes it
    await _join(scim, founders, person.id, tenant.owner.id)
    assert await _role(tenant, person.id) == "admin"
    await _join(scim, contractors, tenant.owner.id)
    await _leave(scim, founders, tenant.owner.id)
    assert await _role(tenant, tenant.owner.id) == "owner"

    changes = await audit_events(tenant, action="user.role_changed")
    assert [(c["metadata"]["from"], c["metadata"]["to"]) for c in changes] == [
        ("member", "viewer"), ("viewer", "admin"), ("admin", "viewer"), ("viewer", "member"),
        ("member", "admin")]
    assert all(c["actor_type"] == "scim" for c in changes)


async def test_renames_deletes_and_new_mappings_apply_at_once(
        client: httpx.AsyncClient, tenant: Tenant, scim: Scim) -> None:
    a = await scim.create_user("a@example.com")
    b = await scim.create_user("b@example.com")
    await _put(client, tenant, [{"group": "Leads", "role": "admin"}])
    leads = await scim.create_group("Leads", [a["id"]])
    staff = await scim.create_group("Staff", [b["id"]])
    assert await _role(tenant, a["id"]) == "admin" and await _role(tenant, b["id"]) == "member"
    # renaming the group away from its mapping takes the role away
    r = await scim.patch(f"/Groups/{leads['id']}", Scim.ops(
        {"op": "replace", "path": "displayName", "value": "Former Leads"}))
    assert r.status_code == 200
    assert await _role(tenant, a["id"]) == "member"
    # saving mappings applies them to every SCIM group member
    await _put(client, tenant, [{"group": "staff", "role": "viewer"},
                                {"group": "former leads", "role": "admin"}])
    assert await _role(tenant, a["id"]) == "admin" and await _role(tenant, b["id"]) == "viewer"
    assert (await scim.delete(f"/Groups/{staff['id']}")).status_code == 204
    assert await _role(tenant, b["id"]) == "member"


async def test_without_mappings_scim_leaves_roles_alone(tenant: Tenant, scim: Scim) -> None:
    admin = await tenant.add_user("admin")
    await scim.create_group("Everyone", [str(admin.id)])
    assert await _role(tenant, admin.id) == "admin"
    created = await scim.create_user("fresh@example.com")
    assert await _role(tenant, created["id"]) == "member"


async def test_concurrent_group_changes_for_the_same_people(
        client: httpx.AsyncClient, tenant: Tenant, scim: Scim) -> None:
    import asyncio

    people = [(await scim.create_user(f"c{i}@example.com"))["id"] for i in range(6)]
    await _put(client, tenant, [{"group": "Ops", "role": "admin"},
                                {"group": "Guests", "role": "viewer"}])
    ops = await scim.create_group("Ops")
    guests = await scim.create_group("Guests")
    patches = [scim.patch(f"/Groups/{g['id']}", Scim.ops(
        {"op": "add", "path": "members", "value": [{"value": p} for p in order]}))
        for _ in range(3) for g, order in ((ops, people), (guests, people[::-1]))]
    results = await asyncio.gather(*patches)
    assert [r.status_code for r in results] == [204] * 6
    assert {await _role(tenant, p) for p in people} == {"admin"}


async def test_dry_run_reports_role_changes_and_changes_nothing(
        client: httpx.AsyncClient, tenant: Tenant, scim: Scim) -> None:
    """Issue 18: PUT ?dry_run=true answers with who would change (user, from, to); no mapping
    is saved, no role changes, nothing is audited."""
    a = await scim.create_user("a@example.com")
    b = await scim.create_user("b@example.com")
    await _put(client, tenant, [{"group": "Leads", "role": "admin"}])
    await scim.create_group("Leads", [a["id"]])
    await scim.create_group("Contractors", [b["id"]])
    await scim.create_group("Founders", [tenant.owner.id])
    saved = (await client.get(URL, headers=tenant.headers)).json()["data"]
    events = len(await audit_events(tenant))
    proposed = [{"group": "contractors", "role": "viewer"},
                {"group": "Founders", "role": "owner"}]
    r = await client.put(f"{URL}?dry_run=true", headers=tenant.headers,
                         json={"mappings": proposed})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["dry_run"] is True and body["mappings"] == proposed
    # a loses Leads' admin (no longer mapped), b becomes viewer; the owner is never touched
    assert body["role_changes"] == [
        {"user_id": a["id"], "user_name": "a@example.com", "from": "admin", "to": "member"},
        {"user_id": b["id"], "user_name": "b@example.com", "from": "member", "to": "viewer"}]
    assert await _role(tenant, a["id"]) == "admin" and await _role(tenant, b["id"]) == "member"
    assert (await client.get(URL, headers=tenant.headers)).json()["data"] == saved
    assert len(await audit_events(tenant)) == events
    # the dry run predicts exactly what saving does
    r = await _put(client, tenant, proposed)
    assert r.status_code == 200
    changes = await audit_events(tenant, action="user.role_changed")
    assert {(c["resource_id"], c["metadata"]["from"], c["metadata"]["to"])
            for c in changes[-2:]} == {(a["id"], "admin", "member"),
                                        (b["id"], "member", "viewer")}
    # an empty mapping set changes nobody's role; bad input is refused as for a real save
    r = await client.put(f"{URL}?dry_run=true", headers=tenant.headers, json={"mappings": []})
    assert r.json()["role_changes"] == []
    dup = await client.put(f"{URL}?dry_run=true", headers=tenant.headers, json={
        "mappings": [{"group": "A", "role": "admin"}, {"group": "a", "role": "member"}]})
    assert dup.status_code == 400 and dup.json()["code"] == "duplicate_group_mapping"
