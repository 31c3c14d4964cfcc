"""The requests Microsoft Entra ID's provisioning service sends, with its quirks: extra schema
URNs, "Replace"/"Add" op names, booleans as strings, filtered paths that create values,
member removal by value list, `$ref: null`, excludedAttributes=members."""

from __future__ import annotations

from typing import Any

from tests.conftest import Tenant, audit_events
from tests.scim.conftest import (
    ENTERPRISE_URN,
    GROUP_URN,
    PATCH_URN,
    USER_URN,
    Scim,
    assert_scim_error,
)

ADSCIM = "http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/Group"


async def _ok(r: Any, status: int = 200) -> dict[str, Any]:
    assert r.status_code == status, r.text
    return r.json() if r.content else {}


async def test_entra_user_lifecycle(scim: Scim, tenant: Tenant) -> None:
    user_name = "Test_User_ab6490ee-1e48-479e-a20b-2d77186b5dd1"
    query = await _ok(await scim.get("/Users", params={"filter": f'userName eq "{user_name}"'}))
    assert query == {"schemas": ["urn:ietf:params:scim:api:messages:2.0:ListResponse"],
                     "totalResults": 0, "startIndex": 1, "itemsPerPage": 0, "Resources": []}
    user = await _ok(await scim.post("/Users?aadOptscim062020", {
        "schemas": [USER_URN, ENTERPRISE_URN], "externalId": "0a21f0f2-8d2a-4f8e-bf98-7363c4",
        "userName": user_name, "active": True,
        "emails": [{"primary": True, "type": "work",
                    "value": "Test_User_fd0ea19b@testuser.com"}],
        "meta": {"resourceType": "User"},
        "name": {"formatted": "givenName familyName", "familyName": "familyName",
                 "givenName": "givenName"},
        "roles": [],
        ENTERPRISE_URN: {"employeeNumber": "100009", "department": "Human Resources US"}}),
        201)
    uid = user["id"]
    assert user["meta"]["resourceType"] == "User" and "roles" not in user
    # Entra also matches on the work email, in its own filter dialect
    by_email = await _ok(await scim.get("/Users", params={
        "filter": 'emails[type eq "work"].value eq "test_user_fd0ea19b@testuser.com"'}))
    assert [u["id"] for u in by_email["Resources"]] == [uid]
    by_external = await _ok(await scim.get("/Users", params={
        "filter": 'externalId eq "0a21f0f2-8d2a-4f8e-bf98-7363c4"'}))
    assert by_external["totalResults"] == 1

    # multi-valued and sub-attribute updates
    updated = await _ok(await scim.patch(f"/Users/{uid}", {"schemas": [PATCH_URN],
                                                           "Operations": [
        {"op": "Replace", "path": 'emails[type eq "work"].value',
         "value": "updatedEmail@microsoft.com"},
        {"op": "Replace", "path": "name.familyName", "value": "updatedFamilyName"},
        {"op": "Add", "path": 'phoneNumbers[type eq "mobile"].value', "value": "+1 425 555 0100"},
        {"op": "Add", "path": f"{ENTERPRISE_URN}:manager", "value": "mgr-id-123"},
        {"op": "Add", "path": "title", "value": "Tester"}]}))
    assert updated["emails"] == [{"primary": True, "type": "work",
                                  "value": "updatedEmail@microsoft.com"}]
    assert updated["name"]["familyName"] == "updatedFamilyName"
    assert updated["phoneNumbers"] == [{"type": "mobile", "value": "+1 425 555 0100"}]
    assert updated[ENTERPRISE_URN]["manager"] == {"value": "mgr-id-123"}
    row = (await tenant.sql("SELECT email FROM users WHERE user_name = $1", user_name))[0]
    assert row["email"] == "updatedEmail@microsoft.com"
    renamed = await _ok(await scim.patch(f"/Users/{uid}", {"schemas": [PATCH_URN],
                                                           "Operations": [
        {"op": "Replace", "path": "userName", "value": "5b50642d@testuser.com"}]}))
    assert renamed["userName"] == "5b50642d@testuser.com"
    removed = await _ok(await scim.patch(f"/Users/{uid}", {"schemas": [PATCH_URN],
                                                           "Operations": [
        {"op": "Remove", "path": f"{ENTERPRISE_URN}:manager",
         "value": [{"value": "mgr-id-123"}]}]}))
    assert "manager" not in removed[ENTERPRISE_URN]

    # soft delete (unassigned / soft-deleted in Entra): active "False" as a string
    disabled = await _ok(await scim.patch(f"/Users/{uid}", {"schemas": [PATCH_URN],
                                                            "Operations": [
        {"op": "Replace", "path": "active", "value": "False"}]}))
    assert disabled["active"] is False
    enabled = await _ok(await scim.patch(f"/Users/{uid}", {"schemas": [PATCH_URN],
                                                           "Operations": [
        {"op": "Replace", "path": "active", "value": "True"}]}))
    assert enabled["active"] is True
    # hard delete, 30 days later
    await _ok(await scim.delete(f"/Users/{uid}"), 204)
    assert_scim_error(await scim.get(f"/Users/{uid}"), 404)
    actions = [e["action"] for e in await audit_events(tenant, resource_id=uid)]
    assert actions[0] == "user.provisioned" and actions[-2:] == ["user.deprovisioned",
                                                                 "user.deleted"]
    assert "user.reactivated" in actions


async def test_entra_group_lifecycle(scim: Scim, tenant: Tenant) -> None:
    members = [(await scim.create_user(f"entra{i}@contoso.example"))["id"] for i in range(3)]
    group = await _ok(await scim.post("/Groups", {
        "schemas": [GROUP_URN, ADSCIM], "externalId": "8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159",
        "displayName": "displayName", "meta": {"resourceType": "Group"}}), 201)
    gid = group["id"]
    got = await _ok(await scim.get(f"/Groups/{gid}", params={"excludedAttributes": "members"}))
    assert got["displayName"] == "displayName" and "members" not in got
    found = await _ok(await scim.get("/Groups", params={
        "excludedAttributes": "members", "filter": 'displayName eq "displayName"'}))
    assert [g["id"] for g in found["Resources"]] == [gid]

    await _ok(await scim.patch(f"/Groups/{gid}", {"schemas": [PATCH_URN], "Operations": [
        {"op": "Replace", "path": "displayName", "value": "updatedDisplayName"}]}))
    await _ok(await scim.patch(f"/Groups/{gid}", {"schemas": [PATCH_URN], "Operations": [
        {"op": "Add", "path": "members", "value": [{"$ref": None, "value": m}
                                                   for m in members]}]}), 204)
    await _ok(await scim.patch(f"/Groups/{gid}", {"schemas": [PATCH_URN], "Operations": [
        {"op": "Remove", "path": "members", "value": [{"$ref": None, "value": members[0]}]}]}),
        204)
    full = await _ok(await scim.get(f"/Groups/{gid}"))
    assert sorted(m["value"] for m in full["members"]) == sorted(members[1:])
    memberships = await tenant.sql("SELECT count(*) AS n FROM team_memberships")
    assert memberships[0]["n"] == 2
    await _ok(await scim.delete(f"/Groups/{gid}"), 204)
    assert_scim_error(await scim.get(f"/Groups/{gid}"), 404)
