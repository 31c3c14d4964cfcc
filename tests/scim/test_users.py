"""SCIM Users are the tenant's users: provisioning, updates, deprovisioning and deletion."""

from __future__ import annotations

from typing import Any

import httpx

from tests.conftest import Tenant, assert_problem, audit_events, bearer
from tests.scim.conftest import ENTERPRISE_URN, USER_URN, MakeScim, Scim, assert_scim_error

PASSWORD = "scim-user-password-1"


async def test_create_makes_a_tenant_user_with_the_default_role(scim: Scim,
                                                                tenant: Tenant) -> None:
    r = await scim.post("/Users", {
        "schemas": [USER_URN, ENTERPRISE_URN], "userName": "Ada.Lovelace@Example.com",
        "externalId": "00u1abcd", "name": {"givenName": "Ada", "familyName": "Lovelace"},
        "emails": [{"value": "ada@example.com", "type": "work", "primary": True}],
        ENTERPRISE_URN: {"department": "Analytical Engines", "employeeNumber": 1815},
        "active": True})
    assert r.status_code == 201, r.text
    assert r.headers["content-type"] == "application/scim+json"
    user = r.json()
    assert r.headers["location"] == user["meta"]["location"] \
        == f"https://drift.test/scim/v2/Users/{user['id']}"
    assert r.headers["etag"] == user["meta"]["version"] and user["meta"]["version"].startswith(
        'W/"')
    assert user["meta"]["resourceType"] == "User"
    assert user["meta"]["created"] == user["meta"]["lastModified"]
    assert user["schemas"] == [USER_URN, ENTERPRISE_URN]
    assert user[ENTERPRISE_URN] == {"department": "Analytical Engines", "employeeNumber": "1815"}
    row = (await tenant.sql("SELECT * FROM users WHERE id = $1", _uuid(user["id"])))[0]
    assert row["user_name"] == "Ada.Lovelace@Example.com" and row["role"] == "member"
    assert row["email"] == "ada@example.com" and row["display_name"] == "Ada Lovelace"
    assert row["active"] and row["external_id"] == "00u1abcd"
    event = (await audit_events(tenant, action="user.provisioned"))[0]
    assert event["actor_type"] == "scim" and str(event["actor_id"]) == scim.token_id
    assert event["resource_id"] == user["id"]
    outbox = await tenant.sql("SELECT type, data FROM outbox_events")
    assert [(o["type"], o["data"]["user_id"]) for o in outbox] == [
        ("user.provisioned", user["id"])]


def _uuid(value: str) -> Any:
    import uuid
    return uuid.UUID(value)


async def test_values_are_stored_exactly_as_sent_and_names_are_case_insensitive(
        scim: Scim, tenant: Tenant) -> None:
    body = {"SCHEMAS": [USER_URN], "USERNAME": "  MiXeD Case ünïcode  ",
            "Name": {"GIVENNAME": "Zoë", "familyname": "O'Brien-Smith", "unknownPart": "x"},
            "DisplayName": "Zoë  O'Brien", "title": "Dr. Eng.", "favouriteColour": "teal",
            "phoneNumbers": [{"value": "+1 (555) 010-0000", "Type": "Mobile"}],
            "password": "hunter2-never-stored"}
    created = (await scim.post("/Users", body)).json()
    got = (await scim.get(f"/Users/{created['id']}")).json()
    for user in (created, got):
        assert user["userName"] == "  MiXeD Case ünïcode  "
        assert user["name"] == {"givenName": "Zoë", "familyName": "O'Brien-Smith"}
        assert user["displayName"] == "Zoë  O'Brien" and user["title"] == "Dr. Eng."
        assert user["phoneNumbers"] == [{"value": "+1 (555) 010-0000", "type": "Mobile"}]
        assert "favouriteColour" not in user and "password" not in user
    stored = await tenant.sql("SELECT scim_resource::text AS doc, password_hash FROM users"
                              " WHERE id = $1", _uuid(created["id"]))
    assert "hunter2" not in stored[0]["doc"] and stored[0]["password_hash"] is None


