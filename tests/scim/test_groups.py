"""SCIM Groups are SCIM-managed teams; membership is team membership."""

from __future__ import annotations

import uuid
from typing import Any

from tests.conftest import Tenant, audit_events
from tests.scim.conftest import GROUP_URN, Scim, assert_scim_error


async def _members(t: Tenant, group_id: str) -> set[str]:
    rows = await t.sql("SELECT user_id FROM team_memberships WHERE team_id = $1",
                       uuid.UUID(group_id))
    return {str(r["user_id"]) for r in rows}


async def test_a_group_is_a_team_and_its_members_are_memberships(scim: Scim,
                                                                 tenant: Tenant) -> None:
    a = await scim.create_user("a@example.com")
    b = await scim.create_user("b@example.com")
    r = await scim.post("/Groups", {"schemas": [GROUP_URN], "displayName": "Platform",
                                    "externalId": "okta-00g1", "members": [
                                        {"value": a["id"], "display": "a@example.com"}]})
    assert r.status_code == 201, r.text
    g = r.json()
    assert r.headers["location"] == g["meta"]["location"].replace("Users", "Groups")
    assert g["members"] == [{"value": a["id"], "$ref": f"https://drift.test/scim/v2/Users/"
                             f"{a['id']}", "type": "User"}]
    team = (await tenant.sql("SELECT name, scim_managed, external_id FROM teams WHERE id = $1",
                             uuid.UUID(g["id"])))[0]
    assert (team["name"], team["scim_managed"], team["external_id"]) == (
        "Platform", True, "okta-00g1")
    assert await _members(tenant, g["id"]) == {a["id"]}
    assert (await tenant.sql("SELECT role FROM team_memberships"))[0]["role"] == "member"
    user_view = (await scim.get(f"/Users/{a['id']}")).json()
    assert user_view["groups"] == [{"value": g["id"], "display": "Platform", "type": "direct",
                                    "$ref": f"https://drift.test/scim/v2/Groups/{g['id']}"}]

    add = await scim.patch(f"/Groups/{g['id']}", Scim.ops(
        {"op": "add", "path": "members", "value": [{"value": b["id"]}, {"value": a["id"]}]}))
    assert add.status_code == 204  # only members changed
    assert await _members(tenant, g["id"]) == {a["id"], b["id"]}
    remove = await scim.patch(f"/Groups/{g['id']}", Scim.ops(
        {"op": "remove", "path": f'members[value eq "{a["id"]}"]'}))
    assert remove.status_code == 204
    assert await _members(tenant, g["id"]) == {b["id"]}
    events = await audit_events(tenant, resource_type="group")
    assert [e["action"] for e in events] == ["group.created", "group.updated", "group.updated"]
    assert events[1]["metadata"]["members_added"] == [b["id"]]
    assert events[2]["metadata"]["members_removed"] == [a["id"]]
    assert all(e["actor_type"] == "scim" for e in events)


async def test_membership_quirks(scim: Scim, tenant: Tenant) -> None:
    ids = [(await scim.create_user(f"m{i}@example.com"))["id"] for i in range(4)]
    g = await scim.create_group("Quirks", ids[:3])
    # Entra: remove with a value list removes only those; $ref null is fine
    r = await scim.patch(f"/Groups/{g['id']}", Scim.ops(
        {"op": "Remove", "path": "members", "value": [{"$ref": None, "value": ids[0]}]}))
    assert r.status_code == 204
    assert await _members(tenant, g["id"]) == {ids[1], ids[2]}
    # re-adding an existing member and removing an absent one both succeed
    r = await scim.patch(f"/Groups/{g['id']}", Scim.ops(
        {"op": "Add", "path": "members", "value": [{"$ref": None, "value": ids[1]}]},
        {"op": "remove", "path": f'members[value eq "{ids[3]}"]'},
        {"op": "remove", "path": "members", "value": [{"value": str(uuid.uuid4())}]}))
    assert r.status_code == 204
    assert await _members(tenant, g["id"]) == {ids[1], ids[2]}
    # replace the whole list; then a path-less replace renames (Okta sends the id along)
    r = await scim.patch(f"/Groups/{g['id']}", Scim.ops(
        {"op": "replace", "path": "members", "value": [{"value": ids[3]}]},
        {"op": "replace", "value": {"id": g["id"], "displayName": "Quirks Renamed"}}))
    assert r.status_code == 200 and r.json()["displayName"] == "Quirks Renamed"
    assert [m["value"] for m in r.json()["members"]] == [ids[3]]
    # remove with no value empties the group
    r = await scim.patch(f"/Groups/{g['id']}", Scim.ops({"op": "remove", "path": "members"}))
    assert r.status_code == 204 and await _members(tenant, g["id"]) == set()
    # members are users of this tenant only
    bad = await scim.patch(f"/Groups/{g['id']}", Scim.ops(
        {"op": "add", "path": "members", "value": [{"value": str(uuid.uuid4())}]}))
    assert_scim_error(bad, 400, "invalidValue")
    nested = await scim.patch(f"/Groups/{g['id']}", Scim.ops(
        {"op": "add", "path": "members", "value": [{"value": g["id"], "type": "Group"}]}))
    assert_scim_error(nested, 400, "invalidValue")


