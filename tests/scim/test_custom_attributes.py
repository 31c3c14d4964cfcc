"""Tenant-defined custom User attributes (docs/scim.md, "Custom attributes"): declared with
PUT /api/v1/settings/scim/schema, advertised in /Schemas and /ResourceTypes, written by
POST/PUT/PATCH (Okta's and Entra's shapes), type-checked, returned, projected, filtered, and
kept to their tenant."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
from scim2_tester import Status

from app.core.keyset import Params
from app.core.tx import own_tx
from app.scim.custom import CustomAttr, user_def
from app.scim.filter_syntax import parse_filter
from app.scim.repository.filters import where_sql
from app.scim.repository.search import user_target
from tests.conftest import LiveServer, Tenant, audit_events
from tests.scim.conftest import ENTERPRISE_URN, PATCH_URN, USER_URN, Scim, assert_scim_error
from tests.scim.test_conformance import run_tester

URL = "/api/v1/settings/scim/schema"
CUSTOM = "urn:drift:params:scim:schemas:extension:custom:2.0:User"
ATTRS = [
    {"name": "badge", "type": "string", "description": "Door badge"},
    {"name": "costCenterCode", "type": "string", "case_exact": True},
    {"name": "contractor", "type": "boolean"},
    {"name": "level", "type": "integer"},
    {"name": "startDate", "type": "dateTime"},
]


async def _declare(client: httpx.AsyncClient, tenant: Tenant, attrs: list[dict[str, Any]]
                   ) -> httpx.Response:
    return await client.put(URL, headers=tenant.headers, json={"attributes": attrs})


async def _find(scim: Scim, flt: str) -> list[str]:
    r = await scim.get("/Users", params={"filter": flt})
    assert r.status_code == 200, r.text
    return sorted(u["userName"] for u in r.json()["Resources"])


async def test_declare_and_read_the_schema(client: httpx.AsyncClient, tenant: Tenant) -> None:
    empty = await client.get(URL, headers=tenant.headers)
    assert empty.status_code == 200 and empty.json() == {"urn": CUSTOM, "attributes": []}
    r = await _declare(client, tenant, ATTRS)
    assert r.status_code == 200, r.text
    got = r.json()["attributes"]
    assert [(a["name"], a["type"], a["case_exact"], a["multi_valued"]) for a in got] == [
        ("badge", "string", False, False), ("costCenterCode", "string", True, False),
        ("contractor", "boolean", False, False), ("level", "integer", False, False),
        ("startDate", "dateTime", False, False)]
    assert (await client.get(URL, headers=tenant.headers)).json() == r.json()
    events = await audit_events(tenant, action="scim.schema_updated")
    assert len(events) == 1
    assert [a["name"] for a in events[0]["metadata"]["attributes"]][:2] == [
        "badge", "costCenterCode"]
    # a member may not read or change it
    member = await tenant.add_user("member")
    assert (await client.get(URL, headers=member.headers)).status_code == 403
    denied = await client.put(URL, headers=member.headers, json={"attributes": []})
    assert denied.status_code == 403 and denied.json()["code"] == "insufficient_role"


async def test_bad_declarations_are_refused_and_change_nothing(
        client: httpx.AsyncClient, tenant: Tenant) -> None:
    assert (await _declare(client, tenant, ATTRS[:1])).status_code == 200
    bad: list[tuple[list[dict[str, Any]], int, str]] = [
        ([{"name": "badge", "type": "string"}, {"name": "Badge", "type": "string"}], 400,
         "duplicate_scim_attribute"),
        ([{"name": "1badge", "type": "string"}], 422, "validation_error"),
        ([{"name": "cost center", "type": "string"}], 422, "validation_error"),
        ([{"name": "x" * 65, "type": "string"}], 422, "validation_error"),
        ([{"name": "photo", "type": "binary"}], 422, "validation_error"),
        ([{"name": "tags", "type": "string", "multi_valued": True}], 422, "validation_error"),
        ([{"name": f"a{i}", "type": "string"} for i in range(51)], 422, "validation_error"),
        ([{"name": "badge", "type": "integer"}], 409, "scim_attribute_type_changed"),
    ]
    for attrs, status, code in bad:
        r = await _declare(client, tenant, attrs)
        assert r.status_code == status, r.text
        assert r.json()["code"] == code, r.text
    got = (await client.get(URL, headers=tenant.headers)).json()["attributes"]
    assert [(a["name"], a["type"]) for a in got] == [("badge", "string")]
    assert len(await audit_events(tenant, action="scim.schema_updated")) == 1


async def test_discovery_lists_the_extension_only_when_declared(
        client: httpx.AsyncClient, tenant: Tenant, scim: Scim) -> None:
    plain = (await scim.get("/Schemas")).json()
    assert CUSTOM not in [s["id"] for s in plain["Resources"]]
    assert_scim_error(await scim.get(f"/Schemas/{CUSTOM}"), 404)
    rt = (await scim.get("/ResourceTypes/User")).json()
    assert [e["schema"] for e in rt["schemaExtensions"]] == [ENTERPRISE_URN]

    assert (await _declare(client, tenant, ATTRS)).status_code == 200
    listed = (await scim.get("/Schemas")).json()
    assert CUSTOM in [s["id"] for s in listed["Resources"]]
    assert listed["totalResults"] == len(plain["Resources"]) + 1
    one = await scim.get(f"/Schemas/{CUSTOM}")
    assert one.status_code == 200, one.text
    doc = one.json()
    assert doc["id"] == CUSTOM and doc["meta"]["location"].endswith(f"/Schemas/{CUSTOM}")
    by_name = {a["name"]: a for a in doc["attributes"]}
    assert list(by_name) == [a["name"] for a in ATTRS]
    assert by_name["badge"]["type"] == "string" and by_name["badge"]["caseExact"] is False
    assert by_name["badge"]["description"] == "Door badge"
    assert by_name["costCenterCode"]["caseExact"] is True
    assert by_name["level"]["type"] == "integer"
    assert by_name["startDate"]["multiValued"] is False
    rt = (await scim.get("/ResourceTypes/User")).json()
    assert rt["schemaExtensions"] == [{"schema": ENTERPRISE_URN, "required": False},
                                      {"schema": CUSTOM, "required": False}]


async def test_okta_style_create_put_and_filters(
        client: httpx.AsyncClient, tenant: Tenant, scim: Scim) -> None:
    assert (await _declare(client, tenant, ATTRS)).status_code == 200
    # Okta sends the extension object on create and a full PUT on profile pushes
    r = await scim.post("/Users", {
        "schemas": [USER_URN, CUSTOM], "userName": "ada@example.com",
        "name": {"givenName": "Ada", "familyName": "Lovelace"},
        "emails": [{"primary": True, "value": "ada@example.com", "type": "work"}],
        "active": True, "password": "secret", "groups": [],
        CUSTOM: {"Badge": "A1-North", "costCenterCode": "CC-7", "contractor": "true",
                 "level": "3", "startDate": "2026-03-01T09:00:00+01:00", "unknown": "x"}})
    assert r.status_code == 201, r.text
    ada = r.json()
    assert ada["schemas"] == [USER_URN, CUSTOM]
    assert ada[CUSTOM] == {"badge": "A1-North", "costCenterCode": "CC-7", "contractor": True,
                           "level": 3, "startDate": "2026-03-01T08:00:00Z"}
    got = await scim.get(f"/Users/{ada['id']}")
    assert got.json()[CUSTOM] == ada[CUSTOM]
    await scim.create_user("bob@example.com", **{CUSTOM: {"badge": "B2", "level": 5,
                                                          "costCenterCode": "cc-7"}})
    await scim.create_user("cy@example.com")

    assert await _find(scim, f'{CUSTOM}:badge eq "a1-north"') == ["ada@example.com"]
    assert await _find(scim, f'{CUSTOM}:BADGE co "north"') == ["ada@example.com"]
    assert await _find(scim, f'{CUSTOM}:badge sw "b"') == ["bob@example.com"]
    assert await _find(scim, f'{CUSTOM}:costCenterCode eq "CC-7"') == ["ada@example.com"]
    assert await _find(scim, f'{CUSTOM}:costCenterCode eq "cc-7"') == ["bob@example.com"]
    assert await _find(scim, f'{CUSTOM}:contractor eq true') == ["ada@example.com"]
    assert await _find(scim, f'{CUSTOM}:level eq 5') == ["bob@example.com"]
    assert await _find(scim, f'{CUSTOM}:startDate eq "2026-03-01T08:00:00Z"') == [
        "ada@example.com"]
    assert await _find(scim, f'{CUSTOM}:level pr') == ["ada@example.com", "bob@example.com"]
    assert await _find(scim, f'not ({CUSTOM}:level pr) and userName co "example.com"') == [
        "cy@example.com"]
    assert await _find(scim, f'{CUSTOM}:badge eq "B2" or userName eq "cy@example.com"') == [
        "bob@example.com", "cy@example.com"]
    # the same through POST /Users/.search
    search = await scim.post("/Users/.search", {
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],
        "filter": f'{CUSTOM}:badge eq "B2"'})
    assert [u["userName"] for u in search.json()["Resources"]] == ["bob@example.com"]

    # Okta's profile push: a full PUT (carrying id and meta); a changed value is found anew
    put = await scim.put(f"/Users/{ada['id']}", {**ada, CUSTOM: {"badge": "Z9", "level": 4}})
    assert put.status_code == 200, put.text
    assert put.json()[CUSTOM] == {"badge": "Z9", "level": 4}
    assert await _find(scim, f'{CUSTOM}:badge eq "A1-North"') == []
    assert await _find(scim, f'{CUSTOM}:badge eq "z9"') == ["ada@example.com"]
    assert await _find(scim, f'{CUSTOM}:contractor eq true') == []


async def test_entra_style_patch_paths_and_projection(
        client: httpx.AsyncClient, tenant: Tenant, scim: Scim) -> None:
    assert (await _declare(client, tenant, ATTRS)).status_code == 200
    user = await scim.create_user("eve@example.com")
    assert user["schemas"] == [USER_URN] and CUSTOM not in user
    uid = user["id"]
    # Entra: Add/Replace with URN-qualified paths, booleans and numbers as strings
    r = await scim.patch(f"/Users/{uid}", {"schemas": [PATCH_URN], "Operations": [
        {"op": "Add", "path": f"{CUSTOM}:costCenterCode", "value": "CC-1"},
        {"op": "Replace", "path": f"{CUSTOM}:contractor", "value": "False"},
        {"op": "Add", "path": f"{CUSTOM}:level", "value": "7"}]})
    assert r.status_code == 200, r.text
    assert r.json()["schemas"] == [USER_URN, CUSTOM]
    assert r.json()[CUSTOM] == {"costCenterCode": "CC-1", "contractor": False, "level": 7}
    # the path-less form with the extension object (Okta, Entra)
    r = await scim.patch(f"/Users/{uid}", {"schemas": [PATCH_URN], "Operations": [
        {"op": "replace", "value": {CUSTOM: {"badge": "E5"}, "title": "Engineer"}}]})
    assert r.status_code == 200, r.text
    assert r.json()[CUSTOM]["badge"] == "E5" and r.json()[CUSTOM]["level"] == 7
    assert await _find(scim, f'{CUSTOM}:badge eq "e5"') == ["eve@example.com"]
    assert await _find(scim, f'{CUSTOM}:contractor eq false') == ["eve@example.com"]
    # remove one value
    r = await scim.patch(f"/Users/{uid}", {"schemas": [PATCH_URN], "Operations": [
        {"op": "remove", "path": f"{CUSTOM}:badge"}]})
    assert r.status_code == 200 and "badge" not in r.json()[CUSTOM]
    assert await _find(scim, f'{CUSTOM}:badge pr') == []
    # projections: attributes / excludedAttributes name the custom attributes
    only = await scim.get(f"/Users/{uid}", params={"attributes": f"{CUSTOM}:level"})
    assert only.status_code == 200, only.text
    assert only.json()[CUSTOM] == {"level": 7} and "title" not in only.json()
    without = await scim.get(f"/Users/{uid}", params={"excludedAttributes": f"{CUSTOM}:level"})
    assert "level" not in without.json()[CUSTOM] and without.json()["title"] == "Engineer"
    listed = await scim.get("/Users", params={"filter": f'{CUSTOM}:level eq 7',
                                              "attributes": "userName"})
    assert listed.json()["Resources"][0].keys() == {"schemas", "id", "userName"}


async def test_an_unqualified_custom_attribute_on_create_is_stored(
        client: httpx.AsyncClient, tenant: Tenant, scim: Scim) -> None:
    """`badge` at the top level of a create body is the tenant's custom attribute (the
    standard User has no attribute of that name), as it is in a PUT or PATCH."""
    assert (await _declare(client, tenant, ATTRS)).status_code == 200
    dee = await scim.post("/Users", {"schemas": [USER_URN], "userName": "dee@example.com",
                                     "badge": "D4"})
    assert dee.status_code == 201, dee.text
    assert dee.json()[CUSTOM] == {"badge": "D4"}
    assert await _find(scim, f'{CUSTOM}:badge eq "d4"') == ["dee@example.com"]


async def test_type_errors_and_required(client: httpx.AsyncClient, tenant: Tenant,
                                        scim: Scim) -> None:
    attrs = [*ATTRS, {"name": "employeeType", "type": "string", "required": True}]
    assert (await _declare(client, tenant, attrs)).status_code == 200
    base = {"schemas": [USER_URN], "userName": "t@example.com"}
    for values in ({"level": "three"}, {"level": True}, {"contractor": "maybe"},
                   {"startDate": "next tuesday"}, {"badge": {"a": 1}}, {"badge": "x" * 501},
                   {"level": 2**63}):
        r = await scim.post("/Users", {**base, CUSTOM: {"employeeType": "staff", **values}})
        assert_scim_error(r, 400, "invalidValue")
    missing = await scim.post("/Users", {**base, CUSTOM: {"badge": "A"}})
    assert_scim_error(missing, 400, "invalidValue")
    assert "employeeType" in missing.json()["detail"]
    # a body that names no custom attribute at all is checked against the declaration too
    bare = await scim.post("/Users", base)
    assert_scim_error(bare, 400, "invalidValue")
    assert "employeeType" in bare.json()["detail"]
    unqualified = await scim.post("/Users", {**base, "badge": "B"})  # not the required one
    assert_scim_error(unqualified, 400, "invalidValue")
    assert (await scim.get("/Users", params={"filter": 'userName eq "t@example.com"'})
            ).json()["totalResults"] == 0
    ok = await scim.post("/Users", {**base, CUSTOM: {"employeeType": "staff"}})
    assert ok.status_code == 201, ok.text
    uid = ok.json()["id"]
    # a PATCH cannot remove a required attribute; a wrong type by PATCH is refused too
    r = await scim.patch(f"/Users/{uid}", scim.ops({"op": "remove",
                                                    "path": f"{CUSTOM}:employeeType"}))
    assert_scim_error(r, 400, "invalidValue")
    r = await scim.patch(f"/Users/{uid}", scim.ops({"op": "replace", "path": f"{CUSTOM}:level",
                                                    "value": "high"}))
    assert_scim_error(r, 400, "invalidValue")
    # filters: other operators and mismatched values are 400 invalidFilter
    for flt in (f'{CUSTOM}:badge ne "A"', f'{CUSTOM}:badge ew "A"', f'{CUSTOM}:level gt 3',
                f'{CUSTOM}:level eq "3"', f'{CUSTOM}:contractor eq "yes"',
                f'{CUSTOM}:level co "3"', f'{CUSTOM}:startDate eq "soon"',
                f'{CUSTOM}:nothing eq "x"'):
        assert_scim_error(await scim.get("/Users", params={"filter": flt}), 400,
                          "invalidFilter")


async def test_a_tenant_without_custom_attributes_ignores_them(scim: Scim) -> None:
    r = await scim.post("/Users", {"schemas": [USER_URN, CUSTOM], "userName": "n@example.com",
                                   CUSTOM: {"badge": "A1"}})
    assert r.status_code == 201, r.text
    assert r.json()["schemas"] == [USER_URN] and CUSTOM not in r.json()
    assert_scim_error(await scim.get("/Users", params={"filter": f'{CUSTOM}:badge eq "A1"'}),
                      400, "invalidFilter")


async def test_removing_an_attribute_deletes_its_values(
        client: httpx.AsyncClient, tenant: Tenant, scim: Scim) -> None:
    assert (await _declare(client, tenant, ATTRS)).status_code == 200
    user = await scim.create_user("r@example.com", **{CUSTOM: {"badge": "A1", "level": 2}})
    kept = [a for a in ATTRS if a["name"] != "badge"]
    assert (await _declare(client, tenant, kept)).status_code == 200
    got = (await scim.get(f"/Users/{user['id']}")).json()
    assert got[CUSTOM] == {"level": 2}
    assert await _find(scim, f'{CUSTOM}:level eq 2') == ["r@example.com"]
    event = (await audit_events(tenant, action="scim.schema_updated"))[-1]
    assert event["metadata"]["removed"] == ["badge"]
    assert event["metadata"]["users_values_deleted"] == 1
    # declared again: the old value does not come back
    assert (await _declare(client, tenant, ATTRS)).status_code == 200
    assert "badge" not in (await scim.get(f"/Users/{user['id']}")).json()[CUSTOM]
    # caseExact changed: filters compare the new way at once
    await scim.patch(f"/Users/{user['id']}", scim.ops(
        {"op": "add", "path": f"{CUSTOM}:badge", "value": "MiXed"}))
    assert await _find(scim, f'{CUSTOM}:badge eq "mixed"') == ["r@example.com"]
    exact = [{**a, "case_exact": True} if a["name"] == "badge" else a for a in ATTRS]
    assert (await _declare(client, tenant, exact)).status_code == 200
    assert await _find(scim, f'{CUSTOM}:badge eq "mixed"') == []
    assert await _find(scim, f'{CUSTOM}:badge eq "MiXed"') == ["r@example.com"]
    # nothing declared: nothing advertised, the values go, the user shows no extension
    assert (await _declare(client, tenant, [])).status_code == 200
    got = (await scim.get(f"/Users/{user['id']}")).json()
    assert got["schemas"] == [USER_URN] and CUSTOM not in got
    assert_scim_error(await scim.get(f"/Schemas/{CUSTOM}"), 404)


async def test_tenant_isolation(client: httpx.AsyncClient, tenant: Tenant,
                                other_tenant: Tenant, scim: Scim, other_scim: Scim) -> None:
    assert (await _declare(client, tenant, ATTRS)).status_code == 200
    a = await scim.create_user("a@example.com", **{CUSTOM: {"badge": "SHARED"}})
    # tenant B sees neither A's schema nor its values
    assert (await client.get(URL, headers=other_tenant.headers)).json()["attributes"] == []
    assert_scim_error(await other_scim.get(f"/Schemas/{CUSTOM}"), 404)
    assert_scim_error(await other_scim.get(f"/Users/{a['id']}"), 404)
    assert_scim_error(await other_scim.patch(f"/Users/{a['id']}", other_scim.ops(
        {"op": "replace", "path": f"{CUSTOM}:badge", "value": "x"})), 404)
    assert_scim_error(await other_scim.get("/Users", params={
        "filter": f'{CUSTOM}:badge eq "SHARED"'}), 400, "invalidFilter")
    # B declares the same name: still only its own users match
    assert (await _declare(client, other_tenant, ATTRS[:1])).status_code == 200
    await other_scim.create_user("b@example.com", **{CUSTOM: {"badge": "SHARED"}})
    assert await _find(other_scim, f'{CUSTOM}:badge eq "shared"') == ["b@example.com"]
    assert await _find(scim, f'{CUSTOM}:badge eq "shared"') == ["a@example.com"]
    # B's schema change leaves A's values alone
    assert (await _declare(client, other_tenant, [])).status_code == 200
    assert (await scim.get(f"/Users/{a['id']}")).json()[CUSTOM] == {"badge": "SHARED"}


async def test_eq_uses_the_index_under_rls(client: httpx.AsyncClient, tenant: Tenant,
                                           scim: Scim) -> None:
    """The SQL a custom `eq` filter becomes is served by scim_custom_values_lookup under RLS
    (with sequential scans off, a plan without that index would mean none could serve it)."""
    assert (await _declare(client, tenant, ATTRS)).status_code == 200
    await scim.create_user("i@example.com", **{CUSTOM: {"badge": "A1"}})
    params = Params([tenant.id])
    where = where_sql(parse_filter(f'{CUSTOM}:badge eq "a1"'),
                      user_target(False, user_def((CustomAttr("badge", "string"),))), params)
    async with own_tx(tenant.rt.db, tenant.id) as tx:
        await tx.execute("SET LOCAL enable_seqscan = off")
        sql = f"SELECT u.id FROM users u WHERE u.tenant_id = $1 AND {where}"
        plan = "\n".join(r[0] for r in await tx.fetch(f"EXPLAIN {sql}", *params.values))
        found = await tx.fetch(sql, *params.values)
        # the lookup by value alone (what a large tenant's plan starts from)
        lookup = "\n".join(r[0] for r in await tx.fetch(
            "EXPLAIN SELECT user_id FROM scim_custom_values WHERE name_key = $1"
            " AND value_key = lower($2)", "badge", "A1"))
    assert "Seq Scan" not in plan, plan
    assert "value_key" in plan and len(found) == 1
    assert "scim_custom_values_lookup" in lookup and "Seq Scan" not in lookup, lookup


async def test_bulk_root_search_and_sorting(client: httpx.AsyncClient, tenant: Tenant,
                                            scim: Scim) -> None:
    assert (await _declare(client, tenant, ATTRS)).status_code == 200
    r = await scim.post("/Bulk", {
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"], "Operations": [
            {"method": "POST", "path": "/Users", "bulkId": "a",
             "data": {"userName": "k1@example.com", CUSTOM: {"level": 9}}},
            {"method": "POST", "path": "/Users", "bulkId": "b",
             "data": {"userName": "k2@example.com", CUSTOM: {"level": 1}}},
            {"method": "POST", "path": "/Users", "bulkId": "c",
             "data": {"userName": "k3@example.com", CUSTOM: {"level": "nine"}}}]})
    assert r.status_code == 200, r.text
    statuses = [op["status"] for op in r.json()["Operations"]]
    assert statuses == ["201", "201", "400"]
    assert await _find(scim, f'{CUSTOM}:level eq 9') == ["k1@example.com"]
    # POST /.search at the root (Users and Groups together)
    root = await scim.post("/.search", {
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],
        "filter": f"{CUSTOM}:level pr", "sortBy": f"{CUSTOM}:level",
        "attributes": ["userName", f"{CUSTOM}:level"]})
    assert root.status_code == 200, root.text
    assert [(u["userName"], u[CUSTOM]["level"]) for u in root.json()["Resources"]] == [
        ("k2@example.com", 1), ("k1@example.com", 9)]
    desc = await scim.get("/Users", params={"filter": f"{CUSTOM}:level pr",
                                            "sortBy": f"{CUSTOM}:level",
                                            "sortOrder": "descending"})
    assert [u["userName"] for u in desc.json()["Resources"]] == ["k1@example.com",
                                                                "k2@example.com"]


async def test_scim2_tester_passes_with_custom_attributes(
        client: httpx.AsyncClient, live_server: LiveServer, tenant: Tenant, scim: Scim) -> None:
    """The third-party suite reads the tenant's /Schemas, so it generates, writes, reads and
    patches the custom attributes too: every check must still pass. (scim2-tester fills a
    dateTime attribute with a UUID string, which its own models then refuse client-side, so the
    dateTime attribute is left out here; the tests above cover it.)"""
    attrs = [a for a in ATTRS if a["type"] != "dateTime"]
    assert (await _declare(client, tenant, attrs)).status_code == 200
    results = await asyncio.to_thread(run_tester, f"{live_server.url}/scim/v2", scim.token)
    failed = [f"{r.title} [{r.resource_type}]: {r.reason}" for r in results
              if r.status in (Status.ERROR, Status.CRITICAL)]
    skipped = [r.title for r in results if r.status == Status.SKIPPED]
    assert not failed, "\n".join(failed)
    assert not skipped, skipped
    assert len(results) > 100
    # the suite did write custom values (the users it made are deleted again, rows kept)
    written = await tenant.sql("SELECT count(*) AS n FROM users WHERE scim_resource ? $1",
                               CUSTOM)
    assert written[0]["n"] > 0