async def test_user_name_is_unique_case_insensitively(scim: Scim, tenant: Tenant) -> None:
    await scim.create_user("grace@example.com")
    dup = await scim.post("/Users", {"schemas": [USER_URN], "userName": "GRACE@example.com"})
    assert_scim_error(dup, 409, "uniqueness")
    # the tenant's own (non-SCIM) users count too
    owner = await scim.post("/Users", {"schemas": [USER_URN], "userName": tenant.owner.email})
    assert_scim_error(owner, 409, "uniqueness")
    assert len(await tenant.sql("SELECT 1 FROM users")) == 2
    assert len(await audit_events(tenant, action="user.provisioned")) == 1


async def test_required_and_malformed_input_is_refused(scim: Scim, tenant: Tenant) -> None:
    for body, kind in [({"schemas": [USER_URN]}, "invalidValue"),
                       ({"userName": ""}, "invalidValue"),
                       ({"userName": "x", "active": "maybe"}, "invalidValue"),
                       ({"userName": "x", "emails": "not-a-list-of-objects"}, "invalidValue"),
                       ({"userName": "x", "emails": [{"value": "a@x", "primary": True},
                                                     {"value": "b@x", "primary": True}]},
                        "invalidValue"),
                       ({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
                         "userName": "x"}, "invalidValue"),
                       ({"userName": "x" * 321}, "invalidValue"),
                       ({"schemas": None, "userName": "x"}, "invalidSyntax"),
                       ([{"userName": "x"}], "invalidSyntax")]:
        assert_scim_error(await scim.post("/Users", body), 400, kind)
    assert len(await tenant.sql("SELECT 1 FROM users")) == 1


async def test_put_replaces_every_writable_attribute(scim: Scim) -> None:
    user = await scim.create_user("put@example.com", title="Engineer", nickName="Putty",
                                  name={"givenName": "P", "familyName": "Ut"})
    r = await scim.put(f"/Users/{user['id']}", {
        "schemas": [USER_URN], "id": "ignored", "userName": "put@example.com",
        "name": {"givenName": "Pat"}, "meta": {"resourceType": "ignored"},
        "groups": [{"value": "ignored"}]})
    assert r.status_code == 200, r.text
    replaced = r.json()
    assert replaced["id"] == user["id"] and replaced["name"] == {"givenName": "Pat"}
    assert "title" not in replaced and "nickName" not in replaced and "groups" not in replaced
    assert replaced["active"] is True  # not sent: left as it was
    assert replaced["meta"]["version"] != user["meta"]["version"]
    assert replaced["meta"]["created"] == user["meta"]["created"]