async def test_put_replaces_name_and_members(scim: Scim, tenant: Tenant) -> None:
    a, b = (await scim.create_user("pa@x.example"))["id"], (await scim.create_user("pb@x"))["id"]
    g = await scim.create_group("Before", [a])
    r = await scim.put(f"/Groups/{g['id']}", {"schemas": [GROUP_URN], "displayName": "After",
                                              "members": [{"value": b}]})
    assert r.status_code == 200
    assert r.json()["displayName"] == "After" and [m["value"] for m in r.json()["members"]] == [b]
    r = await scim.put(f"/Groups/{g['id']}", {"schemas": [GROUP_URN], "displayName": "After"})
    assert "members" not in r.json() and await _members(tenant, g["id"]) == set()
    assert_scim_error(await scim.put(f"/Groups/{g['id']}", {"schemas": [GROUP_URN]}), 400,
                      "invalidValue")


async def test_display_name_is_unique_case_insensitively(scim: Scim, tenant: Tenant) -> None:
    g = await scim.create_group("Design")
    assert_scim_error(await scim.post("/Groups", {"displayName": "DESIGN"}), 409, "uniqueness")
    other = await scim.create_group("Research")
    assert_scim_error(await scim.patch(f"/Groups/{other['id']}", Scim.ops(
        {"op": "replace", "path": "displayName", "value": "design"})), 409, "uniqueness")
    # a team Drift made itself holds its name too, and is not a SCIM group
    await tenant.sql("INSERT INTO teams (tenant_id, name) VALUES ($1, 'Handmade')", tenant.id)
    assert_scim_error(await scim.post("/Groups", {"displayName": "handmade"}), 409,
                      "uniqueness")
    listed = (await scim.get("/Groups")).json()
    assert sorted(x["displayName"] for x in listed["Resources"]) == ["Design", "Research"]
    assert len(await tenant.sql("SELECT 1 FROM teams")) == 3 and g


async def test_delete_removes_the_team(scim: Scim, tenant: Tenant) -> None:
    a = (await scim.create_user("del@example.com"))["id"]
    g = await scim.create_group("Temporary", [a])
    assert (await scim.delete(f"/Groups/{g['id']}")).status_code == 204
    assert_scim_error(await scim.get(f"/Groups/{g['id']}"), 404)
    assert not await tenant.sql("SELECT 1 FROM teams WHERE id = $1", uuid.UUID(g["id"]))
    assert "groups" not in (await scim.get(f"/Users/{a}")).json()
    deleted = (await audit_events(tenant, action="group.deleted"))[0]
    assert deleted["metadata"]["members_count"] == 1


async def test_large_groups_stay_cheap_to_read(scim: Scim) -> None:
    ids = [(await scim.create_user(f"big{i}@example.com"))["id"] for i in range(5)]
    g = await scim.create_group("Big", ids)
    lean: dict[str, Any] = (await scim.get(f"/Groups/{g['id']}",
                                           params={"excludedAttributes": "members"})).json()
    assert "members" not in lean and lean["displayName"] == "Big"
    full = (await scim.get(f"/Groups/{g['id']}")).json()
    assert [m["value"] for m in full["members"]] == [m["value"] for m in g["members"]]
    assert sorted(m["value"] for m in full["members"]) == sorted(ids)
    assert full["meta"]["version"] == lean["meta"]["version"]
