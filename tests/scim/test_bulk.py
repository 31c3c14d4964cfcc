"""POST /Bulk: bulkId references, failOnErrors, one failing operation rolled back alone."""

from __future__ import annotations

import uuid

from tests.conftest import Tenant, audit_events
from tests.scim.conftest import GROUP_URN, USER_URN, Scim, assert_scim_error

BULK = "urn:ietf:params:scim:api:messages:2.0:BulkRequest"


def bulk(*ops: dict[str, object], fail_on_errors: int | None = None) -> dict[str, object]:
    body: dict[str, object] = {"schemas": [BULK], "Operations": list(ops)}
    if fail_on_errors is not None:
        body["failOnErrors"] = fail_on_errors
    return body


async def test_bulk_ids_link_new_users_into_a_new_group(scim: Scim, tenant: Tenant) -> None:
    r = await scim.post("/Bulk", bulk(
        # the group refers to users declared after it: they are created first
        {"method": "POST", "path": "/Groups", "bulkId": "g1", "data": {
            "schemas": [GROUP_URN], "displayName": "Bulk Team",
            "members": [{"value": "bulkId:u1"}, {"value": "bulkId:u2"}]}},
        {"method": "POST", "path": "/Users", "bulkId": "u1",
         "data": {"schemas": [USER_URN], "userName": "bulk1@example.com"}},
        {"method": "POST", "path": "/Users", "bulkId": "u2",
         "data": {"schemas": [USER_URN], "userName": "bulk2@example.com"}},
        {"method": "PATCH", "path": "/Users/bulkId:u2", "data": {
            "Operations": [{"op": "replace", "path": "title", "value": "Second"}]}}))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["schemas"] == ["urn:ietf:params:scim:api:messages:2.0:BulkResponse"]
    ops = body["Operations"]
    assert [(o["method"], o.get("bulkId"), o["status"]) for o in ops] == [
        ("POST", "u1", "201"), ("POST", "u2", "201"), ("POST", "g1", "201"),
        ("PATCH", None, "200")]
    user_ids = [o["location"].rsplit("/", 1)[-1] for o in ops[:2]]
    group = (await scim.get(ops[2]["location"].split("/scim/v2")[1])).json()
    assert sorted(m["value"] for m in group["members"]) == sorted(user_ids)
    assert (await scim.get(f"/Users/{user_ids[1]}")).json()["title"] == "Second"
    assert all(o["version"].startswith('W/"') for o in ops)
    actions = sorted(e["action"] for e in await audit_events(tenant))
    assert actions.count("user.provisioned") == 2 and "group.created" in actions


async def test_a_failing_operation_is_rolled_back_alone(scim: Scim, tenant: Tenant) -> None:
    existing = await scim.create_user("exists@example.com")
    r = await scim.post("/Bulk", bulk(
        {"method": "POST", "path": "/Users", "bulkId": "ok",
         "data": {"userName": "new@example.com"}},
        {"method": "POST", "path": "/Users", "bulkId": "dup",
         "data": {"userName": "EXISTS@example.com"}},
        {"method": "PATCH", "path": f"/Users/{existing['id']}", "data": {"Operations": [
            {"op": "replace", "path": "title", "value": "kept?"},
            {"op": "replace", "path": "active", "value": "bogus"}]}},
        {"method": "DELETE", "path": f"/Users/{uuid.uuid4()}"},
        {"method": "PUT", "path": f"/Users/{existing['id']}", "version": 'W/"stale"',
         "data": {"userName": "exists@example.com"}},
        {"method": "POST", "path": "/Groups", "bulkId": "g",
         "data": {"displayName": "G", "members": [{"value": "bulkId:dup"}]}},
        {"method": "POST", "path": "/Users", "bulkId": "also-ok",
         "data": {"userName": "new2@example.com"}}))
    assert r.status_code == 200
    ops = r.json()["Operations"]
    assert [o["status"] for o in ops] == ["201", "409", "400", "404", "412", "400", "201"]
    assert ops[1]["response"]["scimType"] == "uniqueness"
    assert ops[1]["response"]["schemas"] == ["urn:ietf:params:scim:api:messages:2.0:Error"]
    assert "title" not in (await scim.get(f"/Users/{existing['id']}")).json()
    names = {u["user_name"] for u in await tenant.sql("SELECT user_name FROM users")}
    assert {"new@example.com", "new2@example.com", "exists@example.com"} <= names
    assert not await tenant.sql("SELECT 1 FROM teams")


async def test_fail_on_errors_stops_the_run(scim: Scim, tenant: Tenant) -> None:
    r = await scim.post("/Bulk", bulk(
        {"method": "POST", "path": "/Users", "bulkId": "a", "data": {"userName": ""}},
        {"method": "POST", "path": "/Users", "bulkId": "b", "data": {"userName": ""}},
        {"method": "POST", "path": "/Users", "bulkId": "c", "data": {"userName": "late"}},
        fail_on_errors=2))
    assert [o["status"] for o in r.json()["Operations"]] == ["400", "400"]
    assert not await tenant.sql("SELECT 1 FROM users WHERE user_name = 'late'")


async def test_bad_bulk_requests(scim: Scim) -> None:
    assert_scim_error(await scim.post("/Bulk", {"schemas": [BULK], "Operations": []}), 400,
                      "invalidSyntax")
    too_many = bulk(*[{"method": "DELETE", "path": f"/Users/{i}"} for i in range(1001)])
    assert_scim_error(await scim.post("/Bulk", too_many), 413)
    r = await scim.post("/Bulk", bulk(
        {"method": "POST", "path": "/Users", "bulkId": "x",
         "data": {"userName": "x", "title": "bulkId:y"}},
        {"method": "POST", "path": "/Users", "bulkId": "y",
         "data": {"userName": "y", "title": "bulkId:x"}},
        {"method": "PATCH", "path": "/Users/bulkId:nope", "data": {"Operations": [
            {"op": "add", "path": "title", "value": "t"}]}}))
    statuses = sorted(o["status"] for o in r.json()["Operations"])
    assert statuses == ["400", "400", "409"]  # a cycle, and a bulkId nobody declares
    assert_scim_error(await scim.post("/Bulk", bulk({"method": "GET", "path": "/Users"})), 400)
    assert_scim_error(await scim.post("/Bulk", bulk(
        {"method": "POST", "path": "/Users", "data": {"userName": "z"}})), 400)