async def test_deactivation_revokes_every_credential_at_once(
        scim: Scim, tenant: Tenant, client: httpx.AsyncClient) -> None:
    """Seed plan: deactivate -> access revoked, keys revoked, sessions ended, audit entry."""
    person = await tenant.add_user("admin", password=PASSWORD, email="leaver@example.com")
    login = await client.post("/api/v1/auth/login", json={
        "tenant": tenant.slug, "email": person.email, "password": PASSWORD})
    tokens = login.json()
    assert (await client.get("/api/v1/me", headers=person.headers)).status_code == 200
    assert (await client.get("/api/v1/me", headers=bearer(tokens["access_token"]))
            ).status_code == 200

    found = (await scim.get('/Users?filter=userName eq "LEAVER@example.com"')).json()
    assert found["totalResults"] == 1
    uid = found["Resources"][0]["id"]
    r = await scim.patch(f"/Users/{uid}", Scim.ops(
        {"op": "replace", "value": {"active": False}}))
    assert r.status_code == 200 and r.json()["active"] is False

    # the very next request with any old credential is refused
    for headers, code in ((person.headers, "credential_revoked"),
                          (bearer(tokens["access_token"]), "session_revoked")):
        assert_problem(await client.get("/api/v1/me", headers=headers), 401, code)
    refresh = await client.post("/api/v1/auth/refresh",
                                json={"refresh_token": tokens["refresh_token"]})
    assert_problem(refresh, 401, "invalid_refresh_token")
    row = (await tenant.sql("SELECT active, deprovisioned_at FROM users WHERE id = $1",
                            person.id))[0]
    assert row["active"] is False and row["deprovisioned_at"] is not None
    assert not await tenant.sql("SELECT 1 FROM api_keys WHERE user_id = $1"
                                " AND revoked_at IS NULL", person.id)
    assert not await tenant.sql("SELECT 1 FROM sessions WHERE user_id = $1"
                                " AND revoked_at IS NULL", person.id)
    event = (await audit_events(tenant, action="user.deprovisioned"))[0]
    assert event["resource_id"] == uid and event["actor_type"] == "scim"
    assert event["metadata"]["api_keys_revoked"] == 1
    assert event["metadata"]["sessions_revoked"] == 1
    outbox = await tenant.sql("SELECT data FROM outbox_events WHERE type = 'user.deprovisioned'")
    assert [o["data"]["user_id"] for o in outbox] == [uid]
    # still visible over SCIM, inactive, and the data is kept
    got = (await scim.get(f"/Users/{uid}")).json()
    assert got["active"] is False and got["userName"] == person.email


async def test_reactivation_keeps_the_same_user(scim: Scim, tenant: Tenant) -> None:
    user = await scim.create_user("back@example.com", title="Returner",
                                  emails=[{"value": "back@example.com", "primary": True}])
    off = await scim.put(f"/Users/{user['id']}", {**_writable(user), "active": False})
    assert off.status_code == 200 and off.json()["active"] is False
    on = await scim.patch(f"/Users/{user['id']}", Scim.ops(
        {"op": "Replace", "path": "active", "value": "True"}))
    assert on.status_code == 200
    back = on.json()
    assert back["id"] == user["id"] and back["active"] is True
    assert back["title"] == "Returner" and back["emails"] == user["emails"]
    actions = [e["action"] for e in await audit_events(tenant, resource_id=user["id"])]
    assert actions == ["user.provisioned", "user.deprovisioned", "user.reactivated"]


def _writable(user: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in user.items() if k not in ("id", "meta", "groups")}


async def test_delete_hides_the_user_and_keeps_the_row(scim: Scim, tenant: Tenant,
                                                       client: httpx.AsyncClient) -> None:
    person = await tenant.add_user("member", email="gone@example.com")
    uid = (await scim.get('/Users?filter=userName eq "gone@example.com"')
           ).json()["Resources"][0]["id"]
    g = await scim.create_group("Leavers", [uid])
    assert (await scim.delete(f"/Users/{uid}")).status_code == 204
    assert_scim_error(await scim.get(f"/Users/{uid}"), 404)
    assert_scim_error(await scim.delete(f"/Users/{uid}"), 404)
    assert_scim_error(await scim.patch(f"/Users/{uid}", Scim.ops(
        {"op": "replace", "path": "active", "value": True})), 404)
    listed = (await scim.get('/Users?filter=userName eq "gone@example.com"')).json()
    assert listed["totalResults"] == 0
    after = (await scim.get(f"/Groups/{g['id']}")).json()
    assert "members" not in after and after["meta"]["version"] != g["meta"]["version"]
    # the row and its history stay; the credentials do not
    row = (await tenant.sql("SELECT active, scim_deleted_at FROM users WHERE id = $1",
                            person.id))[0]
    assert row["active"] is False and row["scim_deleted_at"] is not None
    assert_problem(await client.get("/api/v1/me", headers=person.headers),
                   401, "credential_revoked")
    actions = [e["action"] for e in await audit_events(tenant, resource_id=uid)]
    assert actions == ["user.deprovisioned", "user.deleted"]
    # the identity provider may create the person again: a new user
    again = await scim.create_user("gone@example.com",
                                   emails=[{"value": "gone@example.com", "primary": True}])
    assert again["id"] != uid


