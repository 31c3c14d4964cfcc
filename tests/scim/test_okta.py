"""The requests Okta sends, in the order it sends them (Okta's SCIM 2.0 provisioning: the
connection test, user assignment, profile push, deactivation, reactivation, group push)."""

from __future__ import annotations

from typing import Any
from uuid import UUID, uuid4

from tests.conftest import Tenant, User, audit_events
from tests.scim.conftest import GROUP_URN, LIST_URN, PATCH_URN, USER_URN, Scim

OKTA_UA = {"User-Agent": "Okta SCIM Client 1.0.0"}


async def _get(scim: Scim, path: str, **params: Any) -> dict[str, Any]:
    r = await scim.get(path, params=params, headers=OKTA_UA)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


async def test_okta_user_lifecycle(scim: Scim, tenant: Tenant) -> None:
    # "Test connector configuration"
    probe = await _get(scim, "/Users", startIndex="1", count="2")
    assert probe["schemas"] == [LIST_URN] and probe["itemsPerPage"] <= 2
    await _get(scim, "/Groups", startIndex="1", count="100")

    # assignment: does the user exist? no -> create
    empty = await _get(scim, "/Users", filter='userName eq "test.user@okta.local"',
                       startIndex="1", count="100")
    assert empty["totalResults"] == 0 and empty["Resources"] == []
    created = await scim.post("/Users", {
        "schemas": [USER_URN], "userName": "test.user@okta.local",
        "name": {"givenName": "Test", "familyName": "User"},
        "emails": [{"primary": True, "value": "test.user@okta.local", "type": "work"}],
        "displayName": "Test User", "locale": "en-US", "externalId": "00ujl29u0le5T6Aj10h7",
        "groups": [], "password": "1mz050nq", "active": True}, headers=OKTA_UA)
    assert created.status_code == 201, created.text
    user = created.json()
    uid = user["id"]
    assert user["locale"] == "en-US" and "password" not in user and "groups" not in user

    found = await _get(scim, "/Users", filter='userName eq "test.user@okta.local"',
                       startIndex="1", count="100")
    assert [u["id"] for u in found["Resources"]] == [uid]
    assert (await _get(scim, f"/Users/{uid}"))["userName"] == "test.user@okta.local"

    # profile push: Okta PUTs the whole user, id and meta included
    put = await scim.put(f"/Users/{uid}", {
        "schemas": [USER_URN], "id": uid, "userName": "test.user@okta.local",
        "name": {"givenName": "Another", "middleName": "Q", "familyName": "User"},
        "emails": [{"primary": True, "value": "test.user@okta.local", "type": "work"}],
        "displayName": "Another User", "locale": "en-US", "externalId": "00ujl29u0le5T6Aj10h7",
        "groups": [], "password": "1mz050nq", "active": True,
        "meta": {"resourceType": "User"}}, headers=OKTA_UA)
    assert put.status_code == 200, put.text
    assert put.json()["name"] == {"givenName": "Another", "middleName": "Q",
                                  "familyName": "User"}

    # unassignment: deactivate
    off = await scim.patch(f"/Users/{uid}", {"schemas": [PATCH_URN], "Operations": [
        {"op": "replace", "value": {"active": False}}]}, headers=OKTA_UA)
    assert off.status_code == 200 and off.json()["active"] is False
    # re-assignment: the same user comes back
    again = await _get(scim, "/Users", filter='userName eq "test.user@okta.local"',
                       startIndex="1", count="100")
    assert again["Resources"][0]["active"] is False
    on = await scim.patch(f"/Users/{uid}", {"schemas": [PATCH_URN], "Operations": [
        {"op": "replace", "value": {"active": True}}]}, headers=OKTA_UA)
    assert on.status_code == 200 and on.json()["active"] is True and on.json()["id"] == uid
    # a password push is accepted and forgotten
    pw = await scim.patch(f"/Users/{uid}", {"schemas": [PATCH_URN], "Operations": [
        {"op": "replace", "value": {"password": "newPassword1"}}]}, headers=OKTA_UA)
    assert pw.status_code == 200 and "password" not in pw.json()

    actions = [e["action"] for e in await audit_events(tenant, resource_id=uid)]
    assert actions == ["user.provisioned", "user.updated", "user.deprovisioned",
                       "user.reactivated"]


