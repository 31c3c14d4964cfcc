"""PATCH as identity providers really send it (RFC 7644 §3.5.2 and the IdP quirks)."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from app.scim.attributes import USER
from app.scim.errors import ScimError
from app.scim.patch import Patcher, parse_operations
from tests.conftest import Tenant, audit_events
from tests.scim.conftest import ENTERPRISE_URN, PATCH_URN, Scim, assert_scim_error


def patch(doc: dict[str, Any], *ops: dict[str, Any]) -> dict[str, Any]:
    return Patcher(USER, doc, "id-1").apply(parse_operations(
        {"schemas": [PATCH_URN], "Operations": list(ops)}))


BASE = {"userName": "bjensen", "active": True,
        "emails": [{"value": "b@work.example", "type": "work", "primary": True},
                   {"value": "b@home.example", "type": "home"}],
        "name": {"givenName": "Barbara", "familyName": "Jensen"}}


def test_paths_values_and_filters() -> None:
    out = patch(BASE, {"op": "Replace", "path": "name.familyName", "value": "Jensen-Smith"},
                {"op": "ADD", "path": "title", "value": "Tour Guide"},
                {"op": "replace", "path": 'emails[type eq "work"].value',
                 "value": "barbara@work.example"},
                {"op": "remove", "path": 'emails[type eq "home"]'})
    assert out["name"] == {"givenName": "Barbara", "familyName": "Jensen-Smith"}
    assert out["title"] == "Tour Guide"
    assert out["emails"] == [{"value": "barbara@work.example", "type": "work", "primary": True}]


def test_pathless_values_with_dotted_and_urn_keys() -> None:
    out = patch(BASE, {"op": "replace", "value": {
        "name.givenName": "Babs", "DISPLAYNAME": "Babs J",
        f"{ENTERPRISE_URN}:department": "Tours",
        ENTERPRISE_URN: {"manager": {"value": "boss-id"}},
        "urn:ietf:params:scim:schemas:core:2.0:User:nickName": "BJ",
        "active": "False", "unknownThing": 1, "meta": {"x": 1}}})
    assert out["name"]["givenName"] == "Babs" and out["displayName"] == "Babs J"
    assert out[ENTERPRISE_URN] == {"department": "Tours", "manager": {"value": "boss-id"}}
    assert out["nickName"] == "BJ" and out["active"] is False and "unknownThing" not in out


def test_filtered_add_or_replace_without_a_match_adds_a_value() -> None:
    out = patch(BASE, {"op": "replace", "path": 'phoneNumbers[type eq "mobile"].value',
                       "value": "+1 555 0101"},
                {"op": "add", "path": 'emails[type eq "other"].value', "value": "x@y.z"})
    assert out["phoneNumbers"] == [{"type": "mobile", "value": "+1 555 0101"}]
    assert out["emails"][-1] == {"type": "other", "value": "x@y.z"}
    # Entra's "Add" on an existing work email sets it (no duplicate)
    again = patch(out, {"op": "Add", "path": 'emails[type eq "work"].value',
                        "value": "new@work.example"})
    assert [e["value"] for e in again["emails"] if e["type"] == "work"] == ["new@work.example"]


def test_adding_what_is_there_and_removing_what_is_not_succeed() -> None:
    out = patch(BASE, {"op": "add", "path": "emails",
                       "value": [{"value": "b@home.example", "type": "home"}]},
                {"op": "remove", "path": 'emails[value eq "absent@example"]'},
                {"op": "remove", "path": "nickName"})
    assert out["emails"] == BASE["emails"]


def test_remove_with_values_removes_only_those() -> None:
    doc = {**BASE, "roles": [{"value": "a"}, {"value": "b"}, {"value": "c"}]}
    out = patch(doc, {"op": "Remove", "path": "roles", "value": [{"value": "b"}]})
    assert out["roles"] == [{"value": "a"}, {"value": "c"}]


def test_a_new_primary_value_demotes_the_old_one() -> None:
    out = patch(BASE, {"op": "add", "path": "emails",
                       "value": [{"value": "new@x", "type": "work", "primary": True}]})
    assert [e["value"] for e in out["emails"] if e.get("primary")] == ["new@x"]


def test_manager_as_a_bare_id_as_entra_sends_it() -> None:
    out = patch(BASE, {"op": "Add", "path": f"{ENTERPRISE_URN}:manager", "value": "mgr-42"})
    assert out[ENTERPRISE_URN]["manager"] == {"value": "mgr-42"}


@pytest.mark.parametrize(("op", "scim_type"), [
    ({"op": "remove"}, "noTarget"),
    ({"op": "replace", "path": "id", "value": "x"}, "mutability"),
    ({"op": "replace", "path": "groups", "value": []}, "mutability"),
    ({"op": "replace", "path": "meta.created", "value": "2020-01-01T00:00:00Z"}, "mutability"),
    ({"op": "replace", "value": {"id": "some-other-id"}}, "mutability"),
    ({"op": "replace", "path": "nope", "value": "x"}, "invalidPath"),
    ({"op": "replace", "path": "emails[type eq", "value": "x"}, "invalidPath"),
    ({"op": "replace", "path": "name[givenName eq \"x\"]", "value": "x"}, "invalidPath"),
    ({"op": "replace", "path": 'emails[type co "w"].value', "value": "x@y"}, None),
    ({"op": "replace", "path": 'emails[type sw "z"].value', "value": "x@y"}, "noTarget"),
    ({"op": "replace", "path": "active", "value": "sometimes"}, "invalidValue"),
    ({"op": "replace", "value": "not an object"}, "invalidValue"),
    ({"op": "move", "path": "title", "value": "x"}, "invalidSyntax"),
    ({"op": "add", "path": "title"}, "invalidSyntax"),
])
def test_refusals(op: dict[str, Any], scim_type: str | None) -> None:
    if scim_type is None:
        patch(BASE, op)
        return
    with pytest.raises(ScimError) as info:
        patch(BASE, op)
    assert info.value.status == 400 and info.value.scim_type == scim_type


def test_okta_group_rename_carrying_its_own_id_is_tolerated() -> None:
    out = Patcher(USER, BASE, "id-1").apply(parse_operations(
        {"Operations": [{"op": "replace", "value": {"id": "id-1", "displayName": "B"}}]}))
    assert out["displayName"] == "B"


async def test_patch_over_http(scim: Scim, tenant: Tenant) -> None:
    user = await scim.create_user("patchy@example.com", emails=[
        {"value": "patchy@example.com", "type": "work", "primary": True}])
    uid = user["id"]
    r = await scim.patch(f"/Users/{uid}", Scim.ops(
        {"op": "Replace", "path": 'emails[type eq "work"].value', "value": "p2@example.com"},
        {"op": "Add", "path": "name.givenName", "value": "Pat"},
        {"op": "replace", "path": "userName", "value": "pat@example.com"}))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["userName"] == "pat@example.com" and body["name"] == {"givenName": "Pat"}
    assert r.headers["etag"] == body["meta"]["version"] != user["meta"]["version"]
    row = (await tenant.sql("SELECT user_name, email, display_name FROM users WHERE id = $1",
                            uuid.UUID(uid)))[0]
    assert (row["user_name"], row["email"], row["display_name"]) == (
        "pat@example.com", "p2@example.com", "Pat")
    updated = (await audit_events(tenant, action="user.updated"))[0]
    assert updated["metadata"]["attributes"] == ["emails", "name", "userName"]
    # a PATCH that changes nothing records nothing
    same = await scim.patch(f"/Users/{uid}", Scim.ops(
        {"op": "replace", "path": "name.givenName", "value": "Pat"}))
    assert same.status_code == 200
    assert len(await audit_events(tenant, action="user.updated")) == 1
    # a refused PATCH changes nothing
    bad = await scim.patch(f"/Users/{uid}", Scim.ops(
        {"op": "replace", "path": "title", "value": "Changed"},
        {"op": "remove", "path": "userName"}))
    assert_scim_error(bad, 400, "invalidValue")
    assert "title" not in (await scim.get(f"/Users/{uid}")).json()
    assert_scim_error(await scim.patch(f"/Users/{uid}", {"Operations": []}), 400,
                      "invalidSyntax")
    assert_scim_error(await scim.patch(f"/Users/{uid}", Scim.ops(
        {"op": "replace", "path": "userName", "value": tenant.owner.email})), 409, "uniqueness")


async def test_removing_active_leaves_access_alone(scim: Scim) -> None:
    user = await scim.create_user("keep@example.com")
    r = await scim.patch(f"/Users/{user['id']}", Scim.ops({"op": "remove", "path": "active"}))
    assert r.status_code == 200 and "active" not in r.json()
    assert (await scim.get('/Users', params={"filter": 'active eq true and userName eq '
                                                       '"keep@example.com"'})
            ).json()["totalResults"] == 1
    back = await scim.patch(f"/Users/{user['id']}", Scim.ops(
        {"op": "add", "path": "active", "value": True}))
    assert back.json()["active"] is True