async def test_the_owner_is_never_deactivated_or_deleted(scim: Scim, tenant: Tenant,
                                                         client: httpx.AsyncClient) -> None:
    owner_id = str(tenant.owner.id)
    r = await scim.patch(f"/Users/{owner_id}", Scim.ops(
        {"op": "replace", "path": "title", "value": "Boss"},
        {"op": "replace", "path": "active", "value": False}))
    assert_scim_error(r, 400, "mutability")
    assert_scim_error(await scim.delete(f"/Users/{owner_id}"), 400, "mutability")
    got = (await scim.get(f"/Users/{owner_id}")).json()
    assert got["active"] is True and "title" not in got  # nothing of the refused PATCH stuck
    assert (await client.get("/api/v1/me", headers=tenant.headers)).status_code == 200
    assert not await audit_events(tenant, action="user.updated")


async def test_seat_limit_refuses_creation_and_reactivation(make_tenant: Any,
                                                            make_scim: MakeScim) -> None:
    t = await make_tenant(seat_limit=2)
    scim = await make_scim(t)
    first = await scim.create_user("one@example.com")
    r = await scim.post("/Users", {"userName": "two@example.com"})
    assert_scim_error(r, 402)
    assert "seat limit" in r.json()["detail"]
    # an inactive user takes no seat
    await scim.create_user("parked@example.com", active=False)
    await scim.patch(f"/Users/{first['id']}", Scim.ops(
        {"op": "replace", "path": "active", "value": False}))
    users = await t.sql("SELECT user_name FROM users WHERE active ORDER BY user_name")
    assert [u["user_name"] for u in users] == [t.owner.email]
    parked = (await scim.get('/Users?filter=userName eq "parked@example.com"')
              ).json()["Resources"][0]
    assert (await scim.patch(f"/Users/{parked['id']}", Scim.ops(
        {"op": "replace", "path": "active", "value": True}))).status_code == 200
    refused = await scim.patch(f"/Users/{first['id']}", Scim.ops(
        {"op": "replace", "path": "active", "value": True},
        {"op": "replace", "path": "title", "value": "changed"}))
    assert_scim_error(refused, 402)
    unchanged = (await scim.get(f"/Users/{first['id']}")).json()
    assert unchanged["active"] is False and "title" not in unchanged


async def test_email_is_the_drift_identity_and_must_stay_unique(scim: Scim,
                                                                tenant: Tenant) -> None:
    await tenant.add_user("member", email="taken@example.com")
    r = await scim.post("/Users", {"userName": "someone-else", "emails": [
        {"value": "TAKEN@example.com", "type": "work"}]})
    assert_scim_error(r, 409, "uniqueness")
    user = await scim.create_user("home-first", emails=[
        {"value": "home@example.com", "type": "home"},
        {"value": "work@example.com", "type": "work"}])
    row = (await tenant.sql("SELECT email FROM users WHERE id = $1", _uuid(user["id"])))[0]
    assert row["email"] == "work@example.com"  # no primary: the first work address


async def test_me_is_not_implemented(scim: Scim) -> None:
    for method in ("GET", "POST", "PUT", "PATCH", "DELETE"):
        r = await scim.request(method, "/Me", json={} if method in ("POST", "PUT", "PATCH")
                               else None)
        assert_scim_error(r, 501)


async def test_concurrent_creations_never_exceed_the_seat_limit(make_tenant: Any,
                                                                make_scim: MakeScim) -> None:
    import asyncio

    t = await make_tenant(seat_limit=3)  # the owner holds one seat
    scim = await make_scim(t)
    results = await asyncio.gather(*[scim.post("/Users", {"userName": f"race{i}@example.com"})
                                     for i in range(6)])
    assert sorted(r.status_code for r in results) == [201, 201, 402, 402, 402, 402]
    assert len(await t.sql("SELECT 1 FROM users WHERE active")) == 3