async def test_okta_group_push(scim: Scim, tenant: Tenant) -> None:
    a = await scim.create_user("a@okta.local")
    b = await scim.create_user("b@okta.local")
    none = await _get(scim, "/Groups", filter='displayName eq "Test SCIMv2"', startIndex="1",
                      count="100")
    assert none["totalResults"] == 0
    created = await scim.post("/Groups", {"schemas": [GROUP_URN], "displayName": "Test SCIMv2",
                                          "members": []}, headers=OKTA_UA)
    assert created.status_code == 201
    gid = created.json()["id"]
    assert (await _get(scim, f"/Groups/{gid}"))["displayName"] == "Test SCIMv2"

    rename = await scim.patch(f"/Groups/{gid}", {"schemas": [PATCH_URN], "Operations": [
        {"op": "replace", "value": {"id": gid, "displayName": "Test SCIMv2 renamed"}}]},
        headers=OKTA_UA)
    assert rename.status_code == 200
    assert rename.json()["displayName"] == "Test SCIMv2 renamed"
    add = await scim.patch(f"/Groups/{gid}", {"schemas": [PATCH_URN], "Operations": [
        {"op": "add", "path": "members", "value": [
            {"value": a["id"], "display": "a@okta.local"},
            {"value": b["id"], "display": "b@okta.local"}]}]}, headers=OKTA_UA)
    assert add.status_code == 204
    remove = await scim.patch(f"/Groups/{gid}", {"schemas": [PATCH_URN], "Operations": [
        {"op": "remove", "path": f'members[value eq "{a["id"]}"]'}]}, headers=OKTA_UA)
    assert remove.status_code == 204
    replace = await scim.patch(f"/Groups/{gid}", {"schemas": [PATCH_URN], "Operations": [
        {"op": "replace", "path": "members", "value": [
            {"value": a["id"], "display": "a@okta.local"}]}]}, headers=OKTA_UA)
    assert replace.status_code == 204
    group = await _get(scim, f"/Groups/{gid}")
    assert [m["value"] for m in group["members"]] == [a["id"]]
    team = await tenant.sql("SELECT name, scim_managed FROM teams")
    assert [(t["name"], t["scim_managed"]) for t in team] == [("Test SCIMv2 renamed", True)]
    assert (await scim.delete(f"/Groups/{gid}", headers=OKTA_UA)).status_code == 204
    assert not await tenant.sql("SELECT 1 FROM teams")


async def _okta_spec_first_user(scim: Scim) -> dict[str, Any]:
    """Okta's SCIM 2.0 SPEC test: read the first user and require the attributes Okta maps."""
    page = await _get(scim, "/Users", count="1", startIndex="1")
    assert page["totalResults"] >= 1 and len(page["Resources"]) == 1
    first: dict[str, Any] = page["Resources"][0]
    assert first["name"]["givenName"] and first["name"]["familyName"]
    assert first["userName"] and isinstance(first["active"], bool)
    assert first["emails"][0]["value"]
    return first


async def test_okta_spec_test_passes_when_the_first_user_is_an_unnamed_owner(
        scim: Scim, tenant: Tenant) -> None:
    # the tenant fixture creates its owner (owner@<slug>.example) without a name
    first = await _okta_spec_first_user(scim)
    assert first["id"] == str(tenant.owner.id)
    assert first["name"] == {"formatted": "owner", "givenName": "owner", "familyName": "owner"}
    # the same rule in SQL: a filter on the derived name finds the owner
    found = await _get(scim, "/Users", filter='name.givenName eq "owner"')
    assert [u["id"] for u in found["Resources"]] == [str(tenant.owner.id)]
    # and the single-resource view agrees with the list
    assert (await _get(scim, f"/Users/{tenant.owner.id}"))["name"] == first["name"]


async def test_derived_names_split_the_local_part_or_the_display_name(
        scim: Scim, tenant: Tenant) -> None:
    dotted = await tenant.add_user(email=f"ada.king-lovelace@{tenant.slug}.example")
    named = await tenant.add_user(email=f"x1@{tenant.slug}.example", name="Grace  B. Hopper")
    got = await _get(scim, f"/Users/{dotted.id}")
    assert got["name"] == {"formatted": "ada king lovelace", "givenName": "ada",
                           "familyName": "king lovelace"}
    got = await _get(scim, f"/Users/{named.id}")
    assert got["name"] == {"formatted": "Grace B. Hopper", "givenName": "Grace",
                           "familyName": "B. Hopper"}
    found = await _get(scim, "/Users", filter='name.familyName eq "B. Hopper"')
    assert [u["id"] for u in found["Resources"]] == [str(named.id)]


async def test_okta_spec_test_with_a_named_owner(make_scim: Any, runtime: Any) -> None:
    from app.tenants.service import create_tenant

    out = await create_tenant(runtime.db, name="Named Co", owner_email="ceo@named.example",
                              owner_name="Ada Lovelace", slug=f"named-{uuid4().hex[:8]}")
    t = Tenant(id=UUID(out["tenant_id"]), slug="named", rt=runtime,
               owner=User(id=UUID(out["owner_user_id"]), email="ceo@named.example",
                          role="owner", api_key=out["api_key"]))
    first = await _okta_spec_first_user(await make_scim(t))
    assert first["name"] == {"formatted": "Ada Lovelace", "givenName": "Ada",
                             "familyName": "Lovelace"}
